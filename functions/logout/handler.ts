import { endSession } from '#shared/auth/logout.ts';
import { checkCsrf, readCredential } from '#shared/auth/request-auth.ts';
import { clearCookie, SESSION_COOKIE } from '#shared/http/cookies.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** POST /auth/logout — ends the session (revoking its refresh token where offered), clears the cookie, returns the end-session URL. */
export const logoutRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    const credential = readCredential(event);
    checkCsrf(event, credential, s.config);
    const logoutUrl = await endSession(s, credential?.sessionId);
    return json(200, { logoutUrl: logoutUrl ?? null }, { cookies: [clearCookie(SESSION_COOKIE)] });
  };

export const handler = createHandler(logoutRoute(getServices));
