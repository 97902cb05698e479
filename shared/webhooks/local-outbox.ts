/**
 * Local mode's webhook pipeline: the local change feed → the same outbox processor → the in-process
 * queue → the same `deliverWebhook` and sender as AWS. Built on the first connection change.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import type { KeyProvider } from '../crypto/key-provider.ts';
import { logger } from '../observability/logger.ts';
import { deliverWebhook } from './delivery.ts';
import { createDynamoClient } from '../stores/dynamodb.ts';
import { DynamoDeliveryLog, type DeliveryLog } from './delivery-log.ts';
import type { WebhookEndpointStore } from './endpoints.ts';
import { LocalDeliveryQueue, type Scheduler } from './local-queue.ts';
import { processConnectionChanges } from './outbox.ts';
import { sendWebhook, webhookSenderDeps, type SenderDeps } from './sender.ts';

export interface LocalOutboxDeps {
  endpoints: WebhookEndpointStore;
  keys: KeyProvider;
  log: DeliveryLog;
  sender: SenderDeps;
  nowMs?: () => number;
  scheduler?: Scheduler;
  maxPending?: number;
}

export interface LocalOutbox {
  queue: LocalDeliveryQueue;
  /** The change feed's listener. */
  onChange(record: DynamoDBRecord): Promise<void>;
}

export function createLocalOutbox(deps: LocalOutboxDeps): LocalOutbox {
  const nowMs = deps.nowMs ?? (() => deps.scheduler?.nowMs() ?? Date.now());
  const queue = new LocalDeliveryQueue(
    (message, attempt) =>
      deliverWebhook(message, attempt, {
        endpoints: deps.endpoints,
        secrets: { keys: deps.keys },
        send: (url, secrets, event) => sendWebhook(url, secrets, event, deps.sender),
        log: deps.log,
        nowMs,
      }),
    { scheduler: deps.scheduler, maxPending: deps.maxPending },
  );
  return {
    queue,
    async onChange(record) {
      const result = await processConnectionChanges([record], {
        endpoints: deps.endpoints,
        queue,
        nowSec: () => Math.floor(nowMs() / 1000),
      });
      // A stream would hand the record over again; the local feed cannot (documented difference).
      if (result.failed) logger.warn('local mode: a connection change sent no webhook (store or queue failed)');
    },
  };
}

/** What the local feed takes from the process's services. */
export interface LocalWebhookServices {
  webhookEndpoints: WebhookEndpointStore;
  keys(): KeyProvider;
}

let processOutbox: LocalOutbox | undefined;

/** The process's local outbox, once a connection change has started it (tests wait on its queue). */
export function localWebhookOutbox(): LocalOutbox | undefined {
  return processOutbox;
}

/**
 * Local mode's change-feed listener: starts the pipeline on the first connection change, with the
 * same sender rules as AWS (plus the loopback allowance local mode has).
 */
export async function onLocalConnectionChange(
  record: DynamoDBRecord,
  config: { dynamodbEndpoint?: string; pendingLoginsTable: string; allowInsecureLoopback: boolean },
  services: () => LocalWebhookServices,
): Promise<void> {
  processOutbox ??= createLocalOutbox({
    endpoints: services().webhookEndpoints,
    keys: services().keys(),
    log: new DynamoDeliveryLog(createDynamoClient({ endpoint: config.dynamodbEndpoint }), config.pendingLoginsTable),
    sender: webhookSenderDeps(config),
  });
  await processOutbox.onChange(record);
}
