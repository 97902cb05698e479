/**
 * The in-process scenarios, on real software (dynalite, the dev IdP, the Dataverse stand-in) wired
 * exactly as the integration tests wire it (test/support/stack.ts): warm proxy path, refresh storm,
 * KMS use. Every measured "Lambda instance" is its own `createServices` runtime (own caches).
 */
import { performance } from 'node:perf_hooks';
import { proxyRoute } from '../functions/proxy/handler.ts';
import { sha256 } from '../shared/crypto/random.ts';
import { createHandler } from '../shared/http/middleware.ts';
import type { ServiceOverrides, Services } from '../shared/runtime.ts';
import { apiEvent, lambdaContext } from '../test/support/events.ts';
import { signIn, type TestStack } from '../test/support/stack.ts';
import {
  CountingKeyProvider,
  countingDynamo,
  DYNAMO_READS,
  DYNAMO_WRITES,
  FakeKms,
  mockedKmsKeyProvider,
  type CountingDynamo,
} from './instrument.ts';
import { perRequest, round, sleep, summarize, Tally, type Summary } from './stats.ts';

export const WHOAMI = '/api/data/v9.2/WhoAmI';
/** The proxy's Lambda timeout (shared/http/routes.ts: 29 s), as the remaining-time budget. */
const PROXY_BUDGET_MS = 29_000;

/** Counts the IdP's token-endpoint answers to refresh_token grants. */
export function tokenCallCounter(stack: TestStack): () => number {
  let calls = 0;
  stack.idp.server.service.on('beforeResponse', (_res: unknown, req: { body?: Record<string, string> }) => {
    if (req.body?.grant_type === 'refresh_token') calls += 1;
  });
  return () => calls;
}

interface Instance {
  services: Services;
  dynamo: CountingDynamo;
  /** Dataverse calls this runtime made (its `dataverseFetch`), when counted. */
  upstreamCalls(): number;
  /** `dynamoMs`: DynamoDB time inside this call (exact only when calls do not overlap). */
  invoke(sessionToken: string): Promise<{ ms: number; status: number; dynamoMs: number }>;
}

/**
 * One independent runtime = one Lambda instance: its own DynamoDB client (counted), vault cache,
 * refresher and Entra client. The refresher runs with production defaults (poll ~100 ms), not the
 * tests' 20 ms.
 */
function instance(stack: TestStack, overrides: ServiceOverrides, countUpstream = false): Instance {
  const dynamo = countingDynamo(stack.dynamo.endpoint);
  let upstream = 0;
  const counted: ServiceOverrides = countUpstream
    ? {
        dataverseFetch: (input, init) => {
          upstream += 1;
          return fetch(input, init);
        },
      }
    : {};
  const services = stack.newInstance({ dynamo: dynamo.client, refresher: {}, ...counted, ...overrides });
  const handler = createHandler(proxyRoute(() => services));
  return {
    services,
    dynamo,
    upstreamCalls: () => upstream,
    async invoke(sessionToken) {
      const event = apiEvent({
        path: WHOAMI,
        headers: { authorization: `Bearer ${sessionToken}`, accept: 'application/json' },
      });
      const context = lambdaContext(PROXY_BUDGET_MS);
      const busy = dynamo.busyMs;
      const started = performance.now();
      const response = await handler(event, context);
      return { ms: performance.now() - started, status: response.statusCode, dynamoMs: dynamo.busyMs - busy };
    },
  };
}

function split(counts: Record<string, number>) {
  let reads = 0;
  let writes = 0;
  for (const [op, n] of Object.entries(counts)) {
    if (DYNAMO_READS.has(op)) reads += n;
    if (DYNAMO_WRITES.has(op)) writes += n;
  }
  return { reads, writes };
}

const statusTally = (statuses: number[]) => {
  const t = new Tally();
  for (const s of statuses) t.add(String(s));
  return t.snapshot();
};

// ---------------------------------------------------------------------------------------------
// 1. Warm proxy path

export interface WarmProxyResult {
  requests: number;
  batchSize: number;
  path: string;
  statuses: Record<string, number>;
  dynamodbPerRequest: Record<string, number>;
  dynamodbReadsPerRequest: number;
  dynamodbWritesPerRequest: number;
  kmsPerRequest: Record<string, number>;
  kmsCallsPerRequest: number;
  firstRequestOnFreshInstance: { dynamodb: Record<string, number>; kms: Record<string, number> };
  handlerMs: Summary;
  directMs: Summary;
  overheadMs: number;
  ratio: number;
  dynamodbCallMs: Summary;
  /** Each handler call minus its own DynamoDB time: what the service adds besides the session read. */
  handlerExcludingDynamodbMs: Summary;
  /** median(handler − its DynamoDB time) − median(direct). */
  overheadExcludingDynamodbMs: number;
  kmsAdapter: {
    requests: number;
    statuses: Record<string, number>;
    kmsPerRequest: Record<string, number>;
    kmsCallsPerRequest: number;
    dynamodbPerRequest: Record<string, number>;
    firstRequestOnFreshInstance: { kms: Record<string, number> };
    handlerMs: Summary;
  };
}

export async function warmProxy(
  stack: TestStack,
  requests = 1_000,
  batchSize = 50,
  warmup = 30,
): Promise<WarmProxyResult> {
  // Sign in through the stack's own runtime (the "callback function"), measure on a fresh one.
  const { sessionToken } = await signIn(stack);
  const id = sha256(sessionToken);
  const stored = await stack.services.sessions.get(id, Math.floor(Date.now() / 1000));
  if (!stored) throw new Error('signed-in session not found');
  const accessToken = await (await stack.services.vault()).open(id, stored.dataKey, 'access_token', stored.accessToken);

  const keys = new CountingKeyProvider(stack.keyProvider);
  const lambda = instance(stack, { keyProvider: keys });
  const upstream = new URL(WHOAMI, stack.dataverse.url).href;
  // What the proxy itself sends upstream for this request (its OData defaults included).
  const directHeaders = {
    authorization: `Bearer ${accessToken}`,
    accept: 'application/json',
    'odata-maxversion': '4.0',
    'odata-version': '4.0',
  };
  const direct = async () => {
    const started = performance.now();
    const response = await fetch(upstream, { headers: directHeaders, redirect: 'manual' });
    await response.arrayBuffer();
    return { ms: performance.now() - started, status: response.status };
  };

  const first = await lambda.invoke(sessionToken);
  if (first.status !== 200) throw new Error(`first proxied request answered ${first.status}`);
  const firstRequestOnFreshInstance = { dynamodb: lambda.dynamo.counts.snapshot(), kms: keys.counts.snapshot() };
  for (let i = 0; i < warmup; i++) {
    await lambda.invoke(sessionToken);
    await direct();
  }
  lambda.dynamo.counts.reset();
  keys.counts.reset();
  lambda.dynamo.timing = true;

  // Alternating batches (handler first on even batches, direct first on odd ones).
  const handlerMs: number[] = [];
  const handlerExDynamoMs: number[] = [];
  const directMs: number[] = [];
  const statuses: number[] = [];
  const directStatuses: number[] = [];
  for (let b = 0; b * batchSize < requests; b++) {
    const n = Math.min(batchSize, requests - b * batchSize);
    const runHandler = async () => {
      for (let i = 0; i < n; i++) {
        const r = await lambda.invoke(sessionToken);
        handlerMs.push(r.ms);
        handlerExDynamoMs.push(r.ms - r.dynamoMs);
        statuses.push(r.status);
      }
    };
    const runDirect = async () => {
      for (let i = 0; i < n; i++) {
        const r = await direct();
        directMs.push(r.ms);
        directStatuses.push(r.status);
      }
    };
    if (b % 2 === 0) {
      await runHandler();
      await runDirect();
    } else {
      await runDirect();
      await runHandler();
    }
  }
  lambda.dynamo.timing = false;
  if (directStatuses.some((s) => s !== 200)) throw new Error('direct upstream calls failed');
  const dynamoCounts = lambda.dynamo.counts.snapshot();
  const { reads, writes } = split(dynamoCounts);
  const kmsCounts = { Decrypt: keys.counts.get('Decrypt'), GenerateDataKey: keys.counts.get('GenerateDataKey') };
  const handler = summarize(handlerMs);
  const directSummary = summarize(directMs);

  // 1b. The same warm path with the real KmsKeyProvider over a mocked KMSClient.
  const fake = new FakeKms();
  const signerKms = mockedKmsKeyProvider(fake);
  const measuredKms = mockedKmsKeyProvider(fake);
  try {
    const signed = await signIn(stack, stack.routes(stack.newInstance({ keyProvider: signerKms.keyProvider })));
    const kmsLambda = instance(stack, { keyProvider: measuredKms.keyProvider });
    const kmsFirst = await kmsLambda.invoke(signed.sessionToken);
    if (kmsFirst.status !== 200) throw new Error(`first proxied request (KMS adapter) answered ${kmsFirst.status}`);
    const firstKms = measuredKms.counts();
    for (let i = 0; i < warmup; i++) await kmsLambda.invoke(signed.sessionToken);
    measuredKms.resetCounts();
    kmsLambda.dynamo.counts.reset();
    const ms: number[] = [];
    const kmsStatuses: number[] = [];
    for (let i = 0; i < requests; i++) {
      const r = await kmsLambda.invoke(signed.sessionToken);
      ms.push(r.ms);
      kmsStatuses.push(r.status);
    }
    const adapterCounts = measuredKms.counts();
    const kmsAdapter = {
      requests,
      statuses: statusTally(kmsStatuses),
      kmsPerRequest: perRequest(adapterCounts, requests),
      kmsCallsPerRequest: round(Object.values(adapterCounts).reduce((a, v) => a + v, 0) / requests, 4),
      dynamodbPerRequest: perRequest(kmsLambda.dynamo.counts.snapshot(), requests),
      firstRequestOnFreshInstance: { kms: firstKms },
      handlerMs: summarize(ms),
    };
    kmsLambda.dynamo.client.destroy();
    lambda.dynamo.client.destroy();
    return {
      requests,
      batchSize,
      path: `GET ${WHOAMI}`,
      statuses: statusTally(statuses),
      dynamodbPerRequest: perRequest(dynamoCounts, requests),
      dynamodbReadsPerRequest: round(reads / requests, 4),
      dynamodbWritesPerRequest: round(writes / requests, 4),
      kmsPerRequest: perRequest(kmsCounts, requests),
      kmsCallsPerRequest: round(keys.counts.total() / requests, 4),
      firstRequestOnFreshInstance,
      handlerMs: handler,
      directMs: directSummary,
      overheadMs: round(handler.median - directSummary.median),
      ratio: round(handler.median / directSummary.median, 2),
      dynamodbCallMs: summarize(lambda.dynamo.durationsMs),
      handlerExcludingDynamodbMs: summarize(handlerExDynamoMs),
      overheadExcludingDynamodbMs: round(summarize(handlerExDynamoMs).median - directSummary.median),
      kmsAdapter,
    };
  } finally {
    signerKms.restore();
    measuredKms.restore();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Refresh storm

export interface RefreshStormResult {
  requests: number;
  instances: number;
  tokenCalls: number;
  successes: number;
  statuses: Record<string, number>;
  latencyMs: Summary;
  dataverseCalls: number;
  dynamodb: Record<string, number>;
  kms: Record<string, number>;
}

export async function refreshStorm(
  stack: TestStack,
  tokenCalls: () => number,
  requests = 50,
  instances = 5,
): Promise<RefreshStormResult> {
  const { sessionToken } = await signIn(stack);
  const keys = Array.from({ length: instances }, () => new CountingKeyProvider(stack.keyProvider));
  const lambdas = keys.map((k) => instance(stack, { keyProvider: k }, true));
  // Warm every instance on this session (SDK connection, cached data key): a storm hits warm instances.
  for (const l of lambdas) {
    const r = await l.invoke(sessionToken);
    if (r.status !== 200) throw new Error(`storm warm-up answered ${r.status}`);
  }
  stack.dataverse.expireIssuedTokens();
  // Older stand-ins expire by `iat` second: new tokens must be issued in a later second.
  await sleep(1_100);
  for (const l of lambdas) l.dynamo.counts.reset();
  for (const k of keys) k.counts.reset();
  const tokenBefore = tokenCalls();
  const upstreamBefore = lambdas.reduce((sum, l) => sum + l.upstreamCalls(), 0);

  const answers = await Promise.all(
    Array.from({ length: requests }, (_, i) => lambdas[i % instances]!.invoke(sessionToken)),
  );

  const dynamo = new Tally();
  const kms = new Tally();
  for (const l of lambdas) for (const [op, n] of Object.entries(l.dynamo.counts.snapshot())) dynamo.add(op, n);
  for (const k of keys) for (const [op, n] of Object.entries(k.counts.snapshot())) kms.add(op, n);
  for (const l of lambdas) l.dynamo.client.destroy();
  return {
    requests,
    instances,
    tokenCalls: tokenCalls() - tokenBefore,
    successes: answers.filter((a) => a.status >= 200 && a.status < 300).length,
    statuses: statusTally(answers.map((a) => a.status)),
    latencyMs: summarize(answers.map((a) => a.ms)),
    dataverseCalls: lambdas.reduce((sum, l) => sum + l.upstreamCalls(), 0) - upstreamBefore,
    dynamodb: dynamo.snapshot(),
    kms: kms.snapshot(),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. KMS use on one fresh instance

export interface KmsRun {
  requests: number;
  sessions: number;
  rotations: number;
  statuses: Record<string, number>;
  kmsCalls: Record<string, number>;
  kmsTotal: number;
  kmsPer1000Requests: number;
  dynamodbPerRequest: Record<string, number>;
}

export async function kmsRun(
  stack: TestStack,
  tokenCalls: () => number,
  requests: number,
  sessions = 10,
): Promise<KmsRun> {
  const fake = new FakeKms();
  const signerKms = mockedKmsKeyProvider(fake);
  const measuredKms = mockedKmsKeyProvider(fake);
  try {
    const routes = stack.routes(stack.newInstance({ keyProvider: signerKms.keyProvider }));
    const tokens: string[] = [];
    for (let i = 0; i < sessions; i++) tokens.push((await signIn(stack, routes)).sessionToken);

    const lambda = instance(stack, { keyProvider: measuredKms.keyProvider });
    const rounds = Math.ceil(requests / sessions);
    const rotationRound = Math.floor(rounds / 2);
    const statuses: number[] = [];
    const tokenBefore = tokenCalls();
    let sent = 0;
    for (let r = 0; r < rounds && sent < requests; r++) {
      const batch = tokens.slice(0, Math.min(sessions, requests - sent));
      if (r === rotationRound) {
        // One rotation per session: Dataverse answers the session's next request with 401 once.
        for (const token of batch) {
          stack.dataverse.failNext(401);
          statuses.push((await lambda.invoke(token)).status);
        }
      } else {
        statuses.push(...(await Promise.all(batch.map((token) => lambda.invoke(token)))).map((a) => a.status));
      }
      sent += batch.length;
    }
    const kmsCalls = measuredKms.counts();
    const kmsTotal = Object.values(kmsCalls).reduce((a, v) => a + v, 0);
    const result: KmsRun = {
      requests: sent,
      sessions,
      rotations: tokenCalls() - tokenBefore,
      statuses: statusTally(statuses),
      kmsCalls,
      kmsTotal,
      kmsPer1000Requests: round((kmsTotal / sent) * 1000, 2),
      dynamodbPerRequest: perRequest(lambda.dynamo.counts.snapshot(), sent),
    };
    lambda.dynamo.client.destroy();
    return result;
  } finally {
    signerKms.restore();
    measuredKms.restore();
  }
}
