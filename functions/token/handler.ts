import { redeemHandoff } from '#shared/auth/native.ts';
import { readJsonBody } from '#shared/http/body.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** POST /auth/token — a native or CLI client redeems its one-time handoff for a session token. */
export const tokenRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const { sessionToken, expiresAt } = await redeemHandoff(services(), readJsonBody(event));
    return json(200, { session_token: sessionToken, expires_at: new Date(expiresAt * 1000).toISOString() });
  };

export const handler = createHandler(tokenRoute(getServices));
