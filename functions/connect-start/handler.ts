import { startLogin } from '#shared/auth/login.ts';
import { sha256 } from '#shared/crypto/random.ts';
import { loginBindingCookie } from '#shared/http/cookies.ts';
import { badRequest } from '#shared/http/errors.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { redirect } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** GET /connect/start?token= — the end user's browser: consumes the connect token and starts sign-in. */
export const connectStartRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    const token = event.queryStringParameters?.token;
    const connect = token ? await s.connectSessions.consume(sha256(token), Math.floor(s.now() / 1000)) : undefined;
    if (!connect) throw badRequest('invalid_connect_token', 'This connect link is unknown, expired or was already used.');
    const login = await startLogin(s, connect.returnTo, {
      connect: { ownerKeyId: connect.ownerKeyId, connectionId: connect.connectionId },
    });
    return redirect(login.authorizationUrl, [loginBindingCookie(login.binding, login.bindingMaxAge)]);
  };

export const handler = createHandler(connectStartRoute(getServices));
