import { adminConsentRequiredPage } from '#shared/auth/admin-consent.ts';
import { completeLogin } from '#shared/auth/callback.ts';
import { ServiceError } from '#shared/errors/service-error.ts';
import { clearCookie, LOGIN_BINDING_COOKIE, readCookie, sessionCookie } from '#shared/http/cookies.ts';
import { rawQueryOf } from '#shared/http/event.ts';
import { createHandler, handlerDeadline, type RouteHandler } from '#shared/http/middleware.ts';
import { redirect } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** GET /auth/callback — consumes the pending login, exchanges the code, creates the session. */
export const callbackRoute =
  (services: () => Services): RouteHandler =>
  async (event, context) => {
    const s = services();
    const query = new URLSearchParams(rawQueryOf(event));
    const binding = readCookie(event.cookies, LOGIN_BINDING_COOKIE);
    let login;
    try {
      login = await completeLogin(s, query, binding, handlerDeadline(context, s.now()));
    } catch (err) {
      // A page for the person at the browser, saying what an administrator must do.
      if (err instanceof ServiceError && err.code === 'admin_consent_required')
        return { ...adminConsentRequiredPage(s.config), cookies: [clearCookie(LOGIN_BINDING_COOKIE)] };
      throw err;
    }
    if (login.kind !== 'browser') return redirect(login.redirectTo, [clearCookie(LOGIN_BINDING_COOKIE)]);
    return redirect(login.returnTo, [
      sessionCookie(login.sessionToken, login.sessionMaxAgeSeconds),
      clearCookie(LOGIN_BINDING_COOKIE),
    ]);
  };

export const handler = createHandler(callbackRoute(getServices));
