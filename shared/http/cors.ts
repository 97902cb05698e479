import {
  FORWARDED_REQUEST_HEADERS,
  NAMED_PREFIXED_REQUEST_HEADERS,
  NAMED_PREFIXED_RESPONSE_HEADERS,
  RETURNED_RESPONSE_HEADERS,
} from '../dataverse/headers.ts';
import { CORRELATION_ID_HEADER } from '../observability/correlation.ts';

/**
 * The one CORS policy, applied by API Gateway in AWS (infra/construct.ts) and by the local server:
 * credentialed requests from the allowed return URLs' origins only.
 */

/** Headers the service itself reads: the CSRF marker, bearer auth and the managed connection's Connection-Id. */
const SERVICE_REQUEST_HEADERS = ['X-CSRF', 'Authorization', 'Connection-Id'] as const;

/** Response headers a browser may read without being told (Fetch: CORS-safelisted response-header names). */
const SAFELISTED_RESPONSE_HEADERS = new Set([
  'cache-control',
  'content-language',
  'content-length',
  'content-type',
  'expires',
  'last-modified',
  'pragma',
]);

/** Request headers browsers may send cross-origin: the service's own and every header the proxy forwards. */
export const CORS_ALLOW_HEADERS: readonly string[] = [
  ...SERVICE_REQUEST_HEADERS,
  ...FORWARDED_REQUEST_HEADERS,
  ...NAMED_PREFIXED_REQUEST_HEADERS,
];

/** Response headers browsers may read: every header the proxy returns that is not already readable, and the correlation id. */
export const CORS_EXPOSE_HEADERS: readonly string[] = [
  ...RETURNED_RESPONSE_HEADERS,
  ...NAMED_PREFIXED_RESPONSE_HEADERS,
  CORRELATION_ID_HEADER,
].filter((name) => !SAFELISTED_RESPONSE_HEADERS.has(name.toLowerCase()));

export const CORS_ALLOW_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** How long browsers may cache a preflight answer. */
export const CORS_MAX_AGE_SECONDS = 3600;
