import type { Context } from 'aws-lambda';
import { logger } from '#shared/observability/logger.ts';
import { createDynamoClient } from '#shared/stores/dynamodb.ts';
import { sweepExpired, type SweepResult } from '#shared/stores/sweeper.ts';
import { TABLES } from '#shared/stores/tables.ts';

/** Deletes per run across the tables; the next scheduled run takes the rest. */
export const MAX_DELETES_PER_RUN = 20_000;
/** Time left for the last DeleteItem to finish before the function's own timeout. */
const SAFETY_MS = 10_000;

/**
 * Scheduled (EventBridge) in one Region of a multi-Region deployment: deletes expired rows from the
 * global tables, which have no DynamoDB TTL in multi-Region strong consistency mode.
 */
export async function handler(
  _event: unknown,
  context: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<SweepResult[]> {
  const client = createDynamoClient();
  const outOfTime = () => context.getRemainingTimeInMillis() < SAFETY_MS;
  const results: SweepResult[] = [];
  let budget = MAX_DELETES_PER_RUN;
  for (const def of TABLES) {
    const table = process.env[def.envVar];
    if (!table) continue;
    const result = await sweepExpired(client, table, def.partitionKey, {
      nowSeconds: Date.now() / 1000,
      maxDeletes: budget,
      outOfTime,
    });
    budget -= result.deleted;
    results.push(result);
    logger.info('expired rows swept', { ...result });
  }
  return results;
}
