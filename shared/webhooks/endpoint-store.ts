import { GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { attempt, request } from '../stores/dynamodb.ts';
import { StoreUnavailableError } from '../stores/model.ts';
import type { WebhookEndpoint, WebhookEndpointSecret, WebhookEndpointStore } from './endpoints.ts';

type Item = Record<string, AttributeValue>;

/** The item kind in the API keys table; API key items have no `kind` (see DynamoApiKeyStore). */
export const WEBHOOK_ENDPOINTS_KIND = 'webhook-endpoints';

/** Item id of an owner's endpoints; never a key hash (those are 43 base64url characters, no `#`). */
export const webhookEndpointsItemId = (ownerKeyId: string) => `webhooks#${ownerKeyId}`;

const MAX_ATTEMPTS = 8;

/**
 * An API key's webhook endpoints as ONE item in the API keys table (no new table): the endpoint cap
 * is checked in the same conditional write that adds one, and a delivery reads them with one GetItem.
 * Writes are read-modify-write under a version condition (optimistic concurrency), retried on conflict.
 */
export class DynamoWebhookEndpointStore implements WebhookEndpointStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async create(endpoint: WebhookEndpoint, maxPerOwner: number): Promise<boolean> {
    let added = false;
    await this.change(endpoint.ownerKeyId, (endpoints) => {
      added = endpoints.length < maxPerOwner;
      return added ? [...endpoints, endpoint] : undefined;
    });
    return added;
  }

  async list(ownerKeyId: string): Promise<WebhookEndpoint[]> {
    return (await this.read(ownerKeyId)).endpoints;
  }

  async get(ownerKeyId: string, id: string): Promise<WebhookEndpoint | undefined> {
    return (await this.list(ownerKeyId)).find((e) => e.id === id);
  }

  async delete(ownerKeyId: string, id: string): Promise<boolean> {
    let found = false;
    await this.change(ownerKeyId, (endpoints) => {
      found = endpoints.some((e) => e.id === id);
      return found ? endpoints.filter((e) => e.id !== id) : undefined;
    });
    return found;
  }

  async rotateSecret(
    ownerKeyId: string,
    id: string,
    secrets: WebhookEndpointSecret[],
  ): Promise<WebhookEndpoint | undefined> {
    let rotated: WebhookEndpoint | undefined;
    await this.change(ownerKeyId, (endpoints) => {
      const index = endpoints.findIndex((e) => e.id === id);
      if (index < 0) return undefined;
      rotated = { ...endpoints[index]!, secrets };
      return endpoints.map((e, i) => (i === index ? rotated! : e));
    });
    return rotated;
  }

  private async read(ownerKeyId: string): Promise<{ version: number; endpoints: WebhookEndpoint[] }> {
    const out = await request(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { id: { S: webhookEndpointsItemId(ownerKeyId) } },
          ConsistentRead: true,
        }),
      ),
    );
    const item = out.Item;
    if (!item || item.kind?.S !== WEBHOOK_ENDPOINTS_KIND) return { version: 0, endpoints: [] };
    return {
      version: Number(item.version?.N ?? 0),
      endpoints: (item.endpoints?.L ?? []).map((v) => toEndpoint(ownerKeyId, v.M ?? {})),
    };
  }

  /** Applies `update` to the current list and writes it if nobody wrote in between; `undefined` = no change. */
  private async change(
    ownerKeyId: string,
    update: (endpoints: WebhookEndpoint[]) => WebhookEndpoint[] | undefined,
  ): Promise<void> {
    for (let i = 0; i < MAX_ATTEMPTS; i += 1) {
      const { version, endpoints } = await this.read(ownerKeyId);
      const next = update(endpoints);
      if (next === undefined) return;
      const written = await attempt(() =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: {
              id: { S: webhookEndpointsItemId(ownerKeyId) },
              kind: { S: WEBHOOK_ENDPOINTS_KIND },
              ownerKeyId: { S: ownerKeyId },
              version: { N: String(version + 1) },
              endpoints: { L: next.map((e) => ({ M: fromEndpoint(e) })) },
            },
            ConditionExpression: version === 0 ? 'attribute_not_exists(id)' : 'version = :v',
            ...(version === 0 ? {} : { ExpressionAttributeValues: { ':v': { N: String(version) } } }),
          }),
        ),
      );
      if (written !== false) return;
    }
    throw new StoreUnavailableError('Webhook endpoints changed concurrently; try again');
  }
}

function fromEndpoint(e: WebhookEndpoint): Item {
  return {
    id: { S: e.id },
    url: { S: e.url },
    createdAt: { N: String(e.createdAt) },
    secrets: {
      L: e.secrets.map((s) => ({
        M: {
          dataKey: { B: s.sealed.dataKey },
          ciphertext: { B: s.sealed.ciphertext },
          createdAt: { N: String(s.createdAt) },
          ...(s.expiresAt !== undefined ? { expiresAt: { N: String(s.expiresAt) } } : {}),
        },
      })),
    },
  };
}

function toEndpoint(ownerKeyId: string, m: Item): WebhookEndpoint {
  return {
    id: m.id?.S ?? '',
    ownerKeyId,
    url: m.url?.S ?? '',
    createdAt: Number(m.createdAt?.N ?? 0),
    secrets: (m.secrets?.L ?? []).map((v) => {
      const s = v.M ?? {};
      return {
        sealed: { dataKey: s.dataKey?.B ?? new Uint8Array(), ciphertext: s.ciphertext?.B ?? new Uint8Array() },
        createdAt: Number(s.createdAt?.N ?? 0),
        ...(s.expiresAt?.N !== undefined ? { expiresAt: Number(s.expiresAt.N) } : {}),
      };
    }),
  };
}
