/**
 * Deletes expired rows from a table without DynamoDB TTL. Multi-Region strongly consistent global
 * tables do not support TTL ("Global tables configured for multi-Region strong consistency (MRSC) do
 * not support configuring Time To Live (TTL) deletion",
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html),
 * so a scheduled sweep does what TTL would: a paged Scan for `expiresAt < now`, then one conditional
 * DeleteItem per row on the same condition, so a row renewed between the Scan and the delete stays.
 * Readers already treat an expired row as absent; the sweep only reclaims storage.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  ScanCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

export interface SweepLimits {
  /** Epoch seconds; rows with `expiresAt` strictly below it are deleted. */
  readonly nowSeconds: number;
  /** At most this many deletes per run (the rest waits for the next run). */
  readonly maxDeletes: number;
  /** Stop starting new pages and deletes once this returns true (the function's time budget). */
  readonly outOfTime: () => boolean;
  /** Rows read per Scan page. */
  readonly pageSize?: number;
}

export interface SweepResult {
  readonly table: string;
  /** Scan pages read. */
  readonly pages: number;
  /** Rows deleted. */
  readonly deleted: number;
  /** Rows the Scan saw expired whose delete found them renewed (condition failed): kept. */
  readonly renewed: number;
  /** True when the whole table was scanned; false when a limit ended the run first. */
  readonly complete: boolean;
}

/** The attribute every table keeps its expiry in (shared/stores/tables.ts). */
const EXPIRY = 'expiresAt';

/** Sweeps one table whose partition key is `partitionKey` (no sort key). */
export async function sweepExpired(
  client: DynamoDBClient,
  table: string,
  partitionKey: string,
  limits: SweepLimits,
): Promise<SweepResult> {
  const now: AttributeValue = { N: String(Math.floor(limits.nowSeconds)) };
  let startKey: Record<string, AttributeValue> | undefined;
  let pages = 0;
  let deleted = 0;
  let renewed = 0;
  const stopped = () => deleted >= limits.maxDeletes || limits.outOfTime();
  do {
    if (stopped()) return { table, pages, deleted, renewed, complete: false };
    const page = await client.send(
      new ScanCommand({
        TableName: table,
        // Only the key comes back: the rows hold sealed tokens the sweep has no reason to read.
        ProjectionExpression: '#k',
        FilterExpression: '#e < :now',
        ExpressionAttributeNames: { '#k': partitionKey, '#e': EXPIRY },
        ExpressionAttributeValues: { ':now': now },
        Limit: limits.pageSize ?? 100,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    pages++;
    for (const item of page.Items ?? []) {
      if (stopped()) return { table, pages, deleted, renewed, complete: false };
      try {
        await client.send(
          new DeleteItemCommand({
            TableName: table,
            Key: { [partitionKey]: item[partitionKey]! },
            // Decided on the latest version of the row (MRSC conditional writes), not on the Scan's copy.
            ConditionExpression: '#e < :now',
            ExpressionAttributeNames: { '#e': EXPIRY },
            ExpressionAttributeValues: { ':now': now },
          }),
        );
        deleted++;
      } catch (err) {
        if (!(
          err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException'
        ))
          throw err;
        renewed++;
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return { table, pages, deleted, renewed, complete: true };
}
