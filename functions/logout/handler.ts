import { checkCsrf, readCredential } from '#shared/auth/request-auth.ts';
import { clearCookie, SESSION_COOKIE } from '#shared/http/cookies.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** POST /auth/logout — deletes the session, clears the cookie and returns Entra's end-session URL. */
export const logoutRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    const credential = readCredential(event);
    checkCsrf(event, credential, s.config);
    if (credential) await s.sessions.delete(credential.sessionId);
    const logoutUrl = await s.entra().then((entra) => entra.endSessionUrl());
    return json(200, { logoutUrl: logoutUrl ?? null }, { cookies: [clearCookie(SESSION_COOKIE)] });
  };

export const handler = createHandler(logoutRoute(getServices));
