import { ServiceError } from '#shared/errors/service-error.ts';
import { requireApiKey } from '#shared/auth/api-keys.ts';
import { checkConnectionId } from '#shared/auth/connections.ts';
import { environmentOriginOfUrl } from '#shared/auth/environment-choice.ts';
import { checkReturnTo } from '#shared/auth/return-to.ts';
import { publicBase } from '#shared/config/config.ts';
import { GUID } from '#shared/config/guid.ts';
import { randomToken, sha256 } from '#shared/crypto/random.ts';
import { readJsonBody } from '#shared/http/body.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

// eslint-disable-next-line no-control-regex
const LOGIN_HINT = /^[^\u0000-\u0020\u007f]{1,256}$/;

function optionalMatch(value: unknown, pattern: RegExp, message: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) throw new ServiceError('invalid_request', message);
  return value;
}

/**
 * POST /connect/sessions {connectionId, returnTo?, expectedTenantId?, loginHint?, environment?} — a
 * backend (API key) asks for a URL to send its end user to; after that user signs in, the tokens are
 * stored as the connection. expectedTenantId / loginHint bind the link to the intended account;
 * environment (checked against DATAVERSE_HOSTS) is the connection's environment, else the user chooses.
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
      returnTo =
        typeof body.returnTo === 'string' ? checkReturnTo(body.returnTo, s.config.allowedReturnUrls) : undefined;
      if (!returnTo) throw new ServiceError('invalid_return_to', 'returnTo is not one of the allowed return URLs.');
    }
    const expectedTenantId = optionalMatch(body.expectedTenantId, GUID, 'expectedTenantId must be a tenant id (GUID).');
    const loginHint = optionalMatch(
      body.loginHint,
      LOGIN_HINT,
      'loginHint must be a sign-in name of at most 256 characters.',
    );
    const environment = body.environment === undefined ? undefined : environmentOriginOfUrl(s.config, body.environment);
    const token = randomToken();
    const expiresAt = Math.floor(s.now() / 1000) + s.config.pendingLoginTtlSeconds;
    await s.connectSessions.save({
      id: sha256(token),
      ownerKeyId: key.keyId,
      connectionId,
      returnTo,
      expectedTenantId,
      loginHint,
      environment,
      expiresAt,
    });
    const connectUrl = new URL(`${publicBase(s.config)}/connect/start`);
    connectUrl.searchParams.set('token', token);
    return json(201, { connectUrl: connectUrl.href, expiresAt: new Date(expiresAt * 1000).toISOString() });
  };

export const handler = createHandler(connectRoute(getServices));
