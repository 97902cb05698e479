import { ServiceError } from '../errors/service-error.ts';
import { sha256 } from '../crypto/random.ts';
import type { SessionLookup } from '../ports.ts';
import type { Session } from '../stores/model.ts';

const CONNECTION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function checkConnectionId(value: unknown): string {
  if (typeof value !== 'string' || !CONNECTION_ID.test(value)) {
    throw new ServiceError(
      'invalid_connection_id',
      'connectionId must be 1–128 characters of A–Z, a–z, 0–9, ".", "_", ":" or "-".',
    );
  }
  return value;
}

/** The Sessions row of one API key's connection: another key's connections are unreachable by construction. */
export function connectionRowId(ownerKeyId: string, connectionId: string): string {
  return sha256(`connection:${ownerKeyId}:${connectionId}`);
}

export const connectionNotFound = () =>
  new ServiceError('connection_not_found', 'No such connection for this API key.');
/** The connection's grant ended; the identity provider's reason is the connection's `lastError`, not this code. */
export const reconnectRequired = () =>
  new ServiceError(
    'reconnect_required',
    "The connection's grant ended: connect the user again (GET /connections/{id} shows lastError).",
  );

/** Loads an API key's connection, or throws 404. */
export async function loadConnection(
  services: SessionLookup,
  ownerKeyId: string,
  connectionId: string,
): Promise<Session> {
  const session = await services.sessions.get(
    connectionRowId(ownerKeyId, connectionId),
    Math.floor(services.now() / 1000),
  );
  if (!session?.connection || session.connection.ownerKeyId !== ownerKeyId) throw connectionNotFound();
  return session;
}

/** Loads an active connection (409 when its grant ended). */
export async function loadActiveConnection(
  services: SessionLookup,
  ownerKeyId: string,
  connectionId: string,
): Promise<Session> {
  const session = await loadConnection(services, ownerKeyId, connectionId);
  if (session.connection!.status === 'failed') throw reconnectRequired();
  return session;
}

/** Connections have no absolute end of their own: the grant's own lifetime (Entra: 90 days idle) decides. */
export const CONNECTION_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;
