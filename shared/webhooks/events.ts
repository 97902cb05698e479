import { createHash } from 'node:crypto';

/** The events a backend can subscribe to: a managed connection's life cycle. */
export type WebhookEventType =
  'connection.created' | 'connection.reconnected' | 'connection.failed' | 'connection.deleted';

export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = [
  'connection.created',
  'connection.reconnected',
  'connection.failed',
  'connection.deleted',
];

/** One event about one connection, delivered to every endpoint of the connection's owner (API key). */
export interface WebhookEvent {
  /** Stable across retries (the `webhook-id` header, receivers deduplicate by it), e.g. `webhookEventId(...)`. */
  id: string;
  type: WebhookEventType;
  /** Epoch seconds: when the change happened. */
  timestamp: number;
  /** The API key (public key id) that owns the connection and its endpoints. */
  ownerKeyId: string;
  data: {
    connectionId: string;
    /** The connection's state after the change: `active`, `failed` or `deleted`. */
    state: string;
    /** Why it failed (an OAuth error code such as `invalid_grant`), for `connection.failed`. */
    reason?: string;
    /** The connection's environment (an origin), when it has one. */
    environment?: string;
    /** The connection row's version after the change (orders events of one connection). */
    version: number;
  };
}

/**
 * A stable event id from the connection row and its version, so a retried or re-read change yields
 * the same `webhook-id` (Standard Webhooks: the id is the idempotency key for receivers).
 */
export function webhookEventId(connectionRowId: string, version: number, type: WebhookEventType): string {
  return `evt_${createHash('sha256').update(`${connectionRowId}|${version}|${type}`).digest('base64url').slice(0, 32)}`;
}

/**
 * The JSON body sent to an endpoint, in Standard Webhooks' payload shape (`type`, `timestamp`,
 * `data`). Built field by field from ids and state, so nothing else (never a token) can slip in.
 */
export function webhookPayload(event: WebhookEvent): string {
  const { connectionId, state, reason, environment, version } = event.data;
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: new Date(event.timestamp * 1000).toISOString(),
    data: {
      connectionId,
      state,
      ...(reason !== undefined ? { reason } : {}),
      ...(environment !== undefined ? { environment } : {}),
      version,
    },
  });
}
