import { requireSession } from '#shared/auth/request-auth.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** POST /auth/refresh — refreshes and rotates the session's tokens now. Tokens never leave the service. */
export const refreshRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    const session = await requireSession(event, s.sessions, s.config, s.now());
    const refreshed = await s.refresher.refreshFrom(session.id, session.version);
    return json(200, { expiresAt: new Date(refreshed.accessTokenExpiresAt).toISOString() });
  };

export const handler = createHandler(refreshRoute(getServices));
