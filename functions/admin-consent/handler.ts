import { completeAdminConsent, startAdminConsent } from '#shared/auth/admin-consent.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { rawQueryOf } from '#shared/http/event.ts';
import { redirect } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/**
 * GET /auth/admin-consent?tenant=&environment= — starts an administrator's tenant-wide consent.
 * GET /auth/admin-consent/callback — reports its outcome on a page.
 */
export const adminConsentRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    if (event.rawPath.endsWith('/callback')) return completeAdminConsent(s, new URLSearchParams(rawQueryOf(event)));
    return redirect(await startAdminConsent(s, event.queryStringParameters ?? {}));
  };

export const handler = createHandler(adminConsentRoute(getServices));
