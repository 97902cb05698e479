/**
 * Active-active over Regions: two service instances configured as different Regions (each its own
 * DynamoDB client and its own Regional KMS endpoint with its replica of one multi-Region key) over
 * one strongly consistent store, as a multi-Region strong consistency global table gives them
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/multi-region-strong-consistency-gt.html).
 */
import { ReplicatedWriteConflictException } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingDynamo, type CountingDynamo } from '../../bench/instrument.ts';
import { Tally } from '../../bench/stats.ts';
import { sha256 } from '../../shared/crypto/random.ts';
import { TokenVault } from '../../shared/crypto/envelope.ts';
import { DecryptionError } from '../../shared/crypto/key-provider.ts';
import { SESSION_COOKIE } from '../../shared/http/cookies.ts';
import type { Services } from '../../shared/runtime.ts';
import { MultiRegionKms } from '../support/multi-region-kms.ts';
import {
  cookiePair,
  jsonBody,
  LOGIN_COOKIE,
  signIn,
  startTestStack,
  type Routes,
  type TestStack,
} from '../support/stack.ts';

const A = 'us-east-1';
const B = 'us-west-2';

interface RegionInstance {
  region: string;
  services: Services;
  routes: Routes;
  dynamo: CountingDynamo;
  kmsCalls: () => number;
  /** ConsistentRead of every read this instance sent (MRSC is strongly consistent only for strongly consistent reads). */
  readConsistency: (boolean | undefined)[];
}

let stack: TestStack;
let kms: MultiRegionKms;
let keyId: string;
let regionA: RegionInstance;
let regionB: RegionInstance;
const restores: (() => void)[] = [];

function regionInstance(region: string): RegionInstance {
  const dynamo = countingDynamo(stack.dynamo.endpoint);
  const mocked = kms.providerIn(region, MultiRegionKms.arn(region, keyId));
  restores.push(mocked.restore, () => dynamo.client.destroy());
  const readConsistency: (boolean | undefined)[] = [];
  dynamo.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (/^(GetItem|Query|Scan)Command$/.test(String(context.commandName))) {
        readConsistency.push((args.input as { ConsistentRead?: boolean }).ConsistentRead);
      }
      return next(args);
    },
    { step: 'initialize', name: 'readConsistency' },
  );
  const services = stack.newInstance({ dynamo: dynamo.client, keyProvider: mocked.keyProvider });
  return { region, services, routes: stack.routes(services), dynamo, kmsCalls: mocked.calls, readConsistency };
}

beforeAll(async () => {
  stack = await startTestStack();
  kms = new MultiRegionKms();
  keyId = kms.createKey(A, [B]);
  regionA = regionInstance(A);
  regionB = regionInstance(B);
});
afterAll(async () => {
  for (const restore of restores) restore();
  await stack?.stop();
});

const refreshCalls = () => stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
const whoAmI = (routes: Routes, sessionToken: string) =>
  routes.proxy({ path: '/api/data/v9.2/WhoAmI', headers: { authorization: `Bearer ${sessionToken}` } });

describe('multi-Region: one store, a multi-Region key', () => {
  it('a login started in Region A finishes in Region B, and the session works in both', async () => {
    const login = await regionA.routes.login({
      path: '/auth/login',
      query: `returnTo=${encodeURIComponent('http://localhost:5173/app')}`,
    });
    expect(login.statusCode).toBe(302);
    const binding = cookiePair(login.cookies, LOGIN_COOKIE)!;
    const idpAnswer = await fetch(new URL(login.headers.Location!), { redirect: 'manual' });
    const back = new URL(idpAnswer.headers.get('location')!);
    // Failover between the redirect out and the redirect back: the callback lands in Region B.
    const callback = await regionB.routes.callback({
      path: '/auth/callback',
      query: back.search.slice(1),
      cookies: [binding],
    });
    expect(callback.statusCode).toBe(302);
    const sessionToken = cookiePair(callback.cookies, SESSION_COOKIE)!.split('=')[1]!;
    expect((await whoAmI(regionB.routes, sessionToken)).statusCode).toBe(200);
    expect((await whoAmI(regionA.routes, sessionToken)).statusCode).toBe(200);
    // The pending login was single-use across Regions: replaying the callback in A is refused.
    const replay = await regionA.routes.callback({
      path: '/auth/callback',
      query: back.search.slice(1),
      cookies: [binding],
    });
    expect(replay.statusCode).toBe(400);
  });

  it('a session used alternately in A and B, across a refresh in each, keeps working', async () => {
    const { sessionToken } = await signIn(stack, regionA.routes);
    for (let i = 0; i < 6; i++) {
      const routes = i % 2 === 0 ? regionA.routes : regionB.routes;
      if (i === 2 || i === 5) stack.dataverse.expireIssuedTokens();
      const answer = await whoAmI(routes, sessionToken);
      expect(answer.statusCode, `request ${i} in ${i % 2 === 0 ? A : B}`).toBe(200);
    }
    const session = (await regionB.services.sessions.get(sha256(sessionToken), Math.floor(Date.now() / 1000)))!;
    expect(session.version).toBe(3);
  });

  it('a refresh storm split across both Regions makes one token-endpoint call', async () => {
    const { sessionToken } = await signIn(stack, regionB.routes);
    // Each Region warmed on the session (cached data key), as a storm hits warm instances.
    expect((await whoAmI(regionA.routes, sessionToken)).statusCode).toBe(200);
    expect((await whoAmI(regionB.routes, sessionToken)).statusCode).toBe(200);
    const instances = [regionA, regionB, regionInstance(A), regionInstance(B)].map((r) => r.routes);
    const before = refreshCalls();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        instances[i % instances.length]!.refresh({
          method: 'POST',
          path: '/auth/refresh',
          headers: { authorization: `Bearer ${sessionToken}` },
        }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
    expect(refreshCalls() - before).toBe(1);
  });

  it('a replicated write conflict on the lease write (MRSC, concurrent writers in two Regions) is retried by the SDK: still one token call', async () => {
    const { sessionToken } = await signIn(stack, regionA.routes);
    const conflicted = countingDynamo(stack.dynamo.endpoint);
    restores.push(() => conflicted.client.destroy());
    let injected = 0;
    // Inside the SDK's retry loop (deserialize step), as DynamoDB would answer the losing Region.
    conflicted.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UpdateItemCommand' && injected === 0) {
          injected++;
          throw new ReplicatedWriteConflictException({ message: 'replicated write conflict', $metadata: {} });
        }
        return next(args);
      },
      { step: 'deserialize', name: 'replicatedWriteConflict' },
    );
    const mocked = kms.providerIn(B, MultiRegionKms.arn(B, keyId));
    restores.push(mocked.restore);
    const inB = stack.routes(stack.newInstance({ dynamo: conflicted.client, keyProvider: mocked.keyProvider }));
    const before = refreshCalls();
    const answers = await Promise.all([
      inB.refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } }),
      regionA.routes.refresh({
        method: 'POST',
        path: '/auth/refresh',
        headers: { authorization: `Bearer ${sessionToken}` },
      }),
    ]);
    expect(injected).toBe(1);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200]);
    expect(refreshCalls() - before).toBe(1);
  });

  it('logout in one Region is seen at once in the other', async () => {
    const { sessionToken } = await signIn(stack, regionA.routes);
    expect((await whoAmI(regionB.routes, sessionToken)).statusCode).toBe(200);
    const out = await regionA.routes.logout({
      method: 'POST',
      path: '/auth/logout',
      headers: { authorization: `Bearer ${sessionToken}` },
    });
    expect(out.statusCode).toBeLessThan(400);
    const after = await whoAmI(regionB.routes, sessionToken);
    expect(after.statusCode).toBe(401);
    expect(jsonBody(after)).toMatchObject({ error: { code: 'unauthenticated' } });
  });

  it('the warm path is one DynamoDB read and no KMS call in either Region', async () => {
    const { sessionToken } = await signIn(stack, regionA.routes);
    for (const region of [regionA, regionB]) {
      expect((await whoAmI(region.routes, sessionToken)).statusCode).toBe(200); // warms the data key cache
      region.dynamo.counts = new Tally();
      const kmsBefore = region.kmsCalls();
      for (let i = 0; i < 5; i++) expect((await whoAmI(region.routes, sessionToken)).statusCode).toBe(200);
      expect(region.dynamo.counts.snapshot(), region.region).toEqual({ GetItem: 5 });
      expect(region.kmsCalls() - kmsBefore, region.region).toBe(0);
    }
    // Every read either Region made in this file asked for a strongly consistent read.
    const reads = [...regionA.readConsistency, ...regionB.readConsistency];
    expect(reads.length).toBeGreaterThan(10);
    expect(reads.every((consistent) => consistent === true)).toBe(true);
  });
});

describe('multi-Region key replicas (KmsKeyProvider over a mocked Regional KMS)', () => {
  const context = { purpose: 'session', session: 'a'.repeat(64) };

  it("Region B's replica opens a data key Region A's key sealed, under the same encryption context", async () => {
    const id = kms.createKey(A, [B]);
    const sealed = await kms.providerIn(A, MultiRegionKms.arn(A, id)).keyProvider.generateDataKey(context);
    const opened = await kms
      .providerIn(B, MultiRegionKms.arn(B, id))
      .keyProvider.decryptDataKey(sealed.encrypted, context);
    expect(Buffer.from(opened)).toEqual(Buffer.from(sealed.plaintext));
    // The whole envelope too: a token sealed with A's replica opens with B's.
    const vaultA = new TokenVault(kms.providerIn(A, MultiRegionKms.arn(A, id)).keyProvider);
    const vaultB = new TokenVault(kms.providerIn(B, MultiRegionKms.arn(B, id)).keyProvider);
    const sealedTokens = await vaultA.seal('s1', { accessToken: 'at-value', refreshToken: 'rt-value' });
    expect(await vaultB.open('s1', sealedTokens.dataKey, 'refresh_token', sealedTokens.refreshToken)).toBe('rt-value');
    await expect(
      vaultB.open('s2', sealedTokens.dataKey, 'refresh_token', sealedTokens.refreshToken),
    ).rejects.toBeInstanceOf(DecryptionError);
  });

  it('refuses another context, another key, a single-Region key from another Region, and a key not replicated there', async () => {
    const id = kms.createKey(A, [B]);
    const other = kms.createKey(A, [B]);
    const sealed = await kms.providerIn(A, MultiRegionKms.arn(A, id)).keyProvider.generateDataKey(context);
    const inB = (key: string) => kms.providerIn(B, MultiRegionKms.arn(B, key)).keyProvider;
    await expect(
      inB(id).decryptDataKey(sealed.encrypted, { ...context, session: 'b'.repeat(64) }),
    ).rejects.toBeInstanceOf(DecryptionError);
    await expect(inB(other).decryptDataKey(sealed.encrypted, context)).rejects.toBeInstanceOf(DecryptionError);
    // A Regional endpoint cannot use the primary's ARN in another Region, nor an unreplicated key.
    await expect(
      kms.providerIn(B, MultiRegionKms.arn(A, id)).keyProvider.decryptDataKey(sealed.encrypted, context),
    ).rejects.toThrow(/NotFound/);
    const single = kms.createKey(A, [B], false);
    await expect(inB(single).decryptDataKey(sealed.encrypted, context)).rejects.toThrow(/NotFound/);
    const notReplicated = kms.createKey(A, []);
    await expect(inB(notReplicated).decryptDataKey(sealed.encrypted, context)).rejects.toThrow(/NotFound/);
  });
});
