import { DeleteItemCommand, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StoreUnavailableError } from '../model.ts';
import { num, s, type Item } from './attributes.ts';
import { attempt, request } from './requests.ts';

export type SingleUseKind = 'login' | 'handoff' | 'connect' | 'environment-choice' | 'admin-consent';

/** Rows written before `kind` existed are logins. */
const kindOf = (item: Item): string => item.kind?.S ?? 'login';

/**
 * DynamoDB TTL deletes expired items only eventually (DynamoDB Developer Guide, "Time to Live"), so
 * a read treats an item at or past its `expiresAt` (epoch seconds) as absent.
 */
export function unexpired(item: Item | undefined, nowSeconds: number): Item | undefined {
  return item && num(item, 'expiresAt') > nowSeconds ? item : undefined;
}

/**
 * Single-use items (pending logins, admin-consent requests, handoffs, connect sessions, environment
 * choices) share one table: written once under a fresh id, consumed once by a conditional delete
 * that returns the old item (DESIGN: state is consumed once), and absent once past `expiresAt` even
 * before TTL deletes them.
 */
export class SingleUseItems {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async put(item: Item): Promise<void> {
    const ok = await attempt(() =>
      this.client.send(
        new PutItemCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(id)' }),
      ),
    );
    if (ok === false) throw new StoreUnavailableError('Id collision: the single-use item already exists');
  }

  /** Reads without consuming: a GetItem is not filtered by kind, so the kind is checked here. */
  async get(id: string, kind: SingleUseKind, nowSeconds: number): Promise<Item | undefined> {
    const out = await request(() =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { id: s(id) }, ConsistentRead: true })),
    );
    return out.Item && kindOf(out.Item) === kind ? unexpired(out.Item, nowSeconds) : undefined;
  }

  /**
   * Deletes the item only if it is of `kind`: the kind check is part of the delete's condition, so
   * naming another kind's id (a connect token sent as a handoff, a handoff sent as `state`) destroys
   * nothing, and the item the delete returns is of `kind`.
   */
  async consume(id: string, kind: SingleUseKind, nowSeconds: number): Promise<Item | undefined> {
    const out = await attempt(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { id: s(id) },
          ConditionExpression:
            kind === 'login'
              ? 'attribute_exists(id) AND (kind = :kind OR attribute_not_exists(kind))'
              : 'attribute_exists(id) AND kind = :kind',
          ExpressionAttributeValues: { ':kind': s(kind) },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    return out === false ? undefined : unexpired(out.Attributes, nowSeconds);
  }
}
