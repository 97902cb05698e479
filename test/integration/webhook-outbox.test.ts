/**
 * The outbox against a real DynamoDB API (dynalite): a connection write carries its event in the
 * same item write; the local change feed hands the processor the stream's old and new images; the
 * processor derives each life-cycle event (and no event from rotations, leases or browser sessions);
 * a failing queue or listener never fails the write.
 */
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { outboxHandler } from '../../functions/webhook-outbox/handler.ts';
import { createTables, startEmbeddedDynamo, type EmbeddedDynamo } from '../../local/dynamodb.ts';
import { createDynamoClient, DynamoSessionStore } from '../../shared/stores/dynamodb.ts';
import type { Session } from '../../shared/stores/model.ts';
import { connectionEventOf, isConnectionRecord } from '../../shared/webhooks/connection-events.ts';
import type { DeliveryMessage } from '../../shared/webhooks/delivery.ts';
import type { WebhookEndpoint } from '../../shared/webhooks/endpoints.ts';
import { attachChangeFeed } from '../../shared/webhooks/local-change-feed.ts';
import { processConnectionChanges, type OutboxDeps } from '../../shared/webhooks/outbox.ts';

let dynamo: EmbeddedDynamo;
let client: DynamoDBClient;
let sessions: DynamoSessionStore;
let records: DynamoDBRecord[];

beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
  client = createDynamoClient({ endpoint: dynamo.endpoint });
  await createTables(client);
  // Every record of the Sessions table, unfiltered, to see what the filter keeps out.
  attachChangeFeed(client, 'Sessions', (record) => void records.push(record));
  sessions = new DynamoSessionStore(client, 'Sessions');
});
afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});
beforeEach(() => {
  records = [];
});

/** The feed hands records over after the write has answered: wait (bounded) for `count` of them. */
async function recordsAfterWrites(count: number): Promise<DynamoDBRecord[]> {
  for (let i = 0; i < 100 && records.length < count; i += 1) await new Promise((r) => setTimeout(r, 10));
  expect(records).toHaveLength(count);
  return records.splice(0);
}

const T0 = 1_800_000_000_000;
function row(id: string, version: number, connection?: Session['connection']): Session {
  return {
    id,
    user: { oid: 'oid-1', tid: 'tid-1', sub: 'sub-1' },
    dataKey: new Uint8Array([1, 2, 3]),
    accessToken: new Uint8Array([4, 5, 6]),
    refreshToken: new Uint8Array([7, 8, 9]),
    accessTokenExpiresAt: T0 + 3_600_000,
    version,
    createdAt: version,
    lastSeenAt: version,
    expiresAt: Math.floor(T0 / 1000) + 86_400 * 3650,
    ...(connection ? { connection } : {}),
    defaultEnvironment: 'https://contoso.crm.dynamics.com',
  };
}
const CONNECTION = { ownerKeyId: 'key_alpha', connectionId: 'customer-42', status: 'active' as const };
const NOW_SEC = Math.floor(T0 / 1000);

describe('connection writes record their event in the same item write', () => {
  it('a new connection row carries connEvent and connEventVersion in its PutItem', async () => {
    await sessions.putConnection(row('conn-a', T0, CONNECTION));
    const item = (await client.send(new GetItemCommand({ TableName: 'Sessions', Key: { id: { S: 'conn-a' } } }))).Item!;
    expect(item.connEvent).toEqual({ S: 'connected' });
    expect(item.connEventVersion).toEqual({ N: String(T0) });
    const [record] = await recordsAfterWrites(1);
    expect(record!.eventName).toBe('INSERT');
    expect(record!.dynamodb!.NewImage!.connEvent).toEqual({ S: 'connected' });
  });

  it('derives created, reconnected, failed (with reason) and deleted from real old and new images', async () => {
    await sessions.putConnection(row('conn-b', T0, CONNECTION));
    await sessions.putConnection(row('conn-b', T0 + 60_000, CONNECTION));
    expect(await sessions.acquireRefreshLease('conn-b', T0 + 60_000, 'lease-1', T0 + 70_000, T0 + 61_000)).toBe(true);
    await sessions.markConnectionFailed('conn-b', T0 + 60_000, 'lease-1', 'invalid_grant', T0 + 62_000);
    await sessions.delete('conn-b');
    const changes = await recordsAfterWrites(5);
    expect(changes.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'MODIFY', 'MODIFY', 'REMOVE']);

    const events = changes.map((r) => connectionEventOf(r, NOW_SEC));
    expect(events.map((e) => e && [e.type, e.data.state, e.data.version, e.data.reason])).toEqual([
      ['connection.created', 'active', T0, undefined],
      ['connection.reconnected', 'active', T0 + 60_000, undefined],
      // The lease write is no event.
      undefined,
      ['connection.failed', 'failed', T0 + 62_000, 'invalid_grant'],
      // Nothing is written by a delete: one above the last event's version.
      ['connection.deleted', 'deleted', T0 + 62_001, undefined],
    ]);
    for (const e of events.filter(Boolean)) {
      expect(e).toMatchObject({
        ownerKeyId: 'key_alpha',
        data: { connectionId: 'customer-42', environment: 'https://contoso.crm.dynamics.com' },
      });
      expect(e!.id).toMatch(/^evt_/);
    }
    // Versions grow, so a receiver can discard an older event that arrives late.
    const versions = events.filter(Boolean).map((e) => e!.data.version);
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    // Another copy of a record (a Lambda retry, another Region's stream) is the same event.
    expect(connectionEventOf(structuredClone(changes[3]!), NOW_SEC + 999)!.id).toBe(events[3]!.id);
    expect(new Set(events.filter(Boolean).map((e) => e!.id)).size).toBe(4);
    // Payload material only: no token, no key, no user.
    expect(JSON.stringify(events)).not.toMatch(/oid-1|refreshToken|BAcI|sub-1/);
  });

  it('a refresh rotation of a connection is no event', async () => {
    await sessions.putConnection(row('conn-c', T0, CONNECTION));
    await sessions.acquireRefreshLease('conn-c', T0, 'lease-2', T0 + 10_000, T0 + 1);
    await sessions.saveRotatedTokens(
      'conn-c',
      T0,
      'lease-2',
      { dataKey: new Uint8Array([9]), refreshToken: new Uint8Array([8]) },
      T0 + 2,
    );
    const changes = await recordsAfterWrites(3);
    expect(changes.map((r) => connectionEventOf(r, NOW_SEC)?.type)).toEqual([
      'connection.created',
      undefined,
      undefined,
    ]);
  });

  it("keeps browser sessions' writes away from the processor (the stream filter)", async () => {
    await sessions.create(row('browser-1', 1));
    await sessions.touch('browser-1', T0 + 5);
    await sessions.delete('browser-1');
    const changes = await recordsAfterWrites(3);
    expect(changes.map(isConnectionRecord)).toEqual([false, false, false]);
    expect(changes.map((r) => connectionEventOf(r, NOW_SEC))).toEqual([undefined, undefined, undefined]);
  });

  it('a row written before the outbox existed gives no event on a rotation, and a failed event when marked', async () => {
    // As stored by earlier releases: no outbox attributes.
    const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
    await client.send(
      new PutItemCommand({
        TableName: 'Sessions',
        Item: {
          id: { S: 'conn-old' },
          oid: { S: 'o' },
          tid: { S: 't' },
          sub: { S: 's' },
          dataKey: { B: new Uint8Array([1]) },
          accessToken: { B: new Uint8Array([1]) },
          refreshToken: { B: new Uint8Array([1]) },
          accessTokenExpiresAt: { N: '1' },
          version: { N: '3' },
          createdAt: { N: '1' },
          lastSeenAt: { N: '1' },
          expiresAt: { N: String(NOW_SEC + 1000) },
          ownerKeyId: { S: 'key_alpha' },
          connectionId: { S: 'legacy' },
          connStatus: { S: 'active' },
        },
      }),
    );
    await sessions.acquireRefreshLease('conn-old', 3, 'lease-3', T0 + 10_000, T0);
    await sessions.saveRotatedTokens(
      'conn-old',
      3,
      'lease-3',
      { dataKey: new Uint8Array([2]), refreshToken: new Uint8Array([2]) },
      T0 + 1,
    );
    await sessions.acquireRefreshLease('conn-old', 4, 'lease-4', T0 + 10_000, T0 + 2);
    await sessions.markConnectionFailed('conn-old', 4, 'lease-4', 'interaction_required', T0 + 3);
    const changes = await recordsAfterWrites(5);
    expect(changes.map((r) => connectionEventOf(r, NOW_SEC)?.type)).toEqual([
      'connection.created',
      undefined,
      undefined,
      undefined,
      'connection.failed',
    ]);
  });
});

describe('outbox processor', () => {
  const endpoints = (owner: string): WebhookEndpoint[] =>
    owner === 'key_alpha'
      ? ['whep_one', 'whep_two'].map((id) => ({
          id,
          ownerKeyId: owner,
          url: `https://hooks.example.com/${id}`,
          createdAt: 1,
          secrets: [],
        }))
      : [];

  it("queues one message per event and owner's endpoint, in stream order", async () => {
    await sessions.putConnection(row('conn-d', T0, CONNECTION));
    await sessions.delete('conn-d');
    const changes = await recordsAfterWrites(2);
    const queued: DeliveryMessage[] = [];
    const deps: OutboxDeps = {
      endpoints: { list: async (owner) => endpoints(owner) },
      queue: { send: async (messages) => void queued.push(...messages) },
      nowSec: () => NOW_SEC,
    };
    const result = await outboxHandler(() => deps)({ Records: changes });
    expect(result).toEqual({ batchItemFailures: [] });
    expect(queued.map((m) => `${m.event.type} ${m.endpointId}`)).toEqual([
      'connection.created whep_one',
      'connection.created whep_two',
      'connection.deleted whep_one',
      'connection.deleted whep_two',
    ]);
  });

  it('reports the first record it could not queue, so it and those after it are read again', async () => {
    await sessions.putConnection(row('conn-e', T0, CONNECTION));
    await sessions.putConnection(row('conn-e', T0 + 1000, CONNECTION));
    const changes = await recordsAfterWrites(2);
    let sends = 0;
    const deps: OutboxDeps = {
      endpoints: { list: async (owner) => endpoints(owner) },
      queue: {
        send: async () => {
          sends += 1;
          if (sends > 1) throw new Error('SQS unavailable');
        },
      },
      nowSec: () => NOW_SEC,
    };
    const result = await outboxHandler(() => deps)({ Records: changes });
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: changes[1]!.dynamodb!.SequenceNumber }]);
  });

  it('skips owners without endpoints without a queue call', async () => {
    const other = { ...CONNECTION, ownerKeyId: 'key_beta' };
    await sessions.putConnection(row('conn-f', T0, other));
    const changes = await recordsAfterWrites(1);
    let sends = 0;
    const result = await processConnectionChanges(changes, {
      endpoints: { list: async (owner) => endpoints(owner) },
      queue: { send: async () => void (sends += 1) },
      nowSec: () => NOW_SEC,
    });
    expect(result).toEqual({ queued: 0 });
    expect(sends).toBe(0);
  });
});

describe('a failing outbox never fails the write', () => {
  it('the write succeeds and answers before a listener that throws (or never finishes) runs', async () => {
    const failing = createDynamoClient({ endpoint: dynamo.endpoint });
    let calls = 0;
    attachChangeFeed(
      failing,
      'Sessions',
      () => {
        calls += 1;
        throw new Error('queue send failed');
      },
      isConnectionRecord,
    );
    const store = new DynamoSessionStore(failing, 'Sessions');
    await expect(store.putConnection(row('conn-g', T0, CONNECTION))).resolves.toBeUndefined();
    expect(calls).toBe(0);
    for (let i = 0; i < 100 && calls === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(calls).toBe(1);
    expect((await store.get('conn-g', NOW_SEC))?.connection?.connectionId).toBe('customer-42');
    failing.destroy();
  });
});
