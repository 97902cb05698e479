import { ServiceError } from '../errors/service-error.ts';
import { randomToken, sha256 } from '../crypto/random.ts';
import { escapeHtml, htmlPage } from '../http/html.ts';
import type { HttpResponse } from '../http/response.ts';
import { logger } from '../observability/logger.ts';
import type { Services } from '../runtime.ts';
import { publicBase, type Config } from '../config/config.ts';
import { isGuid } from '../config/guid.ts';
import { environmentOriginOfUrl } from './environment-choice.ts';
import { signInResource } from './login.ts';

export const ADMIN_CONSENT_PATH = '/auth/admin-consent';
const TENANT_DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;
/** Entra's codes for "this user may not consent": admin consent required (AADSTS65001) or user consent blocked by policy (AADSTS90094). */
const CONSENT_CODES = /\bAADSTS(?:65001|90094)\b/;

/** The callback error means the user's tenant lets only an administrator consent to this app. */
export function needsAdminConsent(error: string, description: string | null): boolean {
  return (
    (error === 'consent_required' ||
      error === 'access_denied' ||
      error === 'interaction_required' ||
      error === 'invalid_grant') &&
    CONSENT_CODES.test(description ?? '')
  );
}

/**
 * GET /auth/admin-consent?tenant=&environment= — sends an administrator to the Microsoft identity
 * platform's admin-consent endpoint (`/{tenant}/v2.0/adminconsent`, Microsoft: "Admin consent on the
 * Microsoft identity platform") for the Dataverse `user_impersonation` scope, with a single-use state.
 */
export async function startAdminConsent(
  services: Pick<Services, 'config' | 'pendingLogins' | 'now'>,
  query: Record<string, string | undefined>,
): Promise<string> {
  const { config } = services;
  const tenant = query.tenant ?? 'organizations';
  if (tenant !== 'organizations' && !isGuid(tenant) && !TENANT_DOMAIN.test(tenant)) {
    throw new ServiceError(
      'invalid_tenant',
      'tenant must be a tenant id (GUID), a verified domain name, or "organizations".',
    );
  }
  const environment = query.environment === undefined ? undefined : environmentOriginOfUrl(config, query.environment);
  const state = randomToken();
  await services.pendingLogins.saveAdminConsent({
    id: sha256(state),
    expiresAt: Math.floor(services.now() / 1000) + config.pendingLoginTtlSeconds,
  });
  // The cloud's own sign-in host (ENTRA_CLOUD or ENTRA_AUTHORITY), not always the commercial one.
  const url = new URL(`/${encodeURIComponent(tenant)}/v2.0/adminconsent`, config.entraAuthority.origin);
  url.searchParams.set('client_id', config.clientId);
  // Consent to Dynamics CRM's user_impersonation covers every environment of the tenant.
  url.searchParams.set('scope', `${signInResource(config, environment)}/user_impersonation`);
  url.searchParams.set('redirect_uri', `${publicBase(config)}${ADMIN_CONSENT_PATH}/callback`);
  url.searchParams.set('state', state);
  logger.info('admin consent started', { tenant: isGuid(tenant) ? tenant : 'by-name' });
  return url.href;
}

/**
 * GET /auth/admin-consent/callback — Entra's answer: `admin_consent=True&tenant=…` or
 * `error=…&error_description=…`, always with the state, which is spent here once.
 */
export async function completeAdminConsent(
  services: Pick<Services, 'config' | 'pendingLogins' | 'now'>,
  query: URLSearchParams,
): Promise<HttpResponse> {
  const { config } = services;
  const state = query.get('state');
  const spent =
    state && state.length <= 512
      ? await services.pendingLogins.consumeAdminConsent(sha256(state), Math.floor(services.now() / 1000))
      : undefined;
  if (!spent) {
    return htmlPage(
      config,
      400,
      'Consent not confirmed',
      '<h1>Consent not confirmed</h1><p>This answer is unknown, expired or was already used. Start the administrator consent again.</p>' +
        startLink(config),
    );
  }
  const error = query.get('error');
  if (error) {
    const code = /^[a-z_]{1,64}$/.test(error) ? error : 'authorization_failed';
    const aadsts = /\bAADSTS\d{4,6}\b/.exec(query.get('error_description') ?? '')?.[0];
    logger.warn('admin consent failed', { error: code, aadsts });
    return htmlPage(
      config,
      400,
      'Consent not granted',
      `<h1>Consent not granted</h1><p>Microsoft Entra ID answered <code>${escapeHtml(code)}</code>${aadsts ? ` (<code>${escapeHtml(aadsts)}</code>)` : ''}. ` +
        'Consent must be granted by a Global Administrator, Privileged Role Administrator, Cloud Application Administrator or Application Administrator of the organization.</p>' +
        startLink(config),
    );
  }
  const tenant = query.get('tenant') ?? '';
  if (query.get('admin_consent') !== 'True' || !isGuid(tenant)) {
    throw new ServiceError(
      'invalid_request',
      'The admin-consent answer carries neither admin_consent=True with a tenant nor an error.',
    );
  }
  logger.info('admin consent granted', { tid: tenant });
  return htmlPage(
    config,
    200,
    'Consent granted',
    `<h1>Consent granted</h1><p>An administrator granted this application access to Dynamics 365 for the organization <code>${escapeHtml(tenant)}</code>. ` +
      `Its users can now <a href="${escapeHtml(`${publicBase(config)}/auth/login`)}">sign in</a>.</p>`,
  );
}

function startLink(config: Config): string {
  return `<p><a href="${escapeHtml(`${publicBase(config)}${ADMIN_CONSENT_PATH}`)}">Grant consent as an administrator</a></p>`;
}

/** The page a user sees when their organization lets only an administrator consent (AADSTS65001/90094). */
export function adminConsentRequiredPage(config: Config): HttpResponse {
  return htmlPage(
    config,
    403,
    'An administrator must approve this application',
    '<h1>An administrator must approve this application</h1>' +
      '<p>Your organization lets only administrators consent to applications that access Dynamics 365 on your behalf, so you cannot sign in yet.</p>' +
      '<p>Ask an administrator of your organization (Global Administrator, Privileged Role Administrator, Cloud Application Administrator or Application Administrator) ' +
      'to open the link below, sign in and accept. You can then sign in again.</p>' +
      startLink(config),
  );
}
