import { requireSession } from '#shared/auth/request-auth.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** GET /auth/session — who is signed in, and until when. */
export const sessionRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    const session = await requireSession(event, s.sessions, s.config, s.now());
    const { oid, tid, name, username } = session.user;
    return json(200, {
      authenticated: true,
      user: { oid, tid, name: name ?? null, username: username ?? null },
      expiresAt: new Date(session.expiresAt * 1000).toISOString(),
    });
  };

export const handler = createHandler(sessionRoute(getServices));
