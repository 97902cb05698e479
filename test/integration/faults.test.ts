import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyServiceUnavailableError, type KeyProvider } from '../../shared/crypto/key-provider.ts';
import { sha256 } from '../../shared/crypto/random.ts';
import type { Fetch } from '../../shared/oauth/client.ts';
import { StoreUnavailableError, type SessionStore } from '../../shared/stores/model.ts';
import { jsonBody, signIn, startTestStack, type TestStack } from '../support/stack.ts';
import { abortReason } from '../support/abort.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { TOKEN_ENDPOINT_TIMEOUT_MS: '300' } });
});
afterAll(async () => stack?.stop());

const refreshRequests = () => stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The raw session row, to prove a failure changed nothing. */
async function rawItem(token: string) {
  const out = await stack.dynamoClient.send(
    new GetItemCommand({ TableName: 'Sessions', Key: { id: { S: sha256(token) } } }),
  );
  return out.Item;
}

/** fetch for the IdP that misbehaves on token-endpoint calls. */
function tokenEndpoint(behaviour: 'hang' | 'garbage' | 'html500'): Fetch {
  return async (input, init) => {
    if (!input.endsWith('/token')) return fetch(input, init);
    if (behaviour === 'hang') {
      return new Promise<Response>((_, reject) => {
        init.signal?.addEventListener('abort', () => reject(abortReason(init.signal)));
      });
    }
    if (behaviour === 'garbage')
      return new Response('{"access_token": "unterminated', {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    return new Response('<html>Service Unavailable</html>', { status: 500, headers: { 'content-type': 'text/html' } });
  };
}

function failing<T extends object>(
  target: T,
  method: keyof T,
  error: () => Error,
  times = Number.POSITIVE_INFINITY,
): T {
  let left = times;
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (prop !== method || typeof value !== 'function') return typeof value === 'function' ? value.bind(obj) : value;
      return (...args: unknown[]) => {
        if (left-- > 0) return Promise.reject(error());
        return (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}

describe('fault injection: the token endpoint', () => {
  it.each([
    ['times out', 'hang', 503, 'temporarily_unavailable'],
    ['answers 500 with HTML', 'html500', 503, 'temporarily_unavailable'],
    ['answers malformed JSON', 'garbage', 502, 'upstream_error'],
  ] as const)(
    '%s: a clear error, the stored tokens untouched, and the next refresh works',
    async (_name, behaviour, status, code) => {
      const { sessionToken } = await signIn(stack);
      const before = await rawItem(sessionToken);
      // A sent token request is awaited until the lease ends (here 1 s), not TOKEN_ENDPOINT_TIMEOUT_MS.
      const broken = stack.routes(
        stack.newInstance({ idpFetch: tokenEndpoint(behaviour), refresher: { leaseMs: 1_000, pollMs: 20 } }),
      );
      const answer = await broken.refresh({ method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) });
      expect(answer.statusCode).toBe(status);
      expect(jsonBody(answer)).toMatchObject({ error: code });
      const after = await rawItem(sessionToken);
      expect(after!.refreshToken).toEqual(before!.refreshToken);
      expect(after!.version).toEqual(before!.version);
      expect(after!.leaseId).toBeUndefined();
      const healed = await stack
        .routes()
        .refresh({ method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) });
      expect(healed.statusCode).toBe(200);
    },
  );

  it('through the proxy: a Dataverse 401 with the token endpoint down gives 503, not a lost session', async () => {
    const { sessionToken } = await signIn(stack);
    stack.dataverse.failNext(401);
    const broken = stack.routes(stack.newInstance({ idpFetch: tokenEndpoint('html500') }));
    const answer = await broken.proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(answer.statusCode).toBe(503);
    const ok = await stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(ok.statusCode).toBe(200);
  });
});

describe('fault injection: DynamoDB', () => {
  it('rotation where the new refresh token arrives but the write fails: the write is retried, the new one kept, the spent one never sent again', async () => {
    const { sessionToken } = await signIn(stack);
    const storedBefore = await rawItem(sessionToken);
    const firstRequest = refreshRequests().length;
    const sessions = failing(
      stack.services.sessions,
      'saveRotatedTokens',
      () => new StoreUnavailableError('injected'),
      1,
    );
    const broken = stack.routes(stack.newInstance({ sessions, refresher: { saveRetryMs: 20 } }));
    const answer = await broken.refresh({ method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) });
    expect(answer.statusCode, answer.body).toBe(200);
    expect(refreshRequests().length - firstRequest).toBe(1);
    const storedAfter = await rawItem(sessionToken);
    expect(storedAfter!.refreshToken).not.toEqual(storedBefore!.refreshToken);
    expect(Number(storedAfter!.version!.N)).toBe(Number(storedBefore!.version!.N) + 1);
    expect(storedAfter!.leaseId).toBeUndefined();
    const spentRefreshToken = refreshRequests()[firstRequest]!.refresh_token;

    // The next refresh (a Dataverse 401) redeems the new refresh token.
    stack.dataverse.failNext(401);
    const next = await stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(next.statusCode).toBe(200);
    expect(refreshRequests().length - firstRequest).toBe(2);
    expect(refreshRequests().at(-1)!.refresh_token).not.toBe(spentRefreshToken);
  });

  it('when every write of a rotation fails within the lease: 503, the lease kept, and the new tokens written by the next refresh without a token call', async () => {
    const { sessionToken } = await signIn(stack);
    const storedBefore = await rawItem(sessionToken);
    const firstRequest = refreshRequests().length;
    const sessions = failing(
      stack.services.sessions,
      'saveRotatedTokens',
      () => new StoreUnavailableError('injected'),
      4,
    );
    const instance = stack.newInstance({ sessions, refresher: { leaseMs: 400, saveRetryMs: 50, pollMs: 20 } });
    const answer = await stack
      .routes(instance)
      .refresh({ method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) });
    expect(answer.statusCode).toBe(503);
    const held = await rawItem(sessionToken);
    expect(held!.refreshToken).toEqual(storedBefore!.refreshToken);
    // The lease is not given back: another instance must not send the spent token before it runs out.
    expect(held!.leaseId).toBeDefined();

    const again = await stack
      .routes(instance)
      .refresh({ method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) });
    expect(again.statusCode, again.body).toBe(200);
    expect(refreshRequests().length - firstRequest).toBe(1);
    expect((await rawItem(sessionToken))!.refreshToken).not.toEqual(storedBefore!.refreshToken);
  });

  it('a throttled read answers 503 with Retry-After and changes nothing', async () => {
    const { sessionToken } = await signIn(stack);
    const sessions = failing(
      stack.services.sessions,
      'get',
      () => new StoreUnavailableError('ProvisionedThroughputExceededException'),
    );
    const broken = stack.routes(stack.newInstance({ sessions }));
    const answer = await broken.proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(answer.statusCode).toBe(503);
    expect(answer.headers['Retry-After']).toBe('1');
    expect(jsonBody(answer)).toMatchObject({ error: { code: 'temporarily_unavailable' } });
  });

  it('a lease that is never released (conditional check keeps failing) ends in 503 after the wait, not a hang', async () => {
    const { sessionToken } = await signIn(stack);
    const sessions: SessionStore = failing(
      stack.services.sessions,
      'acquireRefreshLease',
      () => new Error('unused'),
      0,
    );
    const alwaysHeld = new Proxy(sessions, {
      get: (obj, prop) => (prop === 'acquireRefreshLease' ? async () => false : Reflect.get(obj, prop)),
    });
    const calls = refreshRequests().length;
    const broken = stack.routes(stack.newInstance({ sessions: alwaysHeld, refresher: { leaseMs: 300, pollMs: 20 } }));
    // A 3 s function budget: the wait ends by the budget, whatever it is (the default, 29 s, made this test slow).
    const started = Date.now();
    const answer = await broken.refresh(
      { method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) },
      3_000,
    );
    expect(answer.statusCode).toBe(503);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(refreshRequests().length).toBe(calls);
  });
});

describe('refresh within the function’s time budget', () => {
  it('a request waiting on another instance’s live lease answers 503 JSON before its own Lambda time runs out', async () => {
    const { sessionToken } = await signIn(stack);
    const id = sha256(sessionToken);
    const session = (await stack.services.sessions.get(id, Math.floor(Date.now() / 1000)))!;
    expect(
      await stack.services.sessions.acquireRefreshLease(
        id,
        session.version,
        'another-instance',
        Date.now() + 60_000,
        Date.now(),
      ),
    ).toBe(true);
    const calls = refreshRequests().length;
    const started = Date.now();
    const answer = await stack
      .routes()
      .refresh({ method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) }, 2_500);
    const elapsed = Date.now() - started;
    expect(answer.statusCode).toBe(503);
    expect(jsonBody(answer)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(elapsed).toBeLessThan(2_500);
    expect(refreshRequests().length).toBe(calls);
    await stack.services.sessions.releaseRefreshLease(id, 'another-instance');
  });
});

describe('fault injection: KMS', () => {
  const throttled = (base: KeyProvider, op: 'generateDataKey' | 'decryptDataKey'): KeyProvider =>
    failing(base, op, () => new KeyServiceUnavailableError('KMS unavailable (ThrottlingException)'));

  it('throttled Decrypt on a cold instance: 503, nothing changed, no upstream call', async () => {
    const { sessionToken } = await signIn(stack);
    const before = await rawItem(sessionToken);
    stack.dataverse.requests.length = 0;
    const broken = stack.routes(stack.newInstance({ keyProvider: throttled(stack.keyProvider, 'decryptDataKey') }));
    const answer = await broken.proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(answer.statusCode).toBe(503);
    expect(stack.dataverse.requests).toHaveLength(0);
    expect(await rawItem(sessionToken)).toEqual(before);
  });

  it('throttled GenerateDataKey at the callback: 503 and no session created', async () => {
    const broken = stack.routes(stack.newInstance({ keyProvider: throttled(stack.keyProvider, 'generateDataKey') }));
    await expect(signIn(stack, broken)).rejects.toThrow(/callback answered 503/);
  });
});

describe('fault injection: Dataverse', () => {
  it('passes a 5xx through with its body', async () => {
    const { sessionToken } = await signIn(stack);
    stack.dataverse.failNext(
      503,
      1,
      { 'content-type': 'application/json' },
      '{"error":{"code":"0x80040216","message":"busy"}}',
    );
    const answer = await stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(answer.statusCode).toBe(503);
    expect(jsonBody(answer)).toMatchObject({ error: { message: 'busy' } });
  });

  it('turns a connection reset into 502 upstream_unreachable', async () => {
    const { sessionToken } = await signIn(stack);
    stack.dataverse.resetNext();
    const answer = await stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(answer.statusCode).toBe(502);
    expect(jsonBody(answer)).toMatchObject({ error: { code: 'upstream_unreachable' } });
  });
});

describe('refresh storm across instances', () => {
  it('50 concurrent requests on an expired session over three instances: one token call, 50 successes', async () => {
    const { sessionToken } = await signIn(stack);
    await stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) }); // the token is now in use
    stack.dataverse.expireIssuedTokens();
    const before = refreshRequests().length;
    const instances = [0, 1, 2].map(() => stack.routes(stack.newInstance()));
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        instances[i % 3]!.proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) }),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(50);
    expect(refreshRequests().length - before).toBe(1);
  });
});
