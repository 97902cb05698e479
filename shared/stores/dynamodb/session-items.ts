/** How a Sessions row (a session or a managed connection) is laid out as a DynamoDB item. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DataverseEnvironment, DiscoveredEnvironments, EnvironmentToken, Session } from '../model.ts';
import { SESSIONS_BY_TENANT_INDEX, tenantKey } from '../tables.ts';
import type { ConnectionEventKind } from '../../webhooks/connection-events.ts';
import { b, bin, n, num, optNum, optStr, s, str, type Item } from './attributes.ts';

/**
 * The outbox attributes of a connection row: which life-cycle change its last event-worthy write
 * was, and a version that grows with each such write. Other writes (rotation, lease, cool-down)
 * leave them as they are, so a stream record whose `connEventVersion` did not move is no event.
 */
export function connectionEvent(kind: ConnectionEventKind, eventVersion: number): Item {
  return { connEvent: s(kind), connEventVersion: n(eventVersion) };
}

export function fromSession(session: Session): Item {
  const item: Item = {
    id: s(session.id),
    oid: s(session.user.oid),
    tid: s(session.user.tid),
    sub: s(session.user.sub),
    dataKey: b(session.dataKey),
    accessToken: b(session.accessToken),
    refreshToken: b(session.refreshToken),
    accessTokenExpiresAt: n(session.accessTokenExpiresAt),
    version: n(session.version),
    createdAt: n(session.createdAt),
    lastSeenAt: n(session.lastSeenAt),
    expiresAt: n(session.expiresAt),
    // The revocation index's key (tables.ts): written with the row, so no later write is needed.
    [SESSIONS_BY_TENANT_INDEX.partitionKey]: s(
      tenantKey(session.connection ? 'connection' : 'session', session.user.tid),
    ),
  };
  if (session.user.name) item.name = s(session.user.name);
  if (session.user.username) item.username = s(session.user.username);
  if (session.user.loginHint) item.loginHint = s(session.user.loginHint);
  if (session.refreshedAt !== undefined) item.refreshedAt = n(session.refreshedAt);
  if (session.accessTokenLifetimeSeconds !== undefined)
    item.accessTokenLifetimeSeconds = n(session.accessTokenLifetimeSeconds);
  if (session.dataverseRejectedUntil !== undefined) item.dvRejectedUntil = n(session.dataverseRejectedUntil);
  if (session.accessResource) item.accessResource = s(session.accessResource);
  if (session.accessVersion !== undefined) item.accessVersion = n(session.accessVersion);
  if (session.environmentTokens) item.envTokens = fromEnvironmentTokens(session.environmentTokens);
  if (session.defaultEnvironment) item.defaultEnv = s(session.defaultEnvironment);
  if (session.discovered) {
    item.envList = s(JSON.stringify(session.discovered.environments));
    item.envListAt = n(session.discovered.cachedAt);
  }
  if (session.connection) {
    item.ownerKeyId = s(session.connection.ownerKeyId);
    item.connectionId = s(session.connection.connectionId);
    item.connStatus = s(session.connection.status);
    if (session.connection.lastError) item.lastError = s(session.connection.lastError);
  }
  return item;
}

export function toSession(item: Item): Session {
  return {
    id: str(item, 'id'),
    user: {
      oid: str(item, 'oid'),
      tid: str(item, 'tid'),
      sub: str(item, 'sub'),
      name: optStr(item, 'name'),
      username: optStr(item, 'username'),
      loginHint: optStr(item, 'loginHint'),
    },
    dataKey: bin(item, 'dataKey'),
    accessToken: bin(item, 'accessToken'),
    refreshToken: bin(item, 'refreshToken'),
    accessTokenExpiresAt: num(item, 'accessTokenExpiresAt'),
    accessTokenLifetimeSeconds: optNum(item, 'accessTokenLifetimeSeconds'),
    version: num(item, 'version'),
    createdAt: num(item, 'createdAt'),
    refreshedAt: optNum(item, 'refreshedAt'),
    // Rows written before `lastSeenAt` existed were last seen when created.
    lastSeenAt: optNum(item, 'lastSeenAt') ?? num(item, 'createdAt'),
    expiresAt: num(item, 'expiresAt'),
    leaseUntil: optNum(item, 'leaseUntil'),
    dataverseRejectedUntil: optNum(item, 'dvRejectedUntil'),
    accessResource: optStr(item, 'accessResource'),
    accessVersion: optNum(item, 'accessVersion'),
    environmentTokens: item.envTokens?.M ? toEnvironmentTokens(item.envTokens.M) : undefined,
    defaultEnvironment: optStr(item, 'defaultEnv'),
    discovered: toDiscovered(item),
    connection: optStr(item, 'ownerKeyId')
      ? {
          ownerKeyId: str(item, 'ownerKeyId'),
          connectionId: str(item, 'connectionId'),
          status: optStr(item, 'connStatus') === 'failed' ? 'failed' : 'active',
          lastError: optStr(item, 'lastError'),
        }
      : undefined,
  };
}

export function fromEnvironmentTokens(tokens: Record<string, EnvironmentToken>): AttributeValue {
  const map: Record<string, AttributeValue> = {};
  for (const [resource, token] of Object.entries(tokens)) {
    const entry: Item = { exp: n(token.expiresAt), v: n(token.version), at: n(token.refreshedAt) };
    if (token.accessToken) entry.token = b(token.accessToken);
    if (token.lifetimeSeconds !== undefined) entry.life = n(token.lifetimeSeconds);
    if (token.refusedWith) entry.refused = s(token.refusedWith);
    if (token.blockedUntil !== undefined) entry.blocked = n(token.blockedUntil);
    map[resource] = { M: entry };
  }
  return { M: map };
}

function toEnvironmentTokens(map: Record<string, AttributeValue>): Record<string, EnvironmentToken> {
  const tokens: Record<string, EnvironmentToken> = {};
  for (const [resource, value] of Object.entries(map)) {
    const entry = value.M;
    if (!entry) continue;
    tokens[resource] = {
      accessToken: entry.token?.B,
      expiresAt: num(entry, 'exp'),
      lifetimeSeconds: optNum(entry, 'life'),
      version: num(entry, 'v'),
      refreshedAt: num(entry, 'at'),
      refusedWith: entry.refused?.S,
      blockedUntil: optNum(entry, 'blocked'),
    };
  }
  return tokens;
}

/** The cached environment list; a row whose list cannot be read has none (it is read again). */
function toDiscovered(item: Item): DiscoveredEnvironments | undefined {
  const list = item.envList?.S;
  const at = item.envListAt?.N;
  if (list === undefined || at === undefined) return undefined;
  try {
    const environments = JSON.parse(list) as DataverseEnvironment[];
    return Array.isArray(environments) ? { cachedAt: Number(at), environments } : undefined;
  } catch {
    return undefined;
  }
}
