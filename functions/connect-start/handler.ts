import { ServiceError } from '#shared/errors/service-error.ts';
import { startLogin } from '#shared/auth/login.ts';
import { sha256 } from '#shared/crypto/random.ts';
import { loginBindingCookie } from '#shared/http/cookies.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { redirect } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/**
 * GET /connect/start?token= — the end user's browser starts sign-in for a backend's connection.
 * The link is only read here and consumed when a sign-in through it completes, so a mail scanner
 * opening it first does not spend it; Entra shows its account picker, so the user sees who connects.
 */
export const connectStartRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    const token = event.queryStringParameters?.token;
    const connectSessionId = token ? sha256(token) : undefined;
    const connect = connectSessionId
      ? await s.connectSessions.find(connectSessionId, Math.floor(s.now() / 1000))
      : undefined;
    if (!connect || !connectSessionId) {
      throw new ServiceError('invalid_connect_token', 'This connect link is unknown, expired or was already used.');
    }
    const login = await startLogin(s, connect.returnTo, {
      connect: {
        ownerKeyId: connect.ownerKeyId,
        connectionId: connect.connectionId,
        connectSessionId,
        expectedTenantId: connect.expectedTenantId,
        loginHint: connect.loginHint,
      },
      environment: connect.environment,
    });
    return redirect(login.authorizationUrl, [loginBindingCookie(login.binding, login.bindingMaxAgeSeconds)]);
  };

export const handler = createHandler(connectStartRoute(getServices));
