/**
 * The headers the Dataverse proxy lets through, spelled as clients and Dataverse send them. The
 * proxy's filters (request.ts) and the CORS configuration (shared/http/cors.ts: the CDK construct and
 * the local server) are all built from these lists, so what a browser may send or read is exactly
 * what the proxy forwards or returns.
 */

/** Impersonation (Microsoft: "Impersonate another user using the Web API"); no dot, unlike MSCRM.*. */
export const IMPERSONATION_HEADERS = ['MSCRMCallerID', 'CallerObjectId'] as const;

/** File columns uploaded and downloaded in chunks (Microsoft: "Use file column data"). */
export const FILE_TRANSFER_REQUEST_HEADERS = [
  'x-ms-transfer-mode',
  'x-ms-file-name',
  'Content-Range',
  'Range',
] as const;

/** Request headers forwarded by name (never Cookie, Authorization, Host or hop-by-hop headers). */
export const FORWARDED_REQUEST_HEADERS = [
  'Accept',
  'Accept-Language',
  'Content-Type',
  'OData-MaxVersion',
  'OData-Version',
  'Prefer',
  'If-Match',
  'If-None-Match',
  'Consistency',
  ...IMPERSONATION_HEADERS,
  ...FILE_TRANSFER_REQUEST_HEADERS,
] as const;

/** Request headers forwarded by prefix: Dataverse's optional behaviours (`MSCRM.SuppressDuplicateDetection`, …). */
export const FORWARDED_REQUEST_PREFIXES = ['MSCRM.'] as const;

/**
 * The prefixed request headers named for CORS: a credentialed CORS request cannot use a `*` wildcard,
 * so browsers can send only these (other clients may send any `MSCRM.*`).
 */
export const NAMED_PREFIXED_REQUEST_HEADERS = [
  'MSCRM.SuppressDuplicateDetection',
  'MSCRM.BypassCustomPluginExecution',
  'MSCRM.BypassBusinessLogicExecution',
  'MSCRM.SolutionUniqueName',
  'MSCRM.MergeLabels',
] as const;

/** Response headers returned by name: metadata, file downloads, and the request ids Microsoft support asks for. */
export const RETURNED_RESPONSE_HEADERS = [
  'Content-Type',
  'Content-Disposition',
  'ETag',
  'Location',
  'Preference-Applied',
  'Retry-After',
  'x-ms-chunk-size',
  'x-ms-file-name',
  'x-ms-file-size',
  'mimetype',
  'x-ms-service-request-id',
  'REQ_ID',
] as const;

/** Response headers returned by prefix. */
export const RETURNED_RESPONSE_PREFIXES = ['OData-', 'x-ms-ratelimit-'] as const;

/** The prefixed response headers named for CORS (`Access-Control-Expose-Headers` takes no wildcard with credentials). */
export const NAMED_PREFIXED_RESPONSE_HEADERS = [
  'OData-EntityId',
  'OData-Version',
  'x-ms-ratelimit-burst-remaining-xrm-requests',
  'x-ms-ratelimit-time-remaining-xrm-requests',
] as const;
