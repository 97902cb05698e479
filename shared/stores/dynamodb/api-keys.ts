import {
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { StoreUnavailableError, type ApiKey, type ApiKeyStore } from '../model.ts';
import { n, num, optNum, s, str, type Item } from './attributes.ts';
import { attempt, request } from './requests.ts';

export class DynamoApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async find(id: string): Promise<ApiKey | undefined> {
    const out = await request(() =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { id: s(id) }, ConsistentRead: true })),
    );
    const item = out.Item;
    // Other kinds of item share the table (webhook endpoints): only key items have no `kind`.
    if (!item || item.kind !== undefined) return undefined;
    const key = toApiKey(item);
    return key.revokedAt === undefined ? key : undefined;
  }

  async create(key: ApiKey): Promise<void> {
    const ok = await attempt(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            id: s(key.id),
            keyId: s(key.keyId),
            name: s(key.name),
            createdAt: n(key.createdAt),
            ...(key.allowImpersonation ? { allowImpersonation: { BOOL: true } } : {}),
          },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      ),
    );
    if (ok === false) throw new StoreUnavailableError('API key collision');
  }

  async list(): Promise<ApiKey[]> {
    const keys: ApiKey[] = [];
    let start: Item | undefined;
    do {
      const out = await request(() =>
        this.client.send(
          new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start, ConsistentRead: true }),
        ),
      );
      // Other kinds of item share the table (webhook endpoints): only key items have no `kind`.
      keys.push(...(out.Items ?? []).filter((item) => item.kind === undefined).map(toApiKey));
      start = out.LastEvaluatedKey;
    } while (start);
    return keys.sort((a, b) => a.createdAt - b.createdAt);
  }

  async revoke(keyId: string, nowMs: number): Promise<boolean> {
    const key = (await this.list()).find((k) => k.keyId === keyId && k.revokedAt === undefined);
    if (!key) return false;
    const ok = await attempt(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { id: s(key.id) },
          UpdateExpression: 'SET revokedAt = :now',
          ConditionExpression: 'attribute_exists(id)',
          ExpressionAttributeValues: { ':now': n(nowMs) },
        }),
      ),
    );
    return ok !== false;
  }
}

function toApiKey(item: Item): ApiKey {
  return {
    id: str(item, 'id'),
    keyId: str(item, 'keyId'),
    name: str(item, 'name'),
    createdAt: num(item, 'createdAt'),
    revokedAt: optNum(item, 'revokedAt'),
    // Keys stored before the flag existed have no attribute: disabled.
    allowImpersonation: item.allowImpersonation?.BOOL === true,
  };
}
