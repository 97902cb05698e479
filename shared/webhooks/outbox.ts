/**
 * The outbox processor: change records of connection rows → webhook events → one queue message per
 * event and endpoint of the connection's owner. Run by the stream function in AWS and by the local
 * change feed, with the same records.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { logger } from '../observability/logger.ts';
import { connectionEventOf } from './connection-events.ts';
import type { DeliveryMessage } from './delivery.ts';
import type { WebhookEndpointStore } from './endpoints.ts';

/** Where delivery messages go: the SQS delivery queue, or the local in-process queue. */
export interface DeliveryQueue {
  send(messages: readonly DeliveryMessage[]): Promise<void>;
}

export interface OutboxDeps {
  endpoints: Pick<WebhookEndpointStore, 'list'>;
  queue: DeliveryQueue;
  nowSec(): number;
}

export interface OutboxResult {
  /** Messages queued. */
  queued: number;
  /**
   * The first record that could not be processed (store or queue failure); it and the records
   * after it are to be read again (Lambda: its SequenceNumber as the batch item failure).
   */
  failed?: DynamoDBRecord;
}

/** Processes records in stream order, stopping at the first failure so nothing after it overtakes it. */
export async function processConnectionChanges(
  records: readonly DynamoDBRecord[],
  deps: OutboxDeps,
): Promise<OutboxResult> {
  let queued = 0;
  for (const record of records) {
    const event = connectionEventOf(record, deps.nowSec());
    if (!event) continue;
    try {
      const endpoints = await deps.endpoints.list(event.ownerKeyId);
      if (endpoints.length === 0) continue;
      await deps.queue.send(endpoints.map((e) => ({ endpointId: e.id, event })));
      queued += endpoints.length;
      logger.info('webhook event queued', { eventId: event.id, type: event.type, endpoints: endpoints.length });
    } catch (err) {
      logger.warn('webhook event not queued; the change will be read again', {
        eventId: event.id,
        error: (err as Error).name,
      });
      return { queued, failed: record };
    }
  }
  return { queued };
}
