/**
 * The outbox: a connection's life-cycle change is recorded in the same DynamoDB write that makes it
 * (the Sessions row's `connEvent` / `connEventVersion` attributes, or the row's removal), and read
 * back from the table's change stream (DynamoDB Streams, NEW_AND_OLD_IMAGES; locally a feed of the
 * same shape). This module turns one such change record into the webhook event it stands for.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { webhookEventId, type WebhookEvent, type WebhookEventType } from './events.ts';

/** What an event-worthy connection write records on the row (`connEvent`). */
export type ConnectionEventKind = 'connected' | 'failed';

type StreamImage = NonNullable<NonNullable<DynamoDBRecord['dynamodb']>['NewImage']>;

/** Connection rows carry their owner; browser sessions never do. */
export const CONNECTION_ATTRIBUTE = 'ownerKeyId';

/**
 * Lambda event-source filter patterns (OR'ed): only records of connection rows reach the outbox
 * processor, so browser sessions' writes (touch, refresh rotation, lease) never invoke it.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-ddb-filtering.html
 */
export const CONNECTION_RECORD_FILTERS: readonly Record<string, unknown>[] = [
  { dynamodb: { NewImage: { [CONNECTION_ATTRIBUTE]: { S: [{ exists: true }] } } } },
  { eventName: ['REMOVE'], dynamodb: { OldImage: { [CONNECTION_ATTRIBUTE]: { S: [{ exists: true }] } } } },
];

/** The same filter as a predicate, for the local change feed (dynalite has no streams). */
export function isConnectionRecord(record: DynamoDBRecord): boolean {
  const image = record.eventName === 'REMOVE' ? record.dynamodb?.OldImage : record.dynamodb?.NewImage;
  return image?.[CONNECTION_ATTRIBUTE]?.S !== undefined;
}

const num = (image: StreamImage | undefined, name: string): number | undefined => {
  const value = image?.[name]?.N;
  return value === undefined ? undefined : Number(value);
};
const str = (image: StreamImage | undefined, name: string): string | undefined => image?.[name]?.S;

/** The row's outbox version; rows written before the outbox existed fall back to the token version. */
const eventVersionOf = (image: StreamImage | undefined): number | undefined =>
  num(image, 'connEventVersion') ?? num(image, 'version');

/**
 * The webhook event a change record stands for, or undefined when it is none (a refresh rotation,
 * a lease, a browser session's row). Everything comes from the images, so every copy of the record
 * (a Lambda retry, another Region's stream) gives the same event id.
 */
export function connectionEventOf(record: DynamoDBRecord, nowSec: number): WebhookEvent | undefined {
  if (!isConnectionRecord(record)) return undefined;
  const before = record.dynamodb?.OldImage;
  const after = record.dynamodb?.NewImage;
  const row = record.eventName === 'REMOVE' ? before : after;
  const rowId = str(row, 'id');
  const ownerKeyId = str(row, CONNECTION_ATTRIBUTE);
  const connectionId = str(row, 'connectionId');
  if (!rowId || !ownerKeyId || !connectionId) return undefined;

  let type: WebhookEventType;
  let version: number | undefined;
  if (record.eventName === 'REMOVE') {
    type = 'connection.deleted';
    // Nothing is written by a delete: one above the last event keeps receivers' ordering by version.
    const last = eventVersionOf(before);
    version = last === undefined ? undefined : last + 1;
  } else if (record.eventName === 'INSERT') {
    type = 'connection.created';
    version = eventVersionOf(after);
  } else {
    const moved = num(after, 'connEventVersion');
    // A write that left the outbox attributes as they were (rotation, lease, cool-down) is no event.
    if (moved === undefined || moved === num(before, 'connEventVersion')) return undefined;
    version = moved;
    if (str(after, 'connEvent') === 'failed') type = 'connection.failed';
    else type = str(before, CONNECTION_ATTRIBUTE) ? 'connection.reconnected' : 'connection.created';
  }
  if (version === undefined || !Number.isFinite(version)) return undefined;

  const state = type === 'connection.deleted' ? 'deleted' : str(after, 'connStatus') === 'failed' ? 'failed' : 'active';
  const reason = type === 'connection.failed' ? str(after, 'lastError') : undefined;
  const environment = str(row, 'defaultEnv');
  // Event-worthy writes store epoch milliseconds as their version; a delete has only the stream's time.
  const timestamp =
    type === 'connection.deleted'
      ? (record.dynamodb?.ApproximateCreationDateTime ?? nowSec)
      : Math.floor(version / 1000);
  return {
    id: webhookEventId(rowId, version, type),
    type,
    timestamp: Math.floor(timestamp),
    ownerKeyId,
    data: {
      connectionId,
      state,
      ...(reason !== undefined ? { reason } : {}),
      ...(environment !== undefined ? { environment } : {}),
      version,
    },
  };
}
