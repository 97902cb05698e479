import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CountingKeyProvider, countingDynamo } from '../../bench/instrument.ts';
import { DEV_USER } from '../../local/idp.ts';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { sha256 } from '../../shared/crypto/random.ts';
import { createServices, type Services } from '../../shared/runtime.ts';
import {
  cookiePair,
  jsonBody,
  LOGIN_COOKIE,
  signIn,
  startTestStack,
  type Routes,
  type TestStack,
} from '../support/stack.ts';

/**
 * A user whose tokens Dataverse rejects even when fresh (e.g. no member of the environment): one
 * refresh proves it, then the proxy answers 403 `dataverse_rejected` and makes no token-endpoint
 * call for DATAVERSE_REJECTION_COOLDOWN_SECONDS, unless a call succeeds or the user signs in again.
 */
const COOLDOWN_SECONDS = 300;
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { DATAVERSE_REJECTION_COOLDOWN_SECONDS: String(COOLDOWN_SECONDS) } });
});
afterAll(async () => stack?.stop());
afterEach(() => stack.dataverse.acceptUser(DEV_USER.oid));

const API = '/api/data/v9.2';
const refreshCalls = () => stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;

/** Services (and their routes) on a clock the test moves. */
function onClock() {
  const clock = { offsetMs: 0 };
  const services = stack.newInstance({ now: () => Date.now() + clock.offsetMs });
  return { clock, services, routes: stack.routes(services) };
}

/** One proxied WhoAmI; returns the answer with the token-endpoint and Dataverse calls it made. */
async function whoAmI(routes: Routes, headers: Record<string, string>, cookies?: string[]) {
  const refreshesBefore = refreshCalls();
  const upstreamBefore = stack.dataverse.requests.length;
  const answer = await routes.proxy({ path: `${API}/WhoAmI`, headers, cookies });
  return {
    answer,
    refreshes: refreshCalls() - refreshesBefore,
    upstream: stack.dataverse.requests.length - upstreamBefore,
  };
}

const markOf = async (sessionId: string, services: Services = stack.services) =>
  (await services.sessions.get(sessionId, Math.floor(services.now() / 1000)))?.dataverseRejectedUntil;

describe('a user whose tokens Dataverse rejects', () => {
  it('gets 403 dataverse_rejected after exactly one refresh, then no token-endpoint call during the cool-down', async () => {
    const { routes } = onClock();
    const { sessionCookie, sessionToken } = await signIn(stack, routes);
    stack.dataverse.rejectUser(DEV_USER.oid);

    const first = await whoAmI(routes, {}, [sessionCookie]);
    expect(first.answer.statusCode).toBe(403);
    expect(jsonBody(first.answer)).toMatchObject({ error: { code: 'dataverse_rejected' } });
    expect(String((jsonBody(first.answer).error as { message?: string }).message)).toContain('5 minutes');
    expect(first.refreshes).toBe(1);
    expect(first.upstream).toBe(2);
    const until = await markOf(sha256(sessionToken));
    expect(until).toBeGreaterThan(Date.now() + (COOLDOWN_SECONDS - 10) * 1000);
    expect(until).toBeLessThanOrEqual(Date.now() + COOLDOWN_SECONDS * 1000);

    for (const credential of [
      { cookies: [sessionCookie] },
      { headers: { authorization: `Bearer ${sessionToken}` } },
      { cookies: [sessionCookie] },
    ]) {
      const again = await whoAmI(routes, credential.headers ?? {}, credential.cookies);
      expect(again.answer.statusCode).toBe(403);
      expect(jsonBody(again.answer)).toMatchObject({ error: { code: 'dataverse_rejected' } });
      expect(again.refreshes).toBe(0);
      expect(again.upstream).toBe(1);
    }
  });

  it('is reset by a successful Dataverse call: the next rejection costs one refresh again', async () => {
    const { routes } = onClock();
    const { sessionToken } = await signIn(stack, routes);
    const bearer = { authorization: `Bearer ${sessionToken}` };
    stack.dataverse.rejectUser(DEV_USER.oid);
    expect((await whoAmI(routes, bearer)).answer.statusCode).toBe(403);
    expect(await markOf(sha256(sessionToken))).toBeDefined();

    stack.dataverse.acceptUser(DEV_USER.oid);
    const ok = await whoAmI(routes, bearer);
    expect(ok.answer.statusCode).toBe(200);
    expect(ok.refreshes).toBe(0);
    expect(await markOf(sha256(sessionToken))).toBeUndefined();

    stack.dataverse.rejectUser(DEV_USER.oid);
    const rejected = await whoAmI(routes, bearer);
    expect(rejected.answer.statusCode).toBe(403);
    expect(rejected.refreshes).toBe(1);
  });

  it('is reset by a new sign-in', async () => {
    const { routes } = onClock();
    const a = await signIn(stack, routes);
    stack.dataverse.rejectUser(DEV_USER.oid);
    expect((await whoAmI(routes, { authorization: `Bearer ${a.sessionToken}` })).refreshes).toBe(1);
    const cooling = await whoAmI(routes, { authorization: `Bearer ${a.sessionToken}` });
    expect(cooling.answer.statusCode).toBe(403);
    expect(cooling.refreshes).toBe(0);

    // Signing in again (still rejected): the new session tries one refresh of its own.
    const b = await signIn(stack, routes);
    expect(await markOf(sha256(b.sessionToken))).toBeUndefined();
    const fresh = await whoAmI(routes, {}, [b.sessionCookie]);
    expect(fresh.answer.statusCode).toBe(403);
    expect(fresh.refreshes).toBe(1);
    stack.dataverse.acceptUser(DEV_USER.oid);
    const ok = await whoAmI(routes, {}, [b.sessionCookie]);
    expect(ok.answer.statusCode).toBe(200);
    expect(ok.refreshes).toBe(0);
  });

  it('ends its cool-down after DATAVERSE_REJECTION_COOLDOWN_SECONDS (injected clock)', async () => {
    const { clock, routes } = onClock();
    const { sessionToken } = await signIn(stack, routes);
    const bearer = { authorization: `Bearer ${sessionToken}` };
    stack.dataverse.rejectUser(DEV_USER.oid);
    expect((await whoAmI(routes, bearer)).refreshes).toBe(1);

    clock.offsetMs = (COOLDOWN_SECONDS - 5) * 1000;
    const during = await whoAmI(routes, bearer);
    expect(during.answer.statusCode).toBe(403);
    expect(during.refreshes).toBe(0);

    clock.offsetMs = (COOLDOWN_SECONDS + 5) * 1000;
    const after = await whoAmI(routes, bearer);
    expect(after.answer.statusCode).toBe(403);
    expect(after.refreshes).toBe(1);
    const next = await whoAmI(routes, bearer);
    expect(next.refreshes).toBe(0);
  });

  it('still has an expiring access token refreshed ahead of use during the cool-down, once', async () => {
    // A cool-down longer than the access token's life (1 hour from the development IdP).
    const clock = { offsetMs: 0 };
    const services = createServices(
      { ...stack.config, dataverseRejectionCooldownSeconds: 2 * 3600 },
      { keyProvider: stack.keyProvider, dynamo: stack.dynamoClient, now: () => Date.now() + clock.offsetMs },
    );
    const routes = stack.routes(services);
    const { sessionToken } = await signIn(stack, routes);
    const bearer = { authorization: `Bearer ${sessionToken}` };
    stack.dataverse.rejectUser(DEV_USER.oid);
    expect((await whoAmI(routes, bearer)).refreshes).toBe(1);

    // 58 minutes on: the access token is within REFRESH_SKEW_SECONDS of its expiry.
    clock.offsetMs = 58 * 60_000;
    const expiring = await whoAmI(routes, bearer);
    expect(expiring.answer.statusCode).toBe(403);
    expect(expiring.refreshes).toBe(1);
    // The new token's expiry is stamped on the real clock (an hour from now): back to it.
    clock.offsetMs = 0;
    const next = await whoAmI(routes, bearer);
    expect(next.answer.statusCode).toBe(403);
    expect(next.refreshes).toBe(0);

    stack.dataverse.acceptUser(DEV_USER.oid);
    const ok = await whoAmI(routes, bearer);
    expect(ok.answer.statusCode).toBe(200);
    expect(ok.refreshes).toBe(0);
  });
});

describe('a healthy session', () => {
  it('never answers 403: a 401 on a stale token is refreshed and retried, and sets no mark', async () => {
    const { clock, routes } = onClock();
    const { sessionToken, sessionCookie } = await signIn(stack, routes);
    // expireIssuedTokens() expires the tokens Dataverse has seen: let it see this one first.
    expect((await whoAmI(routes, {}, [sessionCookie])).answer.statusCode).toBe(200);
    for (let i = 0; i < 3; i++) {
      stack.dataverse.expireIssuedTokens();
      const stale = await whoAmI(routes, {}, [sessionCookie]);
      expect(stale.answer.statusCode).toBe(200);
      expect(stale.refreshes).toBe(1);
      expect(await markOf(sha256(sessionToken))).toBeUndefined();
    }
    // The access token expiring by itself: refreshed ahead, never a 403.
    clock.offsetMs = 58 * 60_000;
    const expiring = await whoAmI(routes, {}, [sessionCookie]);
    expect(expiring.answer.statusCode).toBe(200);
    expect(expiring.refreshes).toBe(1);
    // The new token's expiry is stamped on the real clock (an hour from now): back to it.
    clock.offsetMs = 0;
    stack.dataverse.expireIssuedTokens();
    const stale = await whoAmI(routes, {}, [sessionCookie]);
    expect(stale.answer.statusCode).toBe(200);
    expect(stale.refreshes).toBe(1);
    expect(await markOf(sha256(sessionToken))).toBeUndefined();
  });

  it('keeps the warm proxy path at one DynamoDB GetItem, no write and no KMS call', async () => {
    const dynamo = countingDynamo(stack.dynamo.endpoint);
    const keys = new CountingKeyProvider(stack.keyProvider);
    const services = stack.newInstance({ dynamo: dynamo.client, keyProvider: keys });
    const routes = stack.routes(services);
    try {
      const { sessionCookie } = await signIn(stack, routes);
      expect((await whoAmI(routes, {}, [sessionCookie])).answer.statusCode).toBe(200);
      dynamo.counts.reset();
      keys.counts.reset();
      for (let i = 0; i < 3; i++) {
        const warm = await whoAmI(routes, {}, [sessionCookie]);
        expect(warm.answer.statusCode).toBe(200);
        expect(warm.refreshes).toBe(0);
      }
      expect(dynamo.counts.snapshot()).toEqual({ GetItem: 3 });
      expect(keys.counts.total()).toBe(0);
    } finally {
      dynamo.client.destroy();
    }
  });
});

describe('a managed connection (API key) whose user Dataverse rejects', () => {
  async function connect(routes: Routes, key: string, connectionId: string): Promise<void> {
    const created = await routes.connect({
      method: 'POST',
      path: '/connect/sessions',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ connectionId }),
    });
    expect(created.statusCode).toBe(201);
    const token = new URL(jsonBody(created).connectUrl as string).searchParams.get('token')!;
    const start = await routes.connectStart({ path: '/connect/start', query: `token=${token}` });
    expect(start.statusCode).toBe(302);
    const idpAnswer = await fetch(start.headers.Location!, { redirect: 'manual' });
    const back = new URL(idpAnswer.headers.get('location')!);
    const callback = await routes.callback({
      path: '/auth/callback',
      query: back.search.slice(1),
      cookies: [cookiePair(start.cookies, LOGIN_COOKIE)!],
    });
    expect(callback.statusCode).toBe(302);
  }

  it('gets the same cool-down, and reconnecting the user ends it', async () => {
    const { services, routes } = onClock();
    const { key, record } = generateApiKey('rejection test', Date.now());
    await services.apiKeys.create(record);
    await connect(routes, key, 'crm-user-1');
    const headers = { authorization: `Bearer ${key}`, 'connection-id': 'crm-user-1' };
    stack.dataverse.rejectUser(DEV_USER.oid);

    const first = await whoAmI(routes, headers);
    expect(first.answer.statusCode).toBe(403);
    expect(jsonBody(first.answer)).toMatchObject({ error: { code: 'dataverse_rejected' } });
    expect(first.refreshes).toBe(1);
    const again = await whoAmI(routes, headers);
    expect(again.answer.statusCode).toBe(403);
    expect(again.refreshes).toBe(0);

    await connect(routes, key, 'crm-user-1');
    const reconnected = await whoAmI(routes, headers);
    expect(reconnected.answer.statusCode).toBe(403);
    expect(reconnected.refreshes).toBe(1);
  });
});
