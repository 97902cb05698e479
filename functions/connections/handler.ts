import { requireApiKey } from '#shared/auth/api-keys.ts';
import { checkConnectionId, connectionRowId, loadActiveConnection, loadConnection } from '#shared/auth/connections.ts';
import { HttpError } from '#shared/http/errors.ts';
import { refreshDue, sessionResource } from '#shared/auth/resource-tokens.ts';
import { createHandler, handlerDeadline, type RouteHandler } from '#shared/http/middleware.ts';
import { accessTokenField } from '#shared/crypto/envelope.ts';
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
    if (!match) throw new HttpError(404, 'not_found', 'No such route.');
    let raw: string;
    try {
      raw = decodeURIComponent(match[1]!);
    } catch {
      throw new HttpError(400, 'invalid_connection_id', 'The connection id is malformed.');
    }
    const connectionId = checkConnectionId(raw);
    const method = event.requestContext.http.method.toUpperCase();

    if (match[2] && method === 'GET') {
      // A fresh access token for backends that call Dataverse themselves (refreshed when near expiry).
      let connection = await loadActiveConnection(s, key.keyId, connectionId);
      const held = { sealed: connection.accessToken, expiresAt: connection.accessTokenExpiresAt, lifetimeSeconds: connection.accessTokenLifetimeSeconds };
      if (refreshDue(held, s.now(), s.config)) {
        connection = await s.refresher.refreshFrom(connection.id, connection.accessVersion ?? connection.version, handlerDeadline(context, s.now()), sessionResource(connection, s.config));
      }
      const vault = await s.vault();
      // The connection's own token (DYNAMICS_URL's on rows without `accessResource`).
      const accessToken = await vault.open(connection.id, connection.dataKey, accessTokenField(connection.accessResource), connection.accessToken);
      return json(200, { accessToken, expiresAt: new Date(connection.accessTokenExpiresAt).toISOString() });
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
      });
    }
    if (!match[2] && method === 'DELETE') {
      await loadConnection(s, key.keyId, connectionId);
      await s.sessions.delete(connectionRowId(key.keyId, connectionId));
      return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
    }
    throw new HttpError(405, 'method_not_allowed', `${method} is not supported here.`);
  };

export const handler = createHandler(connectionsRoute(getServices));
