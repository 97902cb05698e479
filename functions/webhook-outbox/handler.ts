import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { processConnectionChanges, type OutboxDeps } from '#shared/webhooks/outbox.ts';
import { webhookOutboxDeps } from '#shared/webhooks/aws-services.ts';

/**
 * The outbox processor: DynamoDB Streams records of connection rows (the event source's filter lets
 * no other row through) → delivery messages on the SQS queue. A failure reports the first record it
 * could not process, so Lambda reads it and those after it again (ReportBatchItemFailures).
 * https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
 */
export const outboxHandler =
  (deps: () => OutboxDeps) =>
  async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const result = await processConnectionChanges(event.Records, deps());
    const sequence = result.failed?.dynamodb?.SequenceNumber;
    return { batchItemFailures: sequence ? [{ itemIdentifier: sequence }] : [] };
  };

export const handler = outboxHandler(webhookOutboxDeps);
