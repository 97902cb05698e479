import type { Config } from '../config/config.ts';

/**
 * What differs between Microsoft Entra ID and a standards-conformant OpenID Provider, in one place:
 * the extra authorization parameters, the refresh request's parameters, and which token-endpoint
 * errors end the user's grant.
 */

/** `prompt` values of the authorization request (OIDC Core §3.1.2.1: space-delimited). */
export function promptFor(config: Config, requested: string | undefined): string | undefined {
  const values = new Set(requested ? requested.split(' ') : []);
  // OIDC Core §11: offline_access is ignored unless prompt contains consent; Entra issues the
  // refresh token for offline_access without it (and would ask every user again).
  if (config.idpProfile === 'standard') values.add('consent');
  return values.size > 0 ? [...values].join(' ') : undefined;
}

/** RFC 8707 §2: the resource the tokens are for, on authorization and token requests alike. */
export function resourceParameters(config: Config): Record<string, string> {
  return config.resourceIndicator ? { resource: config.resourceIndicator } : {};
}

/** The refresh request's parameters beyond the refresh token itself. */
export function refreshParameters(config: Config, scope: string): Record<string, string> {
  // RFC 6749 §6: scope is optional on refresh and may not exceed the grant, so a standard provider
  // gets none (the grant's scope); Entra picks the access token's resource from the scope.
  return config.idpProfile === 'standard' ? resourceParameters(config) : { scope, ...resourceParameters(config) };
}

/**
 * How a token-endpoint error answer (RFC 6749 §5.2) is treated on refresh:
 * - `grant_ended`: the user's grant cannot be used any more — invalid_grant (expired, revoked, reused),
 *   invalid_scope (the grant no longer covers what is asked), and OIDC's interaction_required,
 *   consent_required, login_required. The user must sign in again: the session ends.
 * - `client_rejected`: the service itself is refused — invalid_client (client authentication failed),
 *   unauthorized_client (this client may not use the grant type), unsupported_grant_type. No sign-in
 *   fixes that; it is the operator's to repair, so the session is kept.
 * - `other`: anything else (e.g. invalid_request) is an unusable answer, not the user's fault either.
 */
export type TokenErrorKind = 'grant_ended' | 'client_rejected' | 'other';

const GRANT_ENDED = new Set([
  'invalid_grant',
  'invalid_scope',
  'interaction_required',
  'consent_required',
  'login_required',
]);
const CLIENT_REJECTED = new Set(['invalid_client', 'unauthorized_client', 'unsupported_grant_type']);

export function classifyTokenError(code: string): TokenErrorKind {
  if (GRANT_ENDED.has(code)) return 'grant_ended';
  if (CLIENT_REJECTED.has(code)) return 'client_rejected';
  return 'other';
}
