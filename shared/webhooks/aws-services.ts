/**
 * What the two webhook functions run with in AWS, built once per process from their environment
 * (set by infra/webhook-delivery.ts): table names, the token key, the queue URLs. Not the request handlers'
 * configuration: these functions serve no HTTP route and call no identity provider.
 */
import { createDynamoClient } from '../stores/dynamodb.ts';
import { DynamoWebhookEndpointStore } from './endpoint-store.ts';
import { KmsKeyProvider } from '../crypto/kms-key-provider.ts';
import { deliverWebhook } from './delivery.ts';
import { DynamoDeliveryLog } from './delivery-log.ts';
import type { OutboxDeps } from './outbox.ts';
import { sendWebhook, webhookSenderDeps } from './sender.ts';
import { createSqsClient, SqsDeliveryQueue, type DeliveryBatchDeps } from './sqs.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Invalid configuration: ${name} is required`);
  return value;
}

let outbox: OutboxDeps | undefined;
export function webhookOutboxDeps(): OutboxDeps {
  outbox ??= {
    endpoints: new DynamoWebhookEndpointStore(createDynamoClient(), required('API_KEYS_TABLE')),
    queue: new SqsDeliveryQueue(createSqsClient(), required('WEBHOOK_QUEUE_URL')),
    nowSec: () => Math.floor(Date.now() / 1000),
  };
  return outbox;
}

let delivery: DeliveryBatchDeps | undefined;
export function webhookDeliveryDeps(): DeliveryBatchDeps {
  if (delivery) return delivery;
  const dynamo = createDynamoClient();
  const endpoints = new DynamoWebhookEndpointStore(dynamo, required('API_KEYS_TABLE'));
  const keys = new KmsKeyProvider(required('KMS_KEY_ID'));
  const log = new DynamoDeliveryLog(dynamo, required('PENDING_LOGINS_TABLE'));
  // Deployed: https only, public addresses only (no loopback allowance outside local mode).
  const sender = webhookSenderDeps({ allowInsecureLoopback: false });
  delivery = {
    deliver: (message, attempt) =>
      deliverWebhook(message, attempt, {
        endpoints,
        secrets: { keys },
        send: (url, secrets, event) => sendWebhook(url, secrets, event, sender),
        log,
        nowMs: Date.now,
      }),
    sqs: createSqsClient(),
    queueUrl: required('WEBHOOK_QUEUE_URL'),
    deadLetterQueueUrl: required('WEBHOOK_DLQ_URL'),
  };
  return delivery;
}
