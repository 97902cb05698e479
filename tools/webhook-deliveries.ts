/**
 * `admin webhooks deliveries [--limit N]`: the newest delivery attempts from the deliveries log
 * (event id, type, endpoint id, attempt, status, time). Uses PENDING_LOGINS_TABLE (default
 * PendingLogins) in AWS, or DYNAMODB_ENDPOINT in local mode.
 */
import { createDynamoClient } from '../shared/stores/dynamodb.ts';
import { DynamoDeliveryLog, formatDelivery } from '../shared/webhooks/delivery-log.ts';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1_000;

export async function deliveriesCommand(args: string[]): Promise<number> {
  const at = args.indexOf('--limit');
  const limit = at >= 0 ? Number(args[at + 1]) : DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    console.error(`webhooks deliveries: --limit must be a whole number from 1 to ${MAX_LIMIT}`);
    return 2;
  }
  const client = createDynamoClient({ endpoint: process.env.DYNAMODB_ENDPOINT });
  try {
    const entries = await new DynamoDeliveryLog(client, process.env.PENDING_LOGINS_TABLE ?? 'PendingLogins').recent(
      limit,
    );
    if (entries.length === 0) console.log('No webhook deliveries in the log (entries expire after 7 days).');
    for (const entry of entries) console.log(formatDelivery(entry));
    return 0;
  } finally {
    client.destroy();
  }
}
