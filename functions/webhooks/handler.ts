import { requireApiKey } from '#shared/auth/api-keys.ts';
import { readJsonBody } from '#shared/http/body.ts';
import { ServiceError } from '#shared/errors/service-error.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';
import {
  checkEndpointId,
  describeEndpoint,
  parseRegistration,
  registerEndpoint,
  rotateEndpointSecret,
  webhookNotFound,
  type WebhookRegistrationDeps,
} from '#shared/webhooks/registration.ts';

const ROUTE = /^\/webhooks(?:\/([^/]+)(\/rotate-secret)?)?$/;

/**
 * POST /webhooks {url}, GET /webhooks, DELETE /webhooks/{id}, POST /webhooks/{id}/rotate-secret — a
 * backend (API key) manages its own webhook endpoints; another key's endpoint is simply not found.
 * Secrets appear only in the answers to registration and rotation.
 */
export const webhooksRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    const key = await requireApiKey(event, s.apiKeys);
    const match = ROUTE.exec(event.rawPath);
    if (!match) throw new ServiceError('not_found', 'No such route.');
    const method = event.requestContext.http.method.toUpperCase();
    const nowSec = Math.floor(s.now() / 1000);
    const deps = (): WebhookRegistrationDeps => ({
      endpoints: s.webhookEndpoints,
      keys: s.keys(),
      maxEndpointsPerKey: s.config.webhookMaxEndpointsPerKey,
      secretOverlapSeconds: s.config.webhookSecretOverlapSeconds,
      nowSec,
    });
    const [, rawId, rotate] = match;

    if (rawId === undefined) {
      if (method === 'POST') {
        const { url } = parseRegistration(readJsonBody(event));
        return json(201, await registerEndpoint(deps(), key.keyId, url));
      }
      if (method === 'GET') {
        const endpoints = await s.webhookEndpoints.list(key.keyId);
        return json(200, { webhooks: endpoints.map((e) => describeEndpoint(e, nowSec)) });
      }
      throw new ServiceError('method_not_allowed', `${method} is not supported here.`);
    }
    const id = checkEndpointId(rawId);
    if (rotate && method === 'POST') return json(200, await rotateEndpointSecret(deps(), key.keyId, id));
    if (!rotate && method === 'DELETE') {
      if (!(await s.webhookEndpoints.delete(key.keyId, id))) throw webhookNotFound();
      return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
    }
    throw new ServiceError('method_not_allowed', `${method} is not supported here.`);
  };

export const handler = createHandler(webhooksRoute(getServices));
