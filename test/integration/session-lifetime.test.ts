import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../shared/crypto/random.ts';
import { jsonBody, signIn, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { SESSION_IDLE_TIMEOUT_SECONDS: '900', SESSION_TTL_SECONDS: '3600' } });
});
afterAll(async () => stack?.stop());

const at = (offsetMs: number) => stack.routes(stack.newInstance({ now: () => Date.now() + offsetMs }));
const minutes = (m: number) => m * 60_000;

async function lastSeenAt(token: string): Promise<number> {
  const out = await stack.dynamoClient.send(
    new GetItemCommand({ TableName: 'Sessions', Key: { id: { S: sha256(token) } } }),
  );
  return Number(out.Item!.lastSeenAt!.N);
}

describe('session lifetime', () => {
  it('ends a session that was idle longer than the idle timeout, for cookie and bearer alike', async () => {
    const { sessionToken, sessionCookie } = await signIn(stack);
    const late = at(minutes(15) + 1_000);
    expect((await late.session({ path: '/auth/session', cookies: [sessionCookie] })).statusCode).toBe(401);
    const bearer = await late.proxy({
      path: '/api/data/v9.2/WhoAmI',
      headers: { authorization: `Bearer ${sessionToken}` },
    });
    expect(bearer.statusCode).toBe(401);
    expect(jsonBody(bearer)).toMatchObject({ error: { code: 'unauthenticated' } });
  });

  it('slides the idle timeout with use, writing activity at most once per 5 minutes', async () => {
    const { sessionToken } = await signIn(stack);
    const signedInAt = await lastSeenAt(sessionToken);
    const auth = { authorization: `Bearer ${sessionToken}` };
    // Within 5 minutes of the last write: a read-only request.
    expect((await at(minutes(4)).session({ path: '/auth/session', headers: auth })).statusCode).toBe(200);
    expect(await lastSeenAt(sessionToken)).toBe(signedInAt);
    // After 10 minutes: activity recorded.
    expect((await at(minutes(10)).session({ path: '/auth/session', headers: auth })).statusCode).toBe(200);
    expect(await lastSeenAt(sessionToken)).toBeGreaterThan(signedInAt + minutes(9));
    // 20 minutes after sign-in, 10 after the last use: still alive.
    expect((await at(minutes(20)).session({ path: '/auth/session', headers: auth })).statusCode).toBe(200);
  });

  it('ends a session at its absolute lifetime however active it is', async () => {
    const { sessionToken } = await signIn(stack);
    const auth = { authorization: `Bearer ${sessionToken}` };
    for (const m of [10, 20, 30, 40, 50]) {
      expect((await at(minutes(m)).session({ path: '/auth/session', headers: auth })).statusCode).toBe(200);
    }
    expect((await at(minutes(60) + 1_000).session({ path: '/auth/session', headers: auth })).statusCode).toBe(401);
  });
});
