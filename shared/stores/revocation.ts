import { QueryCommand, ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { RowOwner, SessionStore } from './model.ts';
import { SESSIONS_BY_TENANT_INDEX, tenantKey } from './tables.ts';

type Item = Record<string, AttributeValue>;

/** How the rows to end are found. */
export type RevocationLookup =
  /** Query the index by tenant (and user): reads only the target's index entries. */
  | 'index-query'
  /** A user without a tenant: Scan the keys-only index (every entry, ~100 bytes each). */
  | 'index-scan'
  /** Scan the whole table: also finds rows written before the index attributes existed. */
  | 'table-scan';

export interface RevocationOptions {
  /** Scan the table instead of using the index (rows that predate the index). */
  scan?: boolean;
  /** Items per Query/Scan page (DynamoDB's own 1 MB page when absent). */
  pageSize?: number;
  /** Deletes in flight at once. */
  concurrency?: number;
}

export interface RevocationResult {
  lookup: RevocationLookup;
  /** Rows deleted by this run. */
  revoked: number;
  /** Index entries or table rows examined. */
  examined: number;
}

export function revocationLookup(owner: RowOwner, options: RevocationOptions = {}): RevocationLookup {
  if (options.scan) return 'table-scan';
  return owner.tenantId !== undefined ? 'index-query' : 'index-scan';
}

/**
 * Ends every row of `owner` (its sessions, or its managed connections): pages of candidate ids from
 * the index (or a Scan), each deleted through the store's own `delete`, conditional on still being
 * the owner's (the index is eventually consistent). Deleting a row also ends any refresh in flight
 * for it: the rotation's write is conditional on the row (shared/stores/dynamodb/sessions.ts).
 */
export async function revokeRows(
  client: DynamoDBClient,
  tableName: string,
  store: Pick<SessionStore, 'delete'>,
  owner: RowOwner,
  options: RevocationOptions = {},
): Promise<RevocationResult> {
  if (owner.tenantId === undefined && owner.userId === undefined)
    throw new Error('A revocation needs a tenant or a user');
  const lookup = revocationLookup(owner, options);
  const concurrency = options.concurrency ?? 16;
  let revoked = 0;
  let examined = 0;
  for await (const ids of candidatePages(client, tableName, owner, lookup, options.pageSize)) {
    examined += ids.length;
    for (let i = 0; i < ids.length; i += concurrency) {
      const deleted = await Promise.all(ids.slice(i, i + concurrency).map((id) => store.delete(id, owner)));
      revoked += deleted.filter(Boolean).length;
    }
  }
  return { lookup, revoked, examined };
}

/** Pages of row ids that may be the owner's; Query and Scan pages follow LastEvaluatedKey. */
async function* candidatePages(
  client: DynamoDBClient,
  tableName: string,
  owner: RowOwner,
  lookup: RevocationLookup,
  pageSize: number | undefined,
): AsyncGenerator<string[]> {
  const index = SESSIONS_BY_TENANT_INDEX;
  let start: Item | undefined;
  do {
    const common = { TableName: tableName, ExclusiveStartKey: start, Limit: pageSize, ProjectionExpression: 'id' };
    let out: { Items?: Item[]; LastEvaluatedKey?: Item };
    if (lookup === 'index-query') {
      out = await client.send(
        new QueryCommand({
          ...common,
          IndexName: index.indexName,
          KeyConditionExpression: owner.userId !== undefined ? '#pk = :pk AND #sk = :sk' : '#pk = :pk',
          ExpressionAttributeNames:
            owner.userId !== undefined
              ? { '#pk': index.partitionKey, '#sk': index.sortKey }
              : { '#pk': index.partitionKey },
          ExpressionAttributeValues: {
            ':pk': { S: tenantKey(owner.kind, owner.tenantId!) },
            ...(owner.userId !== undefined ? { ':sk': { S: owner.userId } } : {}),
          },
        }),
      );
    } else if (lookup === 'index-scan') {
      out = await client.send(
        new ScanCommand({
          ...common,
          IndexName: index.indexName,
          FilterExpression: '#sk = :sk AND begins_with(#pk, :kind)',
          ExpressionAttributeNames: { '#pk': index.partitionKey, '#sk': index.sortKey },
          ExpressionAttributeValues: { ':sk': { S: owner.userId! }, ':kind': { S: tenantKey(owner.kind, '') } },
        }),
      );
    } else {
      const filter = ownerCondition(owner);
      out = await client.send(
        new ScanCommand({ ...common, FilterExpression: filter.expression, ExpressionAttributeValues: filter.values }),
      );
    }
    yield (out.Items ?? []).flatMap((item) => (item.id?.S !== undefined ? [item.id.S] : []));
    start = out.LastEvaluatedKey;
  } while (start);
}

/**
 * The test that a row is the owner's: the revoking delete's condition and the table Scan's filter
 * (which also matches rows without the index attributes).
 */
export function ownerCondition(owner: RowOwner): { expression: string; values: Item } {
  const conditions = [
    owner.kind === 'connection' ? 'attribute_exists(ownerKeyId)' : 'attribute_not_exists(ownerKeyId)',
  ];
  const values: Item = {};
  if (owner.tenantId !== undefined) {
    conditions.push('tid = :tid');
    values[':tid'] = { S: owner.tenantId };
  }
  if (owner.userId !== undefined) {
    conditions.push('oid = :oid');
    values[':oid'] = { S: owner.userId };
  }
  return { expression: conditions.join(' AND '), values };
}
