import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../shared/config/config.ts';
import { sha256 } from '../../shared/crypto/random.ts';
import { SESSION_COOKIE } from '../../shared/http/cookies.ts';
import type { Fetch } from '../../shared/oauth/client.ts';
import { createServices, type ServiceOverrides, type Services } from '../../shared/runtime.ts';
import { StoreUnavailableError, type SessionStore } from '../../shared/stores/model.ts';
import { abortReason } from '../support/abort.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';
import {
  cookiePair,
  LOGIN_COOKIE,
  PUBLIC_BASE,
  RETURN_ORIGIN,
  startTestStack,
  type Routes,
  type TestStack,
} from '../support/stack.ts';

/**
 * Refresh against a provider that rotates the refresh token on every use and revokes the whole grant
 * when a spent one comes back (oidc-provider): a late token answer, a failed write after rotation, a
 * refresh storm over several instances, and 2-minute access tokens must never make the service send
 * a spent refresh token.
 */

const CLIENT_ID = 'dynamics-auth';
const CLIENT_SECRET = 'a-test-client-secret-of-sufficient-length-0123456789';
/** The service's token-endpoint timeout here; the late answer comes after it. */
const TOKEN_ENDPOINT_TIMEOUT_MS = 300;
const LATE_BY_MS = 1_000;

let op: TestOidcProvider;
let stack: TestStack;

beforeAll(async () => {
  op = await startOidcProvider({
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        tokenEndpointAuthMethod: 'client_secret_post',
        redirectUris: [`${PUBLIC_BASE}/auth/callback`],
      },
    ],
    accessTokenTtlSeconds: 120,
  });
  stack = await startTestStack({
    env: {
      ENTRA_AUTHORITY: op.issuer,
      CLIENT_ID,
      CLIENT_SECRET,
      IDP_PROFILE: 'standard',
      TOKEN_ENDPOINT_TIMEOUT_MS: String(TOKEN_ENDPOINT_TIMEOUT_MS),
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await op?.stop();
});

/** Another service instance on the same stores and keys (its own caches and single flight). */
function instance(overrides: ServiceOverrides = {}, config: Partial<Config> = {}): Services {
  return createServices(
    { ...stack.config, ...config },
    { keyProvider: stack.keyProvider, dynamo: stack.dynamoClient, refresher: { pollMs: 20 }, ...overrides },
  );
}

/** An instance whose clock is past POST /auth/refresh's coalescing window, so it refreshes again. */
const laterInstance = () => instance({ now: () => Date.now() + 10_000 });

async function signedIn(): Promise<{ sessionCookie: string; sessionId: string }> {
  const routes = stack.routes();
  const login = await routes.login({
    path: '/auth/login',
    query: `returnTo=${encodeURIComponent(`${RETURN_ORIGIN}/app`)}`,
  });
  const back = await op.authorize(login.headers.Location!);
  const callback = await routes.callback({
    path: '/auth/callback',
    query: back.search.slice(1),
    cookies: [cookiePair(login.cookies, LOGIN_COOKIE)!],
  });
  expect(callback.statusCode, callback.body).toBe(302);
  const sessionCookie = cookiePair(callback.cookies, SESSION_COOKIE)!;
  return { sessionCookie, sessionId: sha256(sessionCookie.split('=')[1]!) };
}

const refresh = (routes: Routes, sessionCookie: string, remainingMs?: number) =>
  routes.refresh(
    { method: 'POST', path: '/auth/refresh', cookies: [sessionCookie], headers: { 'x-csrf': '1' } },
    remainingMs,
  );

/** Refresh-token grant requests the provider received (each carries the refresh token presented). */
const refreshGrants = () => op.tokenRequests.filter((r) => r.grant_type === 'refresh_token');

/** No refresh token was ever presented twice: the provider's reuse detection never fired. */
function expectNoReuse(): void {
  const presented = refreshGrants().map((r) => r.refresh_token);
  expect(new Set(presented).size).toBe(presented.length);
}

async function storedSession(sessionId: string) {
  const session = await stack.services.sessions.get(sessionId, Math.floor(Date.now() / 1000));
  if (!session) throw new Error('no session');
  return session;
}

async function storedRefreshToken(sessionId: string): Promise<string> {
  const session = await storedSession(sessionId);
  const vault = await stack.services.vault();
  return vault.open(session.id, session.dataKey, 'refresh_token', session.refreshToken);
}

/** The grant is intact: the session's stored refresh token still redeems at the provider. */
async function expectGrantIntact(sessionId: string): Promise<void> {
  const as = await oauth.processDiscoveryResponse(
    new URL(op.issuer),
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the test provider listens on plain-http 127.0.0.1; oauth4webapi asks this flag for that case.
    await oauth.discoveryRequest(new URL(op.issuer), { [oauth.allowInsecureRequests]: true }),
  );
  const client = { client_id: CLIENT_ID };
  const response = await oauth.refreshTokenGrantRequest(
    as,
    client,
    oauth.ClientSecretPost(CLIENT_SECRET),
    await storedRefreshToken(sessionId),
    {
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- the test provider listens on plain-http 127.0.0.1; oauth4webapi asks this flag for that case.
      [oauth.allowInsecureRequests]: true,
    },
  );
  await expect(oauth.processRefreshTokenResponse(as, client, response)).resolves.toHaveProperty('access_token');
}

/** The provider processes the token request at once, but its answer reaches the service `delayMs` later. */
function lateTokenAnswers(delayMs: number): Fetch {
  return async (input, init) => {
    if (!new URL(input).pathname.endsWith('/token')) return fetch(input, init);
    const answer = await fetch(input, { ...init, signal: undefined });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, delayMs);
      init.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(abortReason(init.signal));
      });
    });
    return answer;
  };
}

/** A session store whose `saveRotatedTokens` fails the first `times` calls (DynamoDB unavailable). */
function failingRotationWrites(times: number): SessionStore {
  let left = times;
  const base = stack.services.sessions;
  return new Proxy(base, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (prop !== 'saveRotatedTokens') return value.bind(target);
      return (...args: unknown[]) =>
        left-- > 0
          ? Promise.reject(new StoreUnavailableError('injected'))
          : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
}

async function waitForVersion(sessionId: string, version: number, withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  while ((await storedSession(sessionId)).version < version) {
    if (Date.now() > until) throw new Error(`the session did not reach version ${version}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a token answer that arrives after TOKEN_ENDPOINT_TIMEOUT_MS', () => {
  it('is awaited while the lease holds and saved: the session keeps working and the grant is intact', async () => {
    const { sessionCookie, sessionId } = await signedIn();
    const { version } = await storedSession(sessionId);
    const grants = refreshGrants().length;
    const answer = await refresh(stack.routes(instance({ idpFetch: lateTokenAnswers(LATE_BY_MS) })), sessionCookie);
    expect(answer.statusCode, answer.body).toBe(200);
    expect(refreshGrants().length - grants).toBe(1);
    expect((await storedSession(sessionId)).version).toBe(version + 1);

    expect((await refresh(stack.routes(laterInstance()), sessionCookie)).statusCode).toBe(200);
    expect(refreshGrants().length - grants).toBe(2);
    expectNoReuse();
    await expectGrantIntact(sessionId);
  });

  it('after the caller’s own budget ran out (503), the refresh still completes and is saved', async () => {
    const { sessionCookie, sessionId } = await signedIn();
    const { version } = await storedSession(sessionId);
    const grants = refreshGrants().length;
    // 1.5 s of Lambda time left: the caller must answer within 0.5 s, before the answer comes.
    const answer = await refresh(
      stack.routes(instance({ idpFetch: lateTokenAnswers(LATE_BY_MS) })),
      sessionCookie,
      1_500,
    );
    expect(answer.statusCode, answer.body).toBe(503);
    await waitForVersion(sessionId, version + 1, 5_000);
    expect(refreshGrants().length - grants).toBe(1);

    expect((await refresh(stack.routes(laterInstance()), sessionCookie)).statusCode).toBe(200);
    expect(refreshGrants().length - grants).toBe(2);
    expectNoReuse();
    await expectGrantIntact(sessionId);
  });
});

describe('a failed write after a rotation', () => {
  it('keeps the new tokens (the write is retried): the session keeps working and the grant is intact', async () => {
    const { sessionCookie, sessionId } = await signedIn();
    const { version } = await storedSession(sessionId);
    const grants = refreshGrants().length;
    const answer = await refresh(
      stack.routes(instance({ sessions: failingRotationWrites(1), refresher: { pollMs: 20, saveRetryMs: 20 } })),
      sessionCookie,
    );
    expect(answer.statusCode, answer.body).toBe(200);
    expect((await storedSession(sessionId)).version).toBe(version + 1);

    expect((await refresh(stack.routes(laterInstance()), sessionCookie)).statusCode).toBe(200);
    expect(refreshGrants().length - grants).toBe(2);
    expectNoReuse();
    await expectGrantIntact(sessionId);
  });
});

describe('proxied requests with 2-minute access tokens from the provider', () => {
  /** Dataverse, reduced to "which bearer token did it get": the token handling is what is tested. */
  function recordingDataverse(): { fetch: Fetch; bearers: string[] } {
    const bearers: string[] = [];
    const fetch: Fetch = async (_input, init) => {
      bearers.push(new Headers(init.headers).get('authorization') ?? '');
      return new Response('{"UserId":"00000000-0000-0000-0000-000000000001"}', {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    };
    return { fetch, bearers };
  }
  const whoAmI = (routes: Routes, sessionCookie: string) =>
    routes.proxy({ path: '/api/data/v9.2/WhoAmI', cookies: [sessionCookie] });

  it('consecutive requests make no token call', async () => {
    const { sessionCookie } = await signedIn();
    const dataverse = recordingDataverse();
    const routes = stack.routes(instance({ dataverseFetch: dataverse.fetch }));
    const grants = refreshGrants().length;
    for (let i = 0; i < 5; i++) expect((await whoAmI(routes, sessionCookie)).statusCode).toBe(200);
    expect(refreshGrants().length - grants).toBe(0);
    expect(new Set(dataverse.bearers).size).toBe(1);
  });

  it('a storm of 30 concurrent requests on an expired session over three instances: one token call, 30 successes, no reuse', async () => {
    const { sessionCookie, sessionId } = await signedIn();
    await stack.dynamoClient.send(
      new UpdateItemCommand({
        TableName: 'Sessions',
        Key: { id: { S: sessionId } },
        UpdateExpression: 'SET accessTokenExpiresAt = :past',
        ExpressionAttributeValues: { ':past': { N: String(Date.now() - 1_000) } },
      }),
    );
    const dataverse = recordingDataverse();
    const instances = [0, 1, 2].map(() => stack.routes(instance({ dataverseFetch: dataverse.fetch })));
    const grants = refreshGrants().length;
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => whoAmI(instances[i % 3]!, sessionCookie)));
    expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(30);
    expect(refreshGrants().length - grants).toBe(1);
    // Every request went out with the one new access token.
    expect(new Set(dataverse.bearers).size).toBe(1);
    expectNoReuse();
    await expectGrantIntact(sessionId);
  });
});
