/**
 * Token-endpoint outcomes, apart from the client so that code which only maps them (the error
 * middleware, the refresher) does not load the protocol library.
 */
/** The grant can no longer be used: the user must sign in again (RFC 6749 §5.2, Entra AADSTS70008/700082/50173). */
export class TerminalGrantError extends Error {
  override name = 'TerminalGrantError';
  constructor(
    readonly oauthError: string,
    /**
     * The refusal concerns the requested resource, not the grant (no consent or no access to that
     * environment: invalid_scope, invalid_resource, consent_required, or invalid_grant with AADSTS65001,
     * 500011, 650052 or 650057): the refresh token itself is still good for other resources.
     */
    readonly resourceSpecific = false,
  ) {
    super(`Token endpoint answered ${oauthError}`);
  }
}

/** The token endpoint failed in a way a later retry may fix (network, timeout, 5xx). */
export class TransientTokenError extends Error {
  override name = 'TransientTokenError';
}

/** The token endpoint answered something we cannot use (malformed response, client misconfiguration). */
export class TokenEndpointError extends Error {
  override name = 'TokenEndpointError';
}

/**
 * The token endpoint refused the service itself (invalid_client, unauthorized_client,
 * unsupported_grant_type; RFC 6749 §5.2): a configuration problem for the operator, not the user's.
 */
export class ClientRejectedError extends TokenEndpointError {
  override name = 'ClientRejectedError';
  constructor(readonly oauthError: string) {
    super(`Token endpoint refused this client: ${oauthError}`);
  }
}
