/**
 * The sweeper that stands in for DynamoDB TTL on multi-Region strongly consistent global tables:
 * over dynalite, expired rows go, unexpired rows and rows renewed between the Scan and the delete
 * stay, pages are followed, and a run stops at its delete and time limits.
 */
import {
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../functions/sweeper/handler.ts';
import { createTables, startEmbeddedDynamo, type EmbeddedDynamo } from '../../local/dynamodb.ts';
import { createDynamoClient } from '../../shared/stores/dynamodb.ts';
import { sweepExpired } from '../../shared/stores/sweeper.ts';
import { SESSIONS_TABLE, TABLES } from '../../shared/stores/tables.ts';

const NOW = 1_800_000_000;
let dynamo: EmbeddedDynamo;
let client: DynamoDBClient;
let table: string;
let run = 0;

async function put(id: string, expiresAt?: number): Promise<void> {
  await client.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        id: { S: id },
        sealed: { S: 'opaque' },
        ...(expiresAt === undefined ? {} : { expiresAt: { N: String(expiresAt) } }),
      },
    }),
  );
}

async function ids(): Promise<string[]> {
  const out = await client.send(new ScanCommand({ TableName: table }));
  return (out.Items ?? []).map((i) => i.id!.S!).sort();
}

const unlimited = { nowSeconds: NOW, maxDeletes: 1_000, outOfTime: () => false };

beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
  client = createDynamoClient({ endpoint: dynamo.endpoint });
});

afterAll(async () => {
  client.destroy();
  await dynamo.stop();
});

beforeEach(async () => {
  // A fresh table per test (dynalite has no TTL of its own either).
  table = `Sessions${++run}`;
  await createTables(client, { [SESSIONS_TABLE.envVar]: table }, [SESSIONS_TABLE]);
});

describe('expired-row sweeper', () => {
  it('deletes rows past expiresAt and keeps unexpired rows and rows without expiresAt', async () => {
    await put('expired-1', NOW - 3600);
    await put('expired-2', NOW - 1);
    await put('at-now', NOW);
    await put('live', NOW + 60);
    await put('api-key-without-expiry');
    const result = await sweepExpired(client, table, 'id', unlimited);
    expect(result).toMatchObject({ deleted: 2, renewed: 0, complete: true });
    expect(await ids()).toEqual(['api-key-without-expiry', 'at-now', 'live']);
  });

  it('keeps a row renewed between the Scan and its delete (the delete is conditional)', async () => {
    await put('renewed', NOW - 10);
    await put('expired', NOW - 10);
    // Another Region extends the session after the Scan saw it expired, before the sweeper's delete.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: { id?: { S?: string } } };
        if (context.commandName === 'DeleteItemCommand' && input.Key?.id?.S === 'renewed') {
          await client.send(
            new UpdateItemCommand({
              TableName: table,
              Key: { id: { S: 'renewed' } },
              UpdateExpression: 'SET expiresAt = :e',
              ExpressionAttributeValues: { ':e': { N: String(NOW + 3600) } },
            }),
          );
        }
        return next(args);
      },
      { step: 'initialize', name: 'renewBeforeDelete' },
    );
    try {
      const result = await sweepExpired(client, table, 'id', unlimited);
      expect(result).toMatchObject({ deleted: 1, renewed: 1, complete: true });
    } finally {
      client.middlewareStack.remove('renewBeforeDelete');
    }
    const kept = await client.send(
      new GetItemCommand({ TableName: table, Key: { id: { S: 'renewed' } }, ConsistentRead: true }),
    );
    expect(kept.Item?.expiresAt?.N).toBe(String(NOW + 3600));
    expect(await ids()).toEqual(['renewed']);
  });

  it('follows Scan pages to the end of the table', async () => {
    for (let i = 0; i < 7; i++) await put(`expired-${i}`, NOW - 100);
    for (let i = 0; i < 5; i++) await put(`live-${i}`, NOW + 100);
    const result = await sweepExpired(client, table, 'id', { ...unlimited, pageSize: 3 });
    expect(result.pages).toBeGreaterThanOrEqual(4);
    expect(result).toMatchObject({ deleted: 7, complete: true });
    expect(await ids()).toEqual(['live-0', 'live-1', 'live-2', 'live-3', 'live-4']);
  });

  it("stops at the run's delete limit and at its time budget; the next run finishes", async () => {
    for (let i = 0; i < 6; i++) await put(`expired-${i}`, NOW - 100);
    const capped = await sweepExpired(client, table, 'id', { ...unlimited, maxDeletes: 2, pageSize: 2 });
    expect(capped).toMatchObject({ deleted: 2, complete: false });
    expect(await ids()).toHaveLength(4);

    let checks = 0;
    const timed = await sweepExpired(client, table, 'id', { ...unlimited, pageSize: 2, outOfTime: () => ++checks > 2 });
    expect(timed.complete).toBe(false);
    expect(timed.deleted).toBeLessThan(4);

    const rest = await sweepExpired(client, table, 'id', unlimited);
    expect(rest.complete).toBe(true);
    expect(await ids()).toEqual([]);
  });

  it('the scheduled handler sweeps every table named in its environment', async () => {
    const names = Object.fromEntries(TABLES.map((t) => [t.envVar, `${t.logicalName}${run}h`]));
    await createTables(client, names);
    for (const name of Object.values(names)) {
      await client.send(
        new PutItemCommand({
          TableName: name,
          Item: { id: { S: 'old' }, expiresAt: { N: String(Math.floor(Date.now() / 1000) - 60) } },
        }),
      );
      await client.send(
        new PutItemCommand({
          TableName: name,
          Item: { id: { S: 'new' }, expiresAt: { N: String(Math.floor(Date.now() / 1000) + 600) } },
        }),
      );
    }
    const saved = { ...process.env };
    Object.assign(process.env, names, {
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    try {
      const results = await handler({}, { getRemainingTimeInMillis: () => 60_000 });
      expect(results.map((r) => [r.table, r.deleted, r.complete])).toEqual(
        Object.values(names).map((n) => [n, 1, true]),
      );
    } finally {
      process.env = saved;
    }
    for (const name of Object.values(names)) {
      const out = await client.send(new ScanCommand({ TableName: name }));
      expect(out.Items?.map((i) => i.id!.S)).toEqual(['new']);
    }
  });
});
