/**
 * The AWS side of delivery: the SQS delivery queue as the outbox's `DeliveryQueue`, and the batch
 * logic of the delivery function (retry = the message's visibility set to the next backoff step;
 * the queue's redrive policy moves it to the dead-letter queue after the last attempt).
 */
import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { logger } from '../observability/logger.ts';
import { deliveryMessageBody, parseDeliveryMessage, type DeliveryMessage, type DeliveryOutcome } from './delivery.ts';
import type { DeliveryQueue } from './outbox.ts';
import { MAX_VISIBILITY_SECONDS } from './retry-schedule.ts';

/** The one place that builds the SQS client (bounded, like the DynamoDB client). */
export function createSqsClient(): SQSClient {
  return new SQSClient({
    region: process.env.AWS_REGION,
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
  });
}

/** SendMessageBatch takes at most 10 entries. */
const BATCH = 10;

export class SqsDeliveryQueue implements DeliveryQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(messages: readonly DeliveryMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += BATCH) {
      const chunk = messages.slice(i, i + BATCH);
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((m, j) => ({ Id: String(j), MessageBody: deliveryMessageBody(m) })),
        }),
      );
      // A batch call succeeds as a whole even when entries fail: those must be retried.
      if (out.Failed && out.Failed.length > 0) {
        throw new Error(
          `SQS refused ${out.Failed.length} of ${chunk.length} messages (${out.Failed[0]!.Code ?? 'unknown'})`,
        );
      }
    }
  }
}

export interface DeliveryBatchDeps {
  deliver(message: DeliveryMessage, attempt: number): Promise<DeliveryOutcome>;
  sqs: SQSClient;
  queueUrl: string;
  deadLetterQueueUrl: string;
}

/**
 * Handles one SQS batch; returns the messages to keep (ReportBatchItemFailures). Every message is
 * settled on its own, so one endpoint's failure never holds back another's delivery.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
 */
export async function handleDeliveryBatch(
  records: readonly SQSRecord[],
  deps: DeliveryBatchDeps,
): Promise<SQSBatchResponse> {
  const kept = await Promise.all(records.map((record) => settle(record, deps)));
  return { batchItemFailures: records.filter((_, i) => kept[i]).map((r) => ({ itemIdentifier: r.messageId })) };
}

/** True when the message stays in the queue (to be received again, or moved to the DLQ by SQS). */
async function settle(record: SQSRecord, deps: DeliveryBatchDeps): Promise<boolean> {
  const message = parseDeliveryMessage(record.body);
  if (!message) {
    logger.warn('unreadable webhook delivery message moved to the dead-letter queue', { messageId: record.messageId });
    return !(await toDeadLetterQueue(record, 'unreadable', deps));
  }
  const attempt = Number(record.attributes.ApproximateReceiveCount) || 1;
  const outcome = await deps.deliver(message, attempt);
  switch (outcome.status) {
    case 'delivered':
    case 'dropped':
      return false;
    case 'retry':
      await setVisibility(record, Math.min(outcome.delaySeconds, MAX_VISIBILITY_SECONDS), deps);
      return true;
    case 'dead-lettered':
      // Visible again at once: the next receive exceeds maxReceiveCount and SQS moves it to the DLQ.
      await setVisibility(record, 0, deps);
      return true;
    case 'rejected':
      return !(await toDeadLetterQueue(record, outcome.error, deps));
  }
}

/** If this fails, the message reappears after the queue's own visibility timeout: an earlier retry, not a lost one. */
async function setVisibility(record: SQSRecord, seconds: number, deps: DeliveryBatchDeps): Promise<void> {
  try {
    await deps.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: deps.queueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  } catch (err) {
    logger.warn('webhook retry delay not set', { messageId: record.messageId, error: (err as Error).name });
  }
}

/** Moves a message that no retry can fix straight to the DLQ; false when that failed (the message stays). */
async function toDeadLetterQueue(record: SQSRecord, reason: string, deps: DeliveryBatchDeps): Promise<boolean> {
  try {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.deadLetterQueueUrl,
        MessageBody: record.body,
        MessageAttributes: { reason: { DataType: 'String', StringValue: reason } },
      }),
    );
    return true;
  } catch (err) {
    logger.warn('webhook message not moved to the dead-letter queue', {
      messageId: record.messageId,
      error: (err as Error).name,
    });
    return false;
  }
}
