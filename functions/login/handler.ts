import { startLogin } from '#shared/auth/login.ts';
import { loginBindingCookie } from '#shared/http/cookies.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { redirect } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/**
 * GET /auth/login?returnTo=[&client_challenge=][&environment=] — starts the authorization code flow with PKCE.
 * Native and CLI clients name a loopback or app-scheme returnTo and their own S256 challenge.
 */
export const loginRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const query = event.queryStringParameters ?? {};
    const login = await startLogin(services(), query.returnTo, {
      clientChallenge: query.client_challenge,
      environment: query.environment,
    });
    return redirect(login.authorizationUrl, [loginBindingCookie(login.binding, login.bindingMaxAgeSeconds)]);
  };

export const handler = createHandler(loginRoute(getServices));
