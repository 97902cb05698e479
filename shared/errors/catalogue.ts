/**
 * Every error code the service answers with, in one table: its HTTP status, the message used when a
 * throw site gives none, and the headers every answer with that code carries. The codes are the
 * service's own: an identity provider's or Dataverse's error code is never one of them (upstream
 * codes go to the logs as `oauthError`). shared/http/openapi.json documents these codes as enums,
 * and test/unit/error-catalogue.test.ts checks the two agree.
 */
export interface CatalogueEntry {
  readonly status: number;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** RFC 7231 §7.1.3: how long a client waits before retrying a briefly unavailable dependency. */
const RETRY_SOON = { 'Retry-After': '1' } as const;

export const ERROR_CATALOGUE = {
  // 400: the request cannot be used as sent; nothing was changed.
  invalid_request: { status: 400, message: 'The request is malformed.' },
  invalid_return_to: { status: 400, message: 'returnTo is not one of the allowed return URLs.' },
  invalid_state: { status: 400, message: 'The callback carries no usable state.' },
  invalid_callback: { status: 400, message: 'The authorization response is malformed.' },
  authorization_failed: { status: 400, message: 'The identity provider did not complete the sign-in.' },
  sign_in_declined: {
    status: 400,
    message: 'The sign-in was declined at the identity provider (by the user or by the organization).',
  },
  authorization_code_rejected: {
    status: 400,
    message: 'The authorization code is invalid, expired or was already used.',
  },
  invalid_id_token: { status: 400, message: 'The id_token failed validation.' },
  invalid_grant: {
    status: 400,
    message: 'The handoff is unknown, expired or already used, or the verifier does not match.',
  },
  invalid_tenant: {
    status: 400,
    message: 'tenant must be a tenant id (GUID), a verified domain name, or "organizations".',
  },
  invalid_connect_token: { status: 400, message: 'This connect link is unknown, expired or was already used.' },
  account_mismatch: { status: 400, message: 'This connect link is for another account; ask for a new link.' },
  invalid_connection_id: { status: 400, message: 'The connection id is malformed.' },
  invalid_environment: { status: 400, message: 'The environment is not an allowed Dataverse environment.' },
  invalid_choice_token: {
    status: 400,
    message: 'This environment choice is unknown, expired or was already made; connect again.',
  },
  unsupported_media_type: { status: 400, message: 'The body has a content type this route does not accept.' },
  invalid_path: { status: 400, message: 'Only Dataverse Web API paths under /api/data/v9.x/ can be proxied.' },
  invalid_query: { status: 400, message: 'The query contains characters that are not allowed.' },
  invalid_header: { status: 400, message: 'A header is not allowed.' },
  invalid_webhook: { status: 400, message: 'The webhook endpoint is not acceptable.' },
  // 401: no usable credential; the client must authenticate (again).
  unauthenticated: { status: 401, message: 'No valid session: sign in at /auth/login.' },
  login_required: { status: 401, message: 'The sign-in has expired or was revoked: sign in again at /auth/login.' },
  invalid_api_key: {
    status: 401,
    message: 'The API key is unknown, revoked or malformed.',
    // RFC 6750 §3: a 401 to a bearer credential names the scheme and `invalid_token`.
    headers: {
      'www-authenticate':
        'Bearer realm="api-key", error="invalid_token", error_description="The API key is unknown, revoked or malformed"',
    },
  },
  // 403: understood and refused; authenticating again would not help.
  csrf: {
    status: 403,
    message: 'Cookie-authenticated requests must send the header X-CSRF: 1 from an allowed origin.',
  },
  origin_not_verified: { status: 403, message: 'Requests must come through the service’s CloudFront distribution.' },
  admin_consent_required: {
    status: 403,
    message: 'An administrator of your organization must consent to this application first: see /auth/admin-consent.',
  },
  environment_not_allowed: {
    status: 403,
    message: 'This environment is not one of the signed-in user’s environments.',
  },
  environment_access_denied: {
    status: 403,
    message:
      'The identity provider refuses a token for this environment: the user has no access to it, or the app lacks consent there. ' +
      'Other environments and the sign-in itself are not affected.',
  },
  discovery_rejected: {
    status: 403,
    message: 'The Global Discovery Service refuses this user; no environments can be listed.',
  },
  dataverse_rejected: {
    status: 403,
    message: 'Dataverse rejects this user’s access even with a freshly issued token.',
  },
  impersonation_not_allowed: { status: 403, message: 'This API key may not impersonate users.' },
  // 404, 405, 409, 413
  not_found: { status: 404, message: 'No such route.' },
  connection_not_found: { status: 404, message: 'No such connection for this API key.' },
  webhook_not_found: { status: 404, message: 'No such webhook endpoint for this API key.' },
  method_not_allowed: { status: 405, message: 'This method is not supported here.' },
  reconnect_required: { status: 409, message: 'The connection’s grant ended: connect the user again.' },
  too_many_webhooks: { status: 409, message: 'This API key has registered as many webhook endpoints as it may.' },
  environment_required: { status: 409, message: 'No Dataverse environment is chosen.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  // 500: the service itself is at fault; the logs say why.
  internal_error: { status: 500, message: 'An unexpected error occurred.' },
  misconfigured: { status: 500, message: 'The service is misconfigured; see its logs.' },
  session_unreadable: { status: 500, message: 'The session could not be read; sign in again.' },
  // 502/503/504: a dependency failed; no stored token was lost.
  upstream_error: { status: 502, message: 'The identity provider answered with an unusable response.' },
  client_rejected: {
    status: 502,
    message: 'The identity provider refused this service; the operator must check its registration.',
  },
  no_refresh_token: {
    status: 502,
    message: 'The identity provider issued no refresh token (is offline_access granted? see IDP_PROFILE).',
  },
  upstream_unreachable: { status: 502, message: 'Dataverse could not be reached.' },
  response_too_large: { status: 502, message: 'The Dataverse response is too large for the proxy.' },
  discovery_error: { status: 502, message: 'The Global Discovery Service answered with an unusable response.' },
  temporarily_unavailable: {
    status: 503,
    message: 'A dependency is briefly unavailable; retry shortly.',
    headers: RETRY_SOON,
  },
  discovery_unavailable: {
    status: 503,
    message: 'The Global Discovery Service is briefly unavailable; retry shortly.',
    headers: RETRY_SOON,
  },
  upstream_timeout: { status: 504, message: 'Dataverse did not answer in time.' },
  discovery_timeout: { status: 504, message: 'The Global Discovery Service did not answer in time.' },
} as const satisfies Record<string, CatalogueEntry>;

/** A code the service may answer with: a literal outside the catalogue does not compile. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export function catalogueEntry(code: ErrorCode): CatalogueEntry {
  return ERROR_CATALOGUE[code];
}
