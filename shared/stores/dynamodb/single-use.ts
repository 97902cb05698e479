import { DeleteItemCommand, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StoreUnavailableError } from '../model.ts';
import { num, s, type Item } from './attributes.ts';
import { attempt } from './requests.ts';

export type SingleUseKind = 'login' | 'handoff' | 'connect' | 'environment-choice' | 'admin-consent';

/**
 * Single-use items (pending logins, handoffs, connect sessions) share one table: written once under
 * a fresh id, consumed once by a conditional delete that returns the old item (DESIGN: state is
 * consumed once), and absent once past `expiresAt` even before TTL deletes them.
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

  async get(id: string, kind: SingleUseKind, nowSeconds: number): Promise<Item | undefined> {
    const out = await attempt(() =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { id: s(id) }, ConsistentRead: true })),
    );
    const item = out === false ? undefined : out.Item;
    if (!item || (item.kind?.S ?? 'login') !== kind) return undefined;
    return num(item, 'expiresAt') > nowSeconds ? item : undefined;
  }

  /**
   * Deletes the item only if it is of `kind`: the kind check is part of the delete's condition, so
   * naming another kind's id (a connect token sent as a handoff, a handoff sent as `state`) destroys
   * nothing. Rows written before `kind` existed are logins.
   */
  async consume(id: string, kind: SingleUseKind, nowSeconds: number): Promise<Item | undefined> {
    const out = await attempt(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { id: s(id) },
          ConditionExpression:
            kind === 'login' ? 'attribute_exists(id) AND (kind = :kind OR attribute_not_exists(kind))' : 'attribute_exists(id) AND kind = :kind',
          ExpressionAttributeValues: { ':kind': s(kind) },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    const item = out === false ? undefined : out.Attributes;
    if (!item || (item.kind?.S ?? 'login') !== kind) return undefined;
    return num(item, 'expiresAt') > nowSeconds ? item : undefined;
  }
}
