import { requireSession } from '#shared/auth/request-auth.ts';
import { sessionResource } from '#shared/auth/resource-tokens.ts';
import { createHandler, handlerDeadline, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** A refresh asked for within this long after the last rotation is answered by that rotation. */
const COALESCE_WINDOW_MS = 5_000;

/** POST /auth/refresh — refreshes and rotates the session's tokens now. Tokens never leave the service. */
export const refreshRoute =
  (services: () => Services): RouteHandler =>
  async (event, context) => {
    const s = services();
    const session = await requireSession(event, s.sessions, s.config, s.now());
    // Concurrent "refresh now" calls (many tabs, many instances) share one rotation.
    const justRotated = session.refreshedAt !== undefined && s.now() - session.refreshedAt < COALESCE_WINDOW_MS;
    const refreshed = justRotated
      ? session
      : await s.refresher.refreshFrom(
          session.id,
          session.accessVersion ?? session.version,
          handlerDeadline(context, s.now()),
          sessionResource(session, s.config),
        );
    return json(200, { expiresAt: new Date(refreshed.accessTokenExpiresAt).toISOString() });
  };

export const handler = createHandler(refreshRoute(getServices));
