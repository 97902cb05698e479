import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomToken, sha256 } from '../../shared/crypto/random.ts';
import { cookiePair, jsonBody, LOGIN_COOKIE, signIn, startTestStack, type TestStack } from '../support/stack.ts';

/**
 * Pending logins, handoffs and connect links share one table. A consume of one kind must never
 * delete an item of another kind: each case below names a live item as the wrong kind through a
 * real route, then shows the item still works.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { NATIVE_REDIRECT_SCHEMES: 'com.example.crmapp' } });
});
afterAll(async () => stack?.stop());

const verifier = () => randomBytes(32).toString('base64url');

/** A live connect link, as POST /connect/sessions stores it. */
async function connectLink(): Promise<string> {
  const token = randomToken();
  await stack.services.connectSessions.save({
    id: sha256(token),
    ownerKeyId: 'key-1',
    connectionId: `conn-${token.slice(0, 8)}`,
    expiresAt: Math.floor(Date.now() / 1000) + 600,
  });
  return token;
}

const redeemAsHandoff = (value: string) =>
  stack.routes().token({
    method: 'POST',
    path: '/auth/token',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ handoff: value, client_verifier: verifier() }),
  });

const openConnectLink = (token: string) =>
  stack.routes().connectStart({ path: '/connect/start', query: `token=${token}` });

describe('single-use items of another kind survive a wrong consume', () => {
  it('a connect link survives POST /auth/token naming it as a handoff, and still starts its sign-in', async () => {
    const token = await connectLink();
    const wrong = await redeemAsHandoff(token);
    expect(wrong.statusCode).toBe(400);
    expect(jsonBody(wrong)).toMatchObject({ error: 'invalid_grant' });
    const start = await openConnectLink(token);
    expect(start.statusCode).toBe(302);
  });

  it('a connect link survives a callback naming it as state', async () => {
    const token = await connectLink();
    const wrong = await stack
      .routes()
      .callback({ path: '/auth/callback', query: `state=${token}&code=x`, cookies: [`${LOGIN_COOKIE}=x`] });
    expect(wrong.statusCode).toBe(400);
    expect(jsonBody(wrong)).toMatchObject({ error: 'invalid_state' });
    expect((await openConnectLink(token)).statusCode).toBe(302);
  });

  it('a pending login survives POST /auth/token naming its state as a handoff, and then completes', async () => {
    const routes = stack.routes();
    const login = await routes.login({
      path: '/auth/login',
      query: `returnTo=${encodeURIComponent('http://localhost:5173/app')}`,
    });
    expect(login.statusCode).toBe(302);
    const state = new URL(login.headers.Location!).searchParams.get('state')!;
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const wrong = await redeemAsHandoff(state);
    expect(wrong.statusCode).toBe(400);
    const idpAnswer = await fetch(login.headers.Location!, { redirect: 'manual' });
    const back = new URL(idpAnswer.headers.get('location')!);
    const callback = await routes.callback({
      path: '/auth/callback',
      query: back.search.slice(1),
      cookies: [cookiePair(login.cookies, LOGIN_COOKIE)!],
    });
    expect(callback.statusCode).toBe(302);
  });

  it('a handoff survives a callback naming it as state, and still redeems', async () => {
    const routes = stack.routes();
    const clientVerifier = verifier();
    const challenge = createHash('sha256').update(clientVerifier).digest('base64url');
    const returnTo = encodeURIComponent('http://127.0.0.1:49152/cb');
    const login = await routes.login({
      path: '/auth/login',
      query: `returnTo=${returnTo}&client_challenge=${challenge}`,
    });
    const idpAnswer = await fetch(login.headers.Location!, { redirect: 'manual' });
    const back = new URL(idpAnswer.headers.get('location')!);
    const binding = cookiePair(login.cookies, LOGIN_COOKIE)!;
    const callback = await routes.callback({ path: '/auth/callback', query: back.search.slice(1), cookies: [binding] });
    expect(callback.statusCode).toBe(302);
    const handoff = new URL(callback.headers.Location!).searchParams.get('handoff')!;
    const wrong = await routes.callback({
      path: '/auth/callback',
      query: `state=${handoff}&code=x`,
      cookies: [binding],
    });
    expect(wrong.statusCode).toBe(400);
    const redeemed = await routes.token({
      method: 'POST',
      path: '/auth/token',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ handoff, client_verifier: clientVerifier }),
    });
    expect(redeemed.statusCode).toBe(200);
  });

  it('a session still signs in normally alongside (the right kind is consumed)', async () => {
    const { sessionCookie } = await signIn(stack);
    expect(sessionCookie).toMatch(/^__Host-dyn-session=/);
  });
});
