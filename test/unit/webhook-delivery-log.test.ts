import { DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DELIVERY_LOG_TTL_SECONDS, DynamoDeliveryLog } from '../../shared/webhooks/delivery-log.ts';

const ddb = mockClient(DynamoDBClient);
const client = new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });

beforeEach(() => ddb.reset());

describe('DynamoDeliveryLog', () => {
  // A clock far from the real one: a log that read the wall clock would filter with another time.
  const nowMs = 1_000_000_123;

  it('leaves out entries expired by its own clock, not the wall clock', async () => {
    ddb.on(ScanCommand).resolves({ Items: [] });
    await new DynamoDeliveryLog(client, 'PendingLogins', () => nowMs).recent(10);
    const input = ddb.commandCalls(ScanCommand)[0]!.args[0].input;
    expect(input.FilterExpression).toBe('kind = :kind AND expiresAt > :now');
    expect(input.ExpressionAttributeValues).toEqual({ ':kind': { S: 'delivery' }, ':now': { N: '1000000' } });
  });

  it('expires an entry DELIVERY_LOG_TTL_SECONDS after the attempt it records', async () => {
    ddb.on(PutItemCommand).resolves({});
    await new DynamoDeliveryLog(client, 'PendingLogins', () => nowMs).record({
      eventId: 'e',
      type: 'connection.created',
      endpointId: 'w',
      attempt: 1,
      status: 'delivered',
      at: nowMs,
    });
    const item = ddb.commandCalls(PutItemCommand)[0]!.args[0].input.Item!;
    expect(item.expiresAt).toEqual({ N: String(1_000_000 + DELIVERY_LOG_TTL_SECONDS) });
  });
});
