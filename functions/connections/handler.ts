import { ServiceError } from '#shared/errors/service-error.ts';
import { requireApiKey } from '#shared/auth/api-keys.ts';
import { checkConnectionId, connectionRowId, loadActiveConnection, loadConnection } from '#shared/auth/connections.ts';
import { environmentRequired } from '#shared/auth/refresher.ts';
import { refreshDue, resourceToken } from '#shared/auth/resource-tokens.ts';
import { environmentOriginOfUrl } from '#shared/auth/environment-choice.ts';
import { resolveEnvironment } from '#shared/dataverse/discovery.ts';
import { createHandler, handlerDeadline, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * GET /connections/{id}, GET /connections/{id}/token, DELETE /connections/{id} — a backend's view of
 * its own connections (API key). Another key's connection id is simply not found.
 */
export const connectionsRoute =
  (services: () => Services): RouteHandler =>
  async (event, context) => {
    const s = services();
    const key = await requireApiKey(event, s.apiKeys);
    const match = /^\/connections\/([^/]+)(\/token)?$/.exec(event.rawPath);
    if (!match) throw new ServiceError('not_found', 'No such route.');
    let raw: string;
    try {
      raw = decodeURIComponent(match[1]!);
    } catch {
      throw new ServiceError('invalid_connection_id', 'The connection id is malformed.');
    }
    const connectionId = checkConnectionId(raw);
    const method = event.requestContext.http.method.toUpperCase();

    if (match[2] && method === 'GET') {
      // A fresh access token for backends that call Dataverse themselves (refreshed when near expiry):
      // the connection's environment, or `?environment=` — another of the same user's environments.
      const deadline = handlerDeadline(context, s.now());
      let connection = await loadActiveConnection(s, key.keyId, connectionId);
      const asked = event.queryStringParameters?.environment;
      const chosen = asked === undefined ? connection.defaultEnvironment : environmentOriginOfUrl(s.config, asked);
      // Never the discovery service's token: only an environment's (DYNAMICS_URL when none is chosen).
      let resource = s.config.dynamicsUrl?.origin;
      if (chosen) {
        let target;
        ({ session: connection, target } = await resolveEnvironment(s, connection, chosen, deadline));
        resource = target.url;
      }
      if (!resource) throw environmentRequired();
      let token = resourceToken(connection, resource, s.config);
      if (refreshDue(token, s.now(), s.config) || !token) {
        connection = await s.refresher.refreshFrom(
          connection.id,
          token?.sealed ? token.version : -1,
          deadline,
          resource,
          'ahead',
        );
        token = resourceToken(connection, resource, s.config)!;
      }
      const vault = await s.vault();
      const accessToken = await vault.open(connection.id, connection.dataKey, token.field, token.sealed!);
      return json(200, {
        accessToken,
        expiresAt: new Date(token.expiresAt).toISOString(),
        environment: chosen ?? resource,
      });
    }
    if (!match[2] && method === 'GET') {
      const c = await loadConnection(s, key.keyId, connectionId);
      return json(200, {
        connectionId,
        status: c.connection!.status,
        user: { oid: c.user.oid, tid: c.user.tid, name: c.user.name ?? null, username: c.user.username ?? null },
        createdAt: new Date(c.createdAt).toISOString(),
        lastRefreshAt: iso(c.refreshedAt),
        lastError: c.connection!.lastError ?? null,
        // The environment `/api/data/` and the token route use (DYNAMICS_URL when none was chosen).
        environment: c.defaultEnvironment ?? s.config.dynamicsUrl?.origin ?? null,
      });
    }
    if (!match[2] && method === 'DELETE') {
      await loadConnection(s, key.keyId, connectionId);
      await s.sessions.delete(connectionRowId(key.keyId, connectionId));
      s.metrics.add('ConnectionStateChange', 1, { state: 'deleted' });
      return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
    }
    throw new ServiceError('method_not_allowed', `${method} is not supported here.`);
  };

export const handler = createHandler(connectionsRoute(getServices));
