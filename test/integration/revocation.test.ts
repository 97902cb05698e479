import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { sha256 } from '../../shared/crypto/random.ts';
import { DynamoSessionStore } from '../../shared/stores/dynamodb.ts';
import type { RotatedTokens, Session } from '../../shared/stores/model.ts';
import { SESSIONS_BY_TENANT_INDEX, SESSIONS_TABLE } from '../../shared/stores/tables.ts';
import { revokeCommand } from '../../tools/revoke.ts';
import { jsonBody, signIn, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => stack?.stop());
afterEach(() => vi.restoreAllMocks());

const TABLE = SESSIONS_TABLE.logicalName;
const store = () => new DynamoSessionStore(stack.dynamoClient, TABLE);

/** A stored row for `user` in `tenant`: a session, or a backend's connection when `connectionId` is given. */
async function row(tenant: string, user: string, connectionId?: string): Promise<string> {
  const id = sha256(randomUUID());
  const session: Session = {
    id,
    user: { oid: user, tid: tenant, sub: user },
    dataKey: randomBytes(16),
    accessToken: randomBytes(16),
    refreshToken: randomBytes(16),
    accessTokenExpiresAt: Date.now() + 3_600_000,
    version: 1,
    createdAt: Date.now(),
    lastSeenAt: Date.now(),
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
    ...(connectionId ? { connection: { ownerKeyId: 'key1', connectionId, status: 'active' as const } } : {}),
  };
  if (connectionId) await store().putConnection(session);
  else await store().create(session);
  return id;
}

async function exists(id: string): Promise<boolean> {
  const out = await stack.dynamoClient.send(
    new GetItemCommand({ TableName: TABLE, Key: { id: { S: id } }, ConsistentRead: true }),
  );
  return out.Item !== undefined;
}

async function revoke(kind: 'session' | 'connection', ...args: string[]): Promise<{ status: number; out: string }> {
  const lines: string[] = [];
  const out = { log: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
  // Two items per page: every scope below spans several Query or Scan pages.
  const status = await revokeCommand(
    kind,
    ['revoke', ...args],
    { client: stack.dynamoClient, tableName: TABLE, pageSize: 2 },
    out,
  );
  return { status, out: lines.join('\n') };
}

describe('sessions revoke', () => {
  it('ends every session of a tenant over several index pages, and no other tenant’s rows or connections', async () => {
    const [tenant, other, alice, bob] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const ended = [
      ...(await Promise.all([1, 2, 3].map(() => row(tenant, alice)))),
      ...(await Promise.all([1, 2, 3, 4].map(() => row(tenant, bob)))),
    ];
    const kept = [await row(other, alice), await row(other, randomUUID()), await row(tenant, alice, 'conn-a')];
    const r = await revoke('session', '--tenant', tenant);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(`Revoked 7 sessions of tenant ${tenant}.`);
    expect(r.out).toContain('--scan');
    for (const id of ended) expect(await exists(id)).toBe(false);
    for (const id of kept) expect(await exists(id)).toBe(true);
    // Run again: nothing left to end.
    expect((await revoke('session', '--tenant', tenant)).out).toContain('Revoked 0 sessions');
  });

  it('ends only one user’s sessions with --user and --tenant', async () => {
    const [tenant, alice, bob] = [randomUUID(), randomUUID(), randomUUID()];
    const ended = await Promise.all([1, 2, 3].map(() => row(tenant, alice)));
    const kept = await Promise.all([1, 2].map(() => row(tenant, bob)));
    const r = await revoke('session', '--user', alice.toUpperCase(), '--tenant', tenant);
    expect(r.out).toContain(`Revoked 3 sessions of user ${alice} in tenant ${tenant}.`);
    for (const id of ended) expect(await exists(id)).toBe(false);
    for (const id of kept) expect(await exists(id)).toBe(true);
  });

  it('finds a user without --tenant by scanning the keys-only index', async () => {
    const [alice, bob] = [randomUUID(), randomUUID()];
    const ended = [await row(randomUUID(), alice), await row(randomUUID(), alice), await row(randomUUID(), alice)];
    const kept = [await row(randomUUID(), bob), await row(randomUUID(), alice, 'conn-b')];
    const r = await revoke('session', '--user', alice);
    expect(r.out).toContain(`Revoked 3 sessions of user ${alice}.`);
    expect(r.out).toContain(`scanning the ${SESSIONS_BY_TENANT_INDEX.indexName} index`);
    for (const id of ended) expect(await exists(id)).toBe(false);
    for (const id of kept) expect(await exists(id)).toBe(true);
  });

  it('reaches rows written before the index attributes existed only with --scan', async () => {
    const tenant = randomUUID();
    const old = await Promise.all([1, 2, 3].map(() => row(tenant, randomUUID())));
    // As stored before the index key was written at sign-in.
    for (const id of old) {
      await stack.dynamoClient.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: { id: { S: id } },
          UpdateExpression: 'REMOVE #k',
          ExpressionAttributeNames: { '#k': SESSIONS_BY_TENANT_INDEX.partitionKey },
        }),
      );
    }
    const fresh = await row(tenant, randomUUID());
    const kept = await row(randomUUID(), randomUUID());
    const viaIndex = await revoke('session', '--tenant', tenant);
    expect(viaIndex.out).toContain('Revoked 1 session of tenant');
    expect(viaIndex.out).toContain('run again with --scan');
    expect(await exists(fresh)).toBe(false);
    for (const id of old) expect(await exists(id)).toBe(true);
    const viaScan = await revoke('session', '--tenant', tenant, '--scan');
    expect(viaScan.out).toContain(`Revoked 3 sessions of tenant ${tenant}.`);
    expect(viaScan.out).toContain('scanning the whole table');
    for (const id of old) expect(await exists(id)).toBe(false);
    expect(await exists(kept)).toBe(true);
  });

  it.each([
    [['--tenant', 'contoso.onmicrosoft.com'], '--tenant needs a GUID'],
    [['--user', "x' OR 1=1"], '--user needs a GUID'],
    [['--tenant'], '--tenant needs a GUID'],
    [[], 'needs --tenant or --user'],
    [['--tenant', '72f988bf-86f1-41af-91ab-2d7cd011db47', '--all'], 'unknown or repeated option'],
  ])('refuses %j with a usage error and deletes nothing', async (args, message) => {
    const tenant = randomUUID();
    const kept = await row(tenant, randomUUID());
    const r = await revoke('session', ...args);
    expect(r.status).toBe(2);
    expect(r.out).toContain(message);
    expect(r.out).toContain('usage: admin sessions revoke');
    expect(await exists(kept)).toBe(true);
  });

  it('runs as `npm run admin -- sessions revoke` against a local endpoint', async () => {
    const tenant = randomUUID();
    const ended = await Promise.all([1, 2].map(() => row(tenant, randomUUID())));
    const r = await new Promise<{ status: number | null; out: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'tools/admin.ts', 'sessions', 'revoke', '--tenant', tenant],
        {
          env: { ...process.env, DYNAMODB_ENDPOINT: stack.dynamo.endpoint, SESSIONS_TABLE: TABLE },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (status) => {
        clearTimeout(timer);
        resolve({ status, out });
      });
    });
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(`Revoked 2 sessions of tenant ${tenant}.`);
    for (const id of ended) expect(await exists(id)).toBe(false);
  });
});

describe('connections revoke', () => {
  it('deletes a tenant’s connections through the store’s delete (as DELETE /connections does), not its sessions', async () => {
    const [tenant, alice] = [randomUUID(), randomUUID()];
    const ended = await Promise.all(['c1', 'c2', 'c3'].map((c) => row(tenant, alice, c)));
    const kept = [await row(tenant, alice), await row(randomUUID(), alice, 'c4')];
    const deletes = vi.spyOn(DynamoSessionStore.prototype, 'delete');
    const r = await revoke('connection', '--tenant', tenant);
    expect(r.out).toContain(`Revoked 3 connections of tenant ${tenant}.`);
    expect(deletes.mock.calls.map(([id]) => id).sort()).toEqual([...ended].sort());
    for (const id of ended) expect(await exists(id)).toBe(false);
    for (const id of kept) expect(await exists(id)).toBe(true);
  });

  it('ends one user’s connections with --user, with or without --tenant, and with --scan', async () => {
    const [tenant, alice, bob] = [randomUUID(), randomUUID(), randomUUID()];
    const first = await row(tenant, alice, 'u1');
    const second = await row(tenant, alice, 'u2');
    const bobs = await row(tenant, bob, 'u3');
    expect((await revoke('connection', '--tenant', tenant, '--user', alice)).out).toContain('Revoked 2 connections');
    expect([await exists(first), await exists(second), await exists(bobs)]).toEqual([false, false, true]);
    expect((await revoke('connection', '--user', bob)).out).toContain('Revoked 1 connection of user');
    const third = await row(tenant, alice, 'u4');
    expect((await revoke('connection', '--user', alice, '--scan')).out).toContain('Revoked 1 connection of user');
    expect(await exists(third)).toBe(false);
  });
});

describe('a refresh in flight when its session is revoked', () => {
  it('does not bring the row back: the request gets 401 and the rotated refresh token is not stored', async () => {
    const { sessionToken } = await signIn(stack);
    const id = sha256(sessionToken);
    const session = (await store().get(id, Math.floor(Date.now() / 1000)))!;
    let revoked: string | undefined;
    let rotatedRefreshToken: Uint8Array | undefined;
    // The revocation runs after the token endpoint answered and before the rotated tokens are written.
    class RevokedMidRefresh extends DynamoSessionStore {
      override async saveRotatedTokens(
        rowId: string,
        version: number,
        leaseId: string,
        tokens: RotatedTokens,
        nowMs: number,
      ) {
        rotatedRefreshToken = tokens.refreshToken;
        revoked = (await revoke('session', '--tenant', session.user.tid, '--user', session.user.oid)).out;
        return super.saveRotatedTokens(rowId, version, leaseId, tokens, nowMs);
      }
    }
    const refreshesBefore = stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
    const routes = stack.routes(stack.newInstance({ sessions: new RevokedMidRefresh(stack.dynamoClient, TABLE) }));
    const answer = await routes.refresh({
      method: 'POST',
      path: '/auth/refresh',
      headers: { authorization: `Bearer ${sessionToken}` },
    });
    expect(stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length - refreshesBefore).toBe(1);
    expect(revoked).toContain('Revoked 1 session');
    expect(rotatedRefreshToken).toBeDefined();
    expect(answer.statusCode).toBe(401);
    expect(jsonBody(answer)).toMatchObject({ error: 'login_required' });
    expect(await exists(id)).toBe(false);
    // The next request with that session token is refused too.
    const again = await stack
      .routes()
      .session({ path: '/auth/session', headers: { authorization: `Bearer ${sessionToken}` } });
    expect(again.statusCode).toBe(401);
  });
});
