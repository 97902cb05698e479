import { startLogin } from '#shared/auth/login.ts';
import { loginBindingCookie } from '#shared/http/cookies.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { redirect } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** GET /auth/login?returnTo= — starts the authorization code flow with PKCE. */
export const loginRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const login = await startLogin(services(), event.queryStringParameters?.returnTo);
    return redirect(login.authorizationUrl, [loginBindingCookie(login.binding, login.bindingMaxAge)]);
  };

export const handler = createHandler(loginRoute(getServices));
