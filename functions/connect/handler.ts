import { requireApiKey } from '#shared/auth/api-keys.ts';
import { checkConnectionId } from '#shared/auth/connections.ts';
import { checkReturnTo } from '#shared/auth/return-to.ts';
import { randomToken, sha256 } from '#shared/crypto/random.ts';
import { readJsonBody } from '#shared/http/body.ts';
import { badRequest } from '#shared/http/errors.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/**
 * POST /connect/sessions {connectionId, returnTo?} — a backend (API key) asks for a URL to send its
 * end user to; after that user signs in, the tokens are stored as the connection.
 */
export const connectRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    const key = await requireApiKey(event, s.apiKeys);
    const body = readJsonBody(event);
    const connectionId = checkConnectionId(body.connectionId);
    let returnTo: string | undefined;
    if (body.returnTo !== undefined) {
      returnTo = typeof body.returnTo === 'string' ? checkReturnTo(body.returnTo, s.config.allowedReturnUrls) : undefined;
      if (!returnTo) throw badRequest('invalid_return_to', 'returnTo is not one of the allowed return URLs.');
    }
    const token = randomToken();
    const expiresAt = Math.floor(s.now() / 1000) + s.config.pendingLoginTtlSeconds;
    await s.connectSessions.save({ id: sha256(token), ownerKeyId: key.keyId, connectionId, returnTo, expiresAt });
    const connectUrl = new URL(`${s.config.publicBaseUrl.href.replace(/\/+$/, '')}/connect/start`);
    connectUrl.searchParams.set('token', token);
    return json(201, { connectUrl: connectUrl.href, expiresAt: new Date(expiresAt * 1000).toISOString() });
  };

export const handler = createHandler(connectRoute(getServices));
