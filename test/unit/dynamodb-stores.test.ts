import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  DynamoApiKeyStore,
  DynamoConnectSessionStore,
  DynamoHandoffStore,
  DynamoPendingLoginStore,
  DynamoSessionStore,
} from '../../shared/stores/dynamodb.ts';
import { StoreUnavailableError, type Session } from '../../shared/stores/model.ts';

const ddb = mockClient(DynamoDBClient);
const client = new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const pending = new DynamoPendingLoginStore(client, 'PendingLogins');
const sessions = new DynamoSessionStore(client, 'Sessions');
const ccf = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

beforeEach(() => ddb.reset());

const session: Session = {
  id: 'sid',
  user: { oid: 'o', tid: 't', sub: 's', name: 'N', username: 'u@x' },
  dataKey: new Uint8Array([1]),
  accessToken: new Uint8Array([2]),
  refreshToken: new Uint8Array([3]),
  accessTokenExpiresAt: 1_000,
  version: 1,
  createdAt: 1,
  lastSeenAt: 1,
  expiresAt: 2_000,
};

describe('DynamoPendingLoginStore', () => {
  it('writes a pending login only if its id is new', async () => {
    ddb.on(PutItemCommand).resolves({});
    await pending.save({ id: 'h', codeVerifier: 'v', nonce: 'n', returnTo: 'r', bindingHash: 'b', expiresAt: 600 });
    const input = ddb.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe('attribute_not_exists(id)');
    expect(input.Item!.expiresAt).toEqual({ N: '600' });
  });

  it('consumes with a conditional delete that returns the old item', async () => {
    ddb.on(DeleteItemCommand).resolves({
      Attributes: {
        id: { S: 'h' },
        codeVerifier: { S: 'v' },
        nonce: { S: 'n' },
        returnTo: { S: 'r' },
        bindingHash: { S: 'b' },
        expiresAt: { N: '600' },
      },
    });
    const login = await pending.consume('h', 500);
    expect(login?.codeVerifier).toBe('v');
    const input = ddb.commandCalls(DeleteItemCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe('attribute_exists(id) AND (kind = :kind OR attribute_not_exists(kind))');
    expect(input.ExpressionAttributeValues).toEqual({ ':kind': { S: 'login' } });
    expect(input.ReturnValues).toBe('ALL_OLD');
  });

  it('deletes only items of the kind being consumed (rows without a kind count as logins)', async () => {
    ddb.on(DeleteItemCommand).rejects(ccf());
    const handoffs = new DynamoHandoffStore(client, 'PendingLogins');
    const links = new DynamoConnectSessionStore(client, 'PendingLogins');
    expect(await handoffs.consume('h', 1)).toBeUndefined();
    expect(await links.consume('c', 1)).toBeUndefined();
    const [handoff, link] = ddb.commandCalls(DeleteItemCommand).map((call) => call.args[0].input);
    // A handoff or connect link is never deleted by a consume of another kind, nor is a kind-less (legacy login) row.
    expect(handoff!.ConditionExpression).toBe('attribute_exists(id) AND kind = :kind');
    expect(handoff!.ExpressionAttributeValues).toEqual({ ':kind': { S: 'handoff' } });
    expect(link!.ConditionExpression).toBe('attribute_exists(id) AND kind = :kind');
    expect(link!.ExpressionAttributeValues).toEqual({ ':kind': { S: 'connect' } });
  });

  it('treats an item past its expiry as absent, and a failed condition as already used', async () => {
    ddb
      .on(DeleteItemCommand)
      .resolvesOnce({
        Attributes: {
          id: { S: 'h' },
          codeVerifier: { S: 'v' },
          nonce: { S: 'n' },
          returnTo: { S: 'r' },
          bindingHash: { S: 'b' },
          expiresAt: { N: '600' },
        },
      })
      .rejectsOnce(ccf());
    expect(await pending.consume('h', 600)).toBeUndefined();
    expect(await pending.consume('h', 1)).toBeUndefined();
  });

  it('reads a single-use item without consuming it only as its own kind and while unexpired', async () => {
    const links = new DynamoConnectSessionStore(client, 'PendingLogins');
    const link = {
      id: { S: 'c' },
      kind: { S: 'connect' },
      ownerKeyId: { S: 'k' },
      connectionId: { S: 'x' },
      expiresAt: { N: '600' },
    };
    ddb
      .on(GetItemCommand)
      .resolvesOnce({ Item: link })
      .resolvesOnce({ Item: link })
      .resolvesOnce({ Item: { ...link, kind: { S: 'handoff' } } })
      .resolvesOnce({});
    expect(await links.find('c', 599)).toMatchObject({ ownerKeyId: 'k', connectionId: 'x', expiresAt: 600 });
    expect(await links.find('c', 600)).toBeUndefined();
    expect(await links.find('c', 1)).toBeUndefined();
    expect(await links.find('c', 1)).toBeUndefined();
    expect(ddb.commandCalls(DeleteItemCommand)).toHaveLength(0);
  });

  it('reports a throttled DynamoDB as StoreUnavailableError', async () => {
    ddb
      .on(DeleteItemCommand)
      .rejects(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }));
    await expect(pending.consume('h', 1)).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

describe('DynamoSessionStore', () => {
  it('reads consistently and hides an expired session', async () => {
    ddb.on(GetItemCommand).resolves({
      Item: {
        id: { S: 'sid' },
        oid: { S: 'o' },
        tid: { S: 't' },
        sub: { S: 's' },
        dataKey: { B: new Uint8Array([1]) },
        accessToken: { B: new Uint8Array([2]) },
        refreshToken: { B: new Uint8Array([3]) },
        accessTokenExpiresAt: { N: '1' },
        version: { N: '4' },
        createdAt: { N: '1' },
        expiresAt: { N: '2000' },
      },
    });
    expect((await sessions.get('sid', 1999))?.version).toBe(4);
    expect(await sessions.get('sid', 2000)).toBeUndefined();
    expect(ddb.commandCalls(GetItemCommand)[0]!.args[0].input.ConsistentRead).toBe(true);
  });

  it('reads a row written before lastSeenAt existed as last seen when it was created', async () => {
    ddb.on(GetItemCommand).resolves({
      Item: {
        id: { S: 'sid' },
        oid: { S: 'o' },
        tid: { S: 't' },
        sub: { S: 's' },
        dataKey: { B: new Uint8Array([1]) },
        accessToken: { B: new Uint8Array([2]) },
        refreshToken: { B: new Uint8Array([3]) },
        accessTokenExpiresAt: { N: '1' },
        version: { N: '4' },
        createdAt: { N: '1500' },
        expiresAt: { N: '2000' },
      },
    });
    const read = await sessions.get('sid', 1);
    expect(read?.lastSeenAt).toBe(1500);
    expect(read?.refreshedAt).toBeUndefined();
    expect(read?.leaseUntil).toBeUndefined();
  });

  it('reports a failed read or connection write as StoreUnavailableError, never as an absent session', async () => {
    const throttled = Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
    ddb.on(GetItemCommand).rejects(throttled);
    ddb.on(PutItemCommand).rejects(throttled);
    await expect(sessions.get('sid', 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(
      sessions.putConnection({ ...session, connection: { ownerKeyId: 'k', connectionId: 'c', status: 'active' } }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('creates a session only under a new id', async () => {
    ddb.on(PutItemCommand).resolves({});
    await sessions.create(session);
    const input = ddb.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe('attribute_not_exists(id)');
    expect(input.Item!.accessToken).toEqual({ B: new Uint8Array([2]) });
  });

  it('takes the refresh lease only at the expected version and when no live lease is held', async () => {
    ddb.on(UpdateItemCommand).resolvesOnce({}).rejectsOnce(ccf());
    expect(await sessions.acquireRefreshLease('sid', 3, 'lease-1', 15_000, 1_000)).toBe(true);
    expect(await sessions.acquireRefreshLease('sid', 3, 'lease-2', 15_000, 1_000)).toBe(false);
    const input = ddb.commandCalls(UpdateItemCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe(
      'attribute_exists(id) AND version = :v AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
    );
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':v': { N: '3' },
      ':now': { N: '1000' },
      ':until': { N: '15000' },
    });
  });

  it('saves rotated tokens only for the lease holder at the expected version, and bumps the version', async () => {
    ddb.on(UpdateItemCommand).resolvesOnce({}).rejectsOnce(ccf());
    const tokens = {
      dataKey: new Uint8Array([9]),
      accessToken: new Uint8Array([8]),
      refreshToken: new Uint8Array([7]),
      accessTokenExpiresAt: 5,
    };
    expect(await sessions.saveRotatedTokens('sid', 3, 'lease-1', tokens, 10)).toBe(true);
    expect(await sessions.saveRotatedTokens('sid', 3, 'lease-1', tokens, 10)).toBe(false);
    const input = ddb.commandCalls(UpdateItemCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe('version = :v AND leaseId = :lease');
    expect(input.UpdateExpression).toContain('version = :next');
    expect(input.UpdateExpression).toContain('REMOVE leaseId, leaseUntil');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':v': { N: '3' },
      ':next': { N: '4' },
      ':lease': { S: 'lease-1' },
    });
  });

  it('stores each access token with its lifetime (own slot and per environment), and reads rows without it as unknown', async () => {
    ddb.on(UpdateItemCommand).resolves({});
    const own = {
      dataKey: new Uint8Array([9]),
      accessToken: new Uint8Array([8]),
      refreshToken: new Uint8Array([7]),
      accessTokenExpiresAt: 5,
      accessTokenLifetimeSeconds: 120,
    };
    await sessions.saveRotatedTokens('sid', 3, 'lease-1', own, 10);
    const environment = {
      accessToken: new Uint8Array([6]),
      expiresAt: 5,
      lifetimeSeconds: 90,
      version: 4,
      refreshedAt: 10,
    };
    await sessions.saveRotatedTokens(
      'sid',
      4,
      'lease-2',
      {
        dataKey: new Uint8Array([9]),
        refreshToken: new Uint8Array([7]),
        environmentTokens: { 'https://b.example': environment },
      },
      10,
    );
    const [first, second] = ddb.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
    expect(first!.UpdateExpression).toContain('accessTokenLifetimeSeconds = :atlife');
    expect(first!.ExpressionAttributeValues).toMatchObject({ ':atlife': { N: '120' } });
    expect(second!.ExpressionAttributeValues![':env']!.M!['https://b.example']!.M).toMatchObject({ life: { N: '90' } });

    const row = {
      id: { S: 'sid' },
      oid: { S: 'o' },
      tid: { S: 't' },
      sub: { S: 's' },
      dataKey: { B: new Uint8Array([1]) },
      accessToken: { B: new Uint8Array([2]) },
      refreshToken: { B: new Uint8Array([3]) },
      accessTokenExpiresAt: { N: '1' },
      version: { N: '4' },
      createdAt: { N: '1' },
      expiresAt: { N: '2000' },
    };
    ddb
      .on(GetItemCommand)
      .resolvesOnce({
        Item: {
          ...row,
          accessTokenLifetimeSeconds: { N: '120' },
          envTokens: {
            M: { 'https://b.example': { M: { exp: { N: '5' }, v: { N: '4' }, at: { N: '10' }, life: { N: '90' } } } },
          },
        },
      })
      .resolvesOnce({
        Item: {
          ...row,
          envTokens: { M: { 'https://b.example': { M: { exp: { N: '5' }, v: { N: '4' }, at: { N: '10' } } } } },
        },
      });
    const withLifetimes = await sessions.get('sid', 1);
    expect(withLifetimes?.accessTokenLifetimeSeconds).toBe(120);
    expect(withLifetimes?.environmentTokens?.['https://b.example']?.lifetimeSeconds).toBe(90);
    const older = await sessions.get('sid', 1);
    expect(older?.accessTokenLifetimeSeconds).toBeUndefined();
    expect(older?.environmentTokens?.['https://b.example']?.lifetimeSeconds).toBeUndefined();
  });

  it('releases a lease only if it still holds it', async () => {
    ddb.on(UpdateItemCommand).resolves({});
    await sessions.releaseRefreshLease('sid', 'lease-1');
    const input = ddb.commandCalls(UpdateItemCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe('leaseId = :lease');
    expect(input.UpdateExpression).toBe('REMOVE leaseId, leaseUntil');
  });

  it('marks a Dataverse rejection only on the row at the rejected version, reads it back, and clears it', async () => {
    ddb.on(UpdateItemCommand).resolvesOnce({}).rejectsOnce(ccf());
    await sessions.markDataverseRejected('sid', 5, 900_000);
    await sessions.clearDataverseRejected('sid');
    const [mark, clear] = ddb.commandCalls(UpdateItemCommand).map((call) => call.args[0].input);
    expect(mark!.UpdateExpression).toBe('SET dvRejectedUntil = :until');
    expect(mark!.ConditionExpression).toBe('attribute_exists(id) AND version = :v');
    expect(mark!.ExpressionAttributeValues).toEqual({ ':until': { N: '900000' }, ':v': { N: '5' } });
    expect(clear!.UpdateExpression).toBe('REMOVE dvRejectedUntil');
    expect(clear!.ConditionExpression).toBe('attribute_exists(dvRejectedUntil)');
    expect(clear!.ExpressionAttributeValues).toBeUndefined();

    ddb.on(GetItemCommand).resolves({
      Item: {
        id: { S: 'sid' },
        oid: { S: 'o' },
        tid: { S: 't' },
        sub: { S: 's' },
        dataKey: { B: new Uint8Array([1]) },
        accessToken: { B: new Uint8Array([2]) },
        refreshToken: { B: new Uint8Array([3]) },
        accessTokenExpiresAt: { N: '1' },
        version: { N: '5' },
        createdAt: { N: '1' },
        expiresAt: { N: '2000' },
        dvRejectedUntil: { N: '900000' },
      },
    });
    expect((await sessions.get('sid', 1))?.dataverseRejectedUntil).toBe(900_000);
    // A replaced row (new sign-in or reconnect) is written without the mark.
    ddb.on(PutItemCommand).resolves({});
    await sessions.putConnection({ ...session, connection: { ownerKeyId: 'k', connectionId: 'c', status: 'active' } });
    expect(ddb.commandCalls(PutItemCommand)[0]!.args[0].input.Item!.dvRejectedUntil).toBeUndefined();
  });

  it('marks a connection failed only for the lease holder at the version it refreshed', async () => {
    ddb.on(UpdateItemCommand).resolves({});
    await sessions.markConnectionFailed('cid', 7, 'lease-1', 'invalid_grant', 10);
    const input = ddb.commandCalls(UpdateItemCommand)[0]!.args[0].input;
    expect(input.ConditionExpression).toBe('attribute_exists(ownerKeyId) AND version = :v AND leaseId = :lease');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':v': { N: '7' },
      ':lease': { S: 'lease-1' },
      ':reason': { S: 'invalid_grant' },
    });
  });
});

describe('DynamoApiKeyStore', () => {
  const keys = new DynamoApiKeyStore(client, 'ApiKeys');
  const item = { id: { S: 'h' }, keyId: { S: 'k' }, name: { S: 'Contoso sync' }, createdAt: { N: '1' } };

  it('stores the impersonation flag only for a key created with it', async () => {
    ddb.on(PutItemCommand).resolves({});
    await keys.create({ id: 'h1', keyId: 'k1', name: 'plain', createdAt: 1 });
    await keys.create({ id: 'h2', keyId: 'k2', name: 'delegate', createdAt: 1, allowImpersonation: true });
    const [plain, delegate] = ddb.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item!);
    expect(plain!.allowImpersonation).toBeUndefined();
    expect(delegate!.allowImpersonation).toEqual({ BOOL: true });
  });

  it('reads a key stored before the flag existed as not allowed to impersonate', async () => {
    ddb
      .on(GetItemCommand)
      .resolvesOnce({ Item: item })
      .resolvesOnce({ Item: { ...item, allowImpersonation: { BOOL: true } } });
    expect(await keys.find('h')).toMatchObject({ keyId: 'k', allowImpersonation: false });
    expect(await keys.find('h')).toMatchObject({ keyId: 'k', allowImpersonation: true });
  });

  it('lists keys across Scan pages, oldest first, without the webhook-endpoints items that share the table', async () => {
    ddb
      .on(ScanCommand)
      .resolvesOnce({
        Items: [{ ...item, id: { S: 'h2' }, keyId: { S: 'k2' }, createdAt: { N: '2' } }],
        LastEvaluatedKey: { id: { S: 'h2' } },
      })
      .resolvesOnce({ Items: [item, { id: { S: 'webhooks#k' }, kind: { S: 'webhook-endpoints' } }] });
    expect((await keys.list()).map((k) => k.keyId)).toEqual(['k', 'k2']);
    expect(ddb.commandCalls(ScanCommand)[1]!.args[0].input.ExclusiveStartKey).toEqual({ id: { S: 'h2' } });
  });

  it('finds neither a revoked key nor another kind of item by its id, and reports a failed read as StoreUnavailableError', async () => {
    ddb
      .on(GetItemCommand)
      .resolvesOnce({ Item: { ...item, revokedAt: { N: '5' } } })
      .resolvesOnce({ Item: { id: { S: 'webhooks#k' }, kind: { S: 'webhook-endpoints' } } })
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }));
    expect(await keys.find('h')).toBeUndefined();
    expect(await keys.find('webhooks#k')).toBeUndefined();
    await expect(keys.find('h')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
