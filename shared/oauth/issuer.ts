import * as oauth from 'oauth4webapi';
import { CLOUDS } from '../config/clouds.ts';
import { isGuid } from '../config/guid.ts';

/**
 * Issuer rules for Microsoft Entra ID: which issuer a discovery document and an id_token must name
 * for a configured authority, in every cloud, including the multi-tenant aliases.
 */

const MULTI_TENANT_ALIASES = new Set(['common', 'organizations']);
/** Entra's multi-tenant discovery documents publish the issuer template `https://<host>/{tenantid}/v2.0`. */
const templateIssuer = (host: string) => `https://${host}/{tenantid}/v2.0`;
const UNMATCHABLE_ISSUER = 'urn:dynamics-auth:no-valid-tenant';

/**
 * The issuer the discovery document must name: the authority itself, except for Entra's
 * multi-tenant aliases, which publish the `{tenantid}` template issuer.
 */
export function expectedDiscoveryIssuer(authority: URL): URL {
  const tenant = authority.pathname.split('/').filter(Boolean)[0] ?? '';
  // Each cloud's Entra publishes the template on its own sign-in host (Microsoft: national clouds).
  const cloud = Object.values(CLOUDS).find((c) => c.issuerHosts.includes(authority.hostname));
  if (authority.protocol === 'https:' && cloud && MULTI_TENANT_ALIASES.has(tenant.toLowerCase())) {
    return new URL(templateIssuer(cloud.loginHost));
  }
  return authority;
}

/** Whether a discovered issuer is Entra's `{tenantid}` template, to be filled per id_token. */
export function isTemplateIssuer(issuer: string): boolean {
  return issuer.includes('{tenantid}');
}

/**
 * The issuer an id_token must carry. For a `{tenantid}` template issuer it is the template filled
 * with the token's own `tid` claim (Microsoft identity platform: validate issuer against tid).
 */
export function expectedIdTokenIssuer(discoveredIssuer: string, claims: Record<string, unknown>): string {
  if (!isTemplateIssuer(discoveredIssuer)) return discoveredIssuer;
  const tid = claims.tid;
  // Without a tenant id nothing may match (not even the unfilled template itself).
  if (typeof tid !== 'string' || !isGuid(tid)) return UNMATCHABLE_ISSUER;
  return discoveredIssuer.replace('{tenantid}', tid.toLowerCase());
}

/** oauth4webapi's hook for issuers that depend on the token (the same one openid-client uses). */
export const expectedIssuerHook = (oauth as unknown as { _expectedIssuer?: symbol })._expectedIssuer;

/** Whether the authority is Microsoft Entra ID's, in any cloud (the sign-in hosts of the clouds table). */
export function isEntraHost(authority: URL): boolean {
  const host = authority.hostname.toLowerCase();
  return Object.values(CLOUDS).some((c) => c.loginHost === host || c.issuerHosts.includes(host));
}
