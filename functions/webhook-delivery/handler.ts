import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { handleDeliveryBatch, type DeliveryBatchDeps } from '#shared/webhooks/sqs.ts';
import { webhookDeliveryDeps } from '#shared/webhooks/aws-services.ts';

/**
 * Delivers queued webhook messages: each is signed and sent; a retryable failure waits for the next
 * backoff step (the message's visibility), the last one goes to the dead-letter queue.
 */
export const deliveryHandler =
  (deps: () => DeliveryBatchDeps) =>
  async (event: SQSEvent): Promise<SQSBatchResponse> =>
    handleDeliveryBatch(event.Records, deps());

export const handler = deliveryHandler(webhookDeliveryDeps);
