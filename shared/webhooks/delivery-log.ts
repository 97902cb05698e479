/**
 * The deliveries log behind `admin webhooks deliveries`: one row per attempt, in the short-lived
 * items table (kind `delivery`, expiring after DELIVERY_LOG_TTL_SECONDS like every item there).
 * It holds ids, status and times only: never a payload, a URL's query or a secret.
 */
import { PutItemCommand, ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WebhookEventType } from './events.ts';

export const DELIVERY_LOG_TTL_SECONDS = 7 * 24 * 3600;
const KIND = 'delivery';

export type DeliveryStatus = 'delivered' | 'retrying' | 'dead-lettered' | 'rejected' | 'dropped';

export interface DeliveryRecord {
  eventId: string;
  type: WebhookEventType;
  endpointId: string;
  /** 1-based. */
  attempt: number;
  status: DeliveryStatus;
  /** The receiver's HTTP status, when it answered. */
  httpStatus?: number;
  /** The sender's error code (`timeout`, `http_status`, `refused_address`, …) or why it was dropped. */
  error?: string;
  /** Epoch milliseconds. */
  at: number;
}

export interface DeliveryLog {
  record(entry: DeliveryRecord): Promise<void>;
  /** The newest `limit` entries, newest first. */
  recent(limit: number): Promise<DeliveryRecord[]>;
}

type Item = Record<string, AttributeValue>;

export class DynamoDeliveryLog implements DeliveryLog {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    /** The clock (epoch milliseconds) that decides which entries have expired. */
    private readonly nowMs: () => number = Date.now,
  ) {}

  async record(entry: DeliveryRecord): Promise<void> {
    const item: Item = {
      // Not a SHA-256 like the single-use items' ids, so it can never collide with one.
      id: { S: `delivery#${entry.eventId}#${entry.endpointId}#${entry.attempt}` },
      kind: { S: KIND },
      eventId: { S: entry.eventId },
      type: { S: entry.type },
      endpointId: { S: entry.endpointId },
      attempt: { N: String(entry.attempt) },
      status: { S: entry.status },
      at: { N: String(entry.at) },
      expiresAt: { N: String(Math.floor(entry.at / 1000) + DELIVERY_LOG_TTL_SECONDS) },
    };
    if (entry.httpStatus !== undefined) item.httpStatus = { N: String(entry.httpStatus) };
    if (entry.error !== undefined) item.error = { S: entry.error };
    await this.client.send(new PutItemCommand({ TableName: this.tableName, Item: item }));
  }

  async recent(limit: number): Promise<DeliveryRecord[]> {
    const nowSec = Math.floor(this.nowMs() / 1000);
    const entries: DeliveryRecord[] = [];
    let start: Item | undefined;
    do {
      const out = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ExclusiveStartKey: start,
          FilterExpression: 'kind = :kind AND expiresAt > :now',
          ExpressionAttributeValues: { ':kind': { S: KIND }, ':now': { N: String(nowSec) } },
        }),
      );
      entries.push(...(out.Items ?? []).map(toRecord));
      start = out.LastEvaluatedKey;
    } while (start);
    return entries.sort((a, b) => b.at - a.at || b.attempt - a.attempt).slice(0, limit);
  }
}

function toRecord(item: Item): DeliveryRecord {
  return {
    eventId: item.eventId?.S ?? '',
    type: (item.type?.S ?? '') as WebhookEventType,
    endpointId: item.endpointId?.S ?? '',
    attempt: Number(item.attempt?.N ?? 0),
    status: (item.status?.S ?? '') as DeliveryStatus,
    httpStatus: item.httpStatus?.N !== undefined ? Number(item.httpStatus.N) : undefined,
    error: item.error?.S,
    at: Number(item.at?.N ?? 0),
  };
}

/** One line per entry for the admin listing. */
export function formatDelivery(entry: DeliveryRecord): string {
  const outcome =
    entry.httpStatus !== undefined
      ? `${entry.status} (${entry.httpStatus})`
      : entry.error
        ? `${entry.status} (${entry.error})`
        : entry.status;
  return `${new Date(entry.at).toISOString()}  ${entry.eventId}  ${entry.type}  ${entry.endpointId}  attempt ${entry.attempt}  ${outcome}`;
}
