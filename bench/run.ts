/**
 * `npm run bench` — measures the service on real software (dynalite, the dev IdP, the Dataverse
 * stand-in, the real esbuild bundles) and writes `bench/results.json` plus a table on stdout.
 * Everything runs in this process tree on 127.0.0.1 and is stopped at the end (~1–2 minutes).
 *
 * results.json (all durations in milliseconds; sizes in bytes, `kb` = bytes / 1024):
 *
 * generatedAt                ISO time of the run
 * machine                    {cpus, cpuModel, node, platform, arch, memoryMb, loadavg: [1, 5, 15 min] at start}
 * warmProxy                  1. warm proxied GET /api/data/v9.2/WhoAmI, bearer session token, one fresh runtime
 *   requests, batchSize      requests measured (after a warm-up) and the size of the alternating batches
 *   statuses                 {httpStatus: count} of the proxied requests
 *   dynamodbPerRequest       {Operation: commands per request} (DynamoDBClient middleware, initialize step)
 *   dynamodbReadsPerRequest, dynamodbWritesPerRequest
 *   kmsPerRequest            {Decrypt, GenerateDataKey} per request (counting wrapper around LocalKeyProvider)
 *   kmsCallsPerRequest       their sum
 *   firstRequestOnFreshInstance {dynamodb, kms}: counts of the very first request of the runtime (cold caches)
 *   handlerMs, directMs      {n, median, p99, max}: the proxy handler (middy, API Gateway v2 event) vs a direct
 *                            fetch of the same upstream URL with the same access token, interleaved in batches
 *   overheadMs, ratio        median(handler) − median(direct); median(handler) / median(direct)
 *   dynamodbCallMs           {n, median, p99, max} of the DynamoDB commands made by the measured handler calls
 *   handlerExcludingDynamodbMs {n, median, p99, max} of each handler call minus its own DynamoDB time
 *   overheadExcludingDynamodbMs median(handler − its DynamoDB time) − median(direct)
 *   kmsAdapter               the same warm path with the real KmsKeyProvider over an aws-sdk-client-mock'ed
 *                            KMSClient: {requests, statuses, kmsPerRequest, kmsCallsPerRequest, dynamodbPerRequest,
 *                            firstRequestOnFreshInstance: {kms}, handlerMs}
 * refreshStorm               2. concurrent proxied requests on one session whose access token was just expired
 *   requests, instances      50 requests spread round-robin over independent runtimes (each warmed by one request)
 *   tokenCalls               refresh_token grants the IdP answered during the storm
 *   successes, statuses      2xx answers; {httpStatus: count}
 *   latencyMs                {n, median, p99, max} per request, all started at once
 *   dataverseCalls           Dataverse calls the instances made during the storm (counted at their dataverseFetch)
 *   dynamodb, kms            {Operation: count} summed over the instances
 * kms                        3. KMS use of ONE fresh runtime (real KmsKeyProvider, mocked KMSClient)
 *   sessions                 sessions signed in beforehand (through another runtime, the "callback function")
 *   runs[]                   {requests, sessions, rotations (token calls), statuses, kmsCalls: {Decrypt, GenerateDataKey},
 *                            kmsTotal, kmsPer1000Requests, dynamodbPerRequest}; requests round-robin over the sessions
 *                            (10 in flight), one forced rotation per session half-way (Dataverse 401 once)
 *   grows                    true when kmsTotal of the longer run exceeds that of the shorter run
 * coldStart                  4. esbuild bundles built with infra/bundling.ts `bundleHandler` (as the CDK construct), run with its NODE_OPTIONS
 *   node, rounds             Node.js that ran them; measured rounds (one fresh `node` per bundle per round, order
 *                            rotated, a warm-up round discarded)
 *   baseline                 {entry, bytes, kb, entryBytes, totalBytes, initMs: {median, min, max, samples}} of
 *                            bench/cold-start-baseline.ts; bytes = what a cold start loads (index.mjs and the chunks
 *                            it imports statically), entryBytes = index.mjs, totalBytes = all chunks incl. lazy ones
 *   functions.<name>         the same for every function in shared/http/routes.ts, plus
 *                            ratio = initMs.median / baseline.initMs.median
 *   proxyTopInputs           top 10 [{input, bytesInOutput}] of what the proxy loads at cold start (esbuild metafile)
 *   proxyTopPackages         top 10 [{package, bytesInOutput}] of the same
 * localThroughput            5. `npm start`'s server in a child process, signed in over HTTP with a cookie jar
 *   path, clients            GET /api/data/v9.2/WhoAmI; concurrent clients (one session cookie)
 *   warmupSeconds, durationSeconds, requests, requestsPerSecond
 *   latencyMs                {n, median, p99, max}
 *   non2xx, errors           answers outside 2xx; network errors
 * odataPages                 6. large OData pages through the proxy's body path, in process (bench/odata-pages.ts)
 *   mapping                  {rows, bytes, runs, medianMs, msPerMb, jsonRoundTripMsPerMb, sizeChange}: the URL
 *                            mapping of a 5,000-row page of accounts (median of runs; MB = 2^20 bytes), and a
 *                            JSON.parse + JSON.stringify round trip of the same page for comparison
 *   compression              {pageRows, pageBytes, runs, proxyMemoryMb, cpuShare, levels[]}: each gzip level and
 *                            brotli quality on a 20 MB page: {coding, level, medianMs, bytes, ratio, mbPerSecond,
 *                            lambdaEstimateMs = medianMs / cpuShare (the proxy's memory / 1,769 MB)}
 *   largestPages[]           {coding: none|gzip|br, rows, rawBytes, sentBytes, limitedBy}: the largest page (to
 *                            50 rows) the proxy answers with 200, at the levels in use
 * targets[]                  {name, target, value, pass} — the goals, as shown in the PASS/MISS table
 *
 * `npm run bench -- --only=odata` runs section 6 alone and merges it into an existing results.json.
 */
import './env.ts';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestStack } from '../test/support/stack.ts';
import { measureColdStart, type ColdStartResult } from './cold-start.ts';
import { localThroughput } from './load.ts';
import {
  largestPages,
  measureCompressionLevels,
  measureMapping,
  type CompressionFigures,
  type LargestPage,
  type MappingFigures,
} from './odata-pages.ts';
import { kmsRun, refreshStorm, tokenCallCounter, warmProxy } from './scenarios.ts';
import { table, round } from './stats.ts';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const resultsFile = resolve(root, 'bench/results.json');

interface Target {
  name: string;
  target: string;
  value: number | string;
  pass: boolean;
}

const progress = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const fmt = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));
const counts = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

interface OdataPages {
  mapping: MappingFigures;
  compression: CompressionFigures;
  largestPages: LargestPage[];
}

function measureOdataPages(): OdataPages {
  progress('6/6 OData pages: URL mapping of a 5,000-row page, compression levels on a 20 MB page, largest pages');
  return { mapping: measureMapping(5_000, 15), compression: measureCompressionLevels(5), largestPages: largestPages() };
}

const mb = (bytes: number) => fmt(bytes / 2 ** 20, 1);

function odataTable(o: OdataPages): string {
  const m = o.mapping;
  const c = o.compression;
  return [
    `6. OData pages (in process): URL mapping of a ${m.rows.toLocaleString('en-US')}-row page of accounts, ${mb(m.bytes)} MB, median of ${m.runs}`,
    table(
      ['', 'median ms', 'ms per MB'],
      [
        ['URL mapping (annotations only, byte-exact)', fmt(m.medianMs), fmt(m.msPerMb, 3)],
        ['for comparison: JSON.parse + JSON.stringify', '', fmt(m.jsonRoundTripMsPerMb, 3)],
      ],
    ),
    `compression of a ${mb(c.pageBytes)} MB page (${c.pageRows.toLocaleString('en-US')} rows), median of ${c.runs}; Lambda estimate = ms / ${c.cpuShare} (${c.proxyMemoryMb} MB of 1,769 MB per vCPU)`,
    table(
      ['coding', 'level', 'median ms', 'MB/s', 'bytes', 'ratio', 'Lambda est. ms'],
      c.levels.map((l) => [
        l.coding,
        l.level,
        fmt(l.medianMs, 1),
        fmt(l.mbPerSecond, 1),
        l.bytes,
        fmt(l.ratio),
        l.lambdaEstimateMs,
      ]),
    ),
    'largest page answered with 200 (levels in use)',
    table(
      ['Accept-Encoding', 'rows', 'raw bytes', 'raw MB', 'sent bytes', 'limited by'],
      o.largestPages.map((p) => [p.coding, p.rows, p.rawBytes, mb(p.rawBytes), p.sentBytes, p.limitedBy]),
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  if (process.argv.includes('--only=odata')) {
    const odataPages = measureOdataPages();
    const previous = JSON.parse(await readFile(resultsFile, 'utf8').catch(() => '{}')) as Record<string, unknown>;
    await writeFile(resultsFile, `${JSON.stringify({ ...previous, odataPages }, null, 2)}\n`);
    console.log(
      `Benchmark ${new Date().toISOString()} — ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}, Node ${process.version}, load ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}\n`,
    );
    console.log(odataTable(odataPages));
    return;
  }
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: os.platform(),
    arch: os.arch(),
    memoryMb: Math.round(os.totalmem() / 2 ** 20),
    loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };

  progress('starting dynalite, the dev IdP and the Dataverse stand-in');
  const stack = await startTestStack();
  let warm, storm, kmsRuns;
  try {
    const tokenCalls = tokenCallCounter(stack);
    progress('1/6 warm proxy path (1,000 handler + 1,000 direct, then 1,000 with the KMS adapter)');
    warm = await warmProxy(stack, 1_000, 50);
    progress('2/6 refresh storm (50 concurrent requests, 5 instances)');
    storm = await refreshStorm(stack, tokenCalls, 50, 5);
    progress('3/6 KMS use (10 sessions on one fresh instance: 1,000 and 2,000 requests)');
    kmsRuns = [await kmsRun(stack, tokenCalls, 1_000, 10), await kmsRun(stack, tokenCalls, 2_000, 10)];
  } finally {
    await stack.stop();
  }
  const kms = { sessions: 10, runs: kmsRuns, grows: kmsRuns[1]!.kmsTotal > kmsRuns[0]!.kmsTotal };

  progress('4/6 cold start (bundling 7 entries, 12 interleaved rounds of fresh node processes)');
  const coldStart: ColdStartResult = await measureColdStart(root, 12);

  progress('5/6 local server throughput (child process, 20 clients, 10 s)');
  const local = await localThroughput(root, 20, 10, 1);

  const odataPages = measureOdataPages();

  const proxy = coldStart.functions.proxy!;
  const targets: Target[] = [
    {
      name: 'warm proxy: DynamoDB reads per request',
      target: '<= 1',
      value: warm.dynamodbReadsPerRequest,
      pass: warm.dynamodbReadsPerRequest <= 1,
    },
    {
      name: 'warm proxy: DynamoDB writes per request',
      target: '0',
      value: warm.dynamodbWritesPerRequest,
      pass: warm.dynamodbWritesPerRequest === 0,
    },
    {
      name: 'warm proxy: KMS calls per request (LocalKeyProvider, counted)',
      target: '0',
      value: warm.kmsCallsPerRequest,
      pass: warm.kmsCallsPerRequest === 0,
    },
    {
      name: 'warm proxy: KMS calls per request (KmsKeyProvider, mocked KMSClient)',
      target: '0',
      value: warm.kmsAdapter.kmsCallsPerRequest,
      pass: warm.kmsAdapter.kmsCallsPerRequest === 0,
    },
    {
      name: 'warm proxy: handler overhead, median ms',
      target: '<= 1',
      value: warm.overheadMs,
      pass: warm.overheadMs <= 1,
    },
    {
      name: 'refresh storm: token-endpoint calls',
      target: '= 1',
      value: storm.tokenCalls,
      pass: storm.tokenCalls === 1,
    },
    {
      name: 'refresh storm: successes',
      target: `= ${storm.requests}`,
      value: storm.successes,
      pass: storm.successes === storm.requests,
    },
    ...kms.runs.map((r) => ({
      name: `KMS: calls, ${r.sessions} sessions x ${r.requests} requests on one instance`,
      target: `<= ${r.sessions}`,
      value: r.kmsTotal,
      pass: r.kmsTotal <= r.sessions,
    })),
    {
      name: 'KMS: calls do not grow with request count',
      target: `${kms.runs[1]!.requests} req <= ${kms.runs[0]!.requests} req`,
      value: `${kms.runs[1]!.kmsTotal} vs ${kms.runs[0]!.kmsTotal}`,
      pass: !kms.grows,
    },
    {
      name: 'proxy bundle loaded at cold start, KB (1,024 bytes)',
      target: '<= 600',
      value: proxy.kb,
      pass: proxy.bytes <= 600 * 1024,
    },
    {
      name: 'proxy bundle, all chunks incl. lazy ones, KB',
      target: '<= 600',
      value: round(proxy.totalBytes / 1024, 1),
      pass: proxy.totalBytes <= 600 * 1024,
    },
    { name: 'proxy init / baseline init (median)', target: '<= 1.25', value: proxy.ratio, pass: proxy.ratio <= 1.25 },
  ];

  const results = {
    generatedAt: new Date().toISOString(),
    machine,
    warmProxy: warm,
    refreshStorm: storm,
    kms,
    coldStart,
    localThroughput: local,
    odataPages,
    targets,
  };
  await writeFile(resultsFile, `${JSON.stringify(results, null, 2)}\n`);

  // ---- the table ----
  const out: string[] = [];
  out.push(
    `Benchmark ${results.generatedAt} — ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, load ${machine.loadavg.join(' ')}`,
    '',
    `1. Warm proxy path: ${warm.requests} × ${warm.path} per side, alternating batches of ${warm.batchSize}`,
    table(
      ['', 'median ms', 'p99 ms', 'max ms'],
      [
        ['proxy handler', fmt(warm.handlerMs.median), fmt(warm.handlerMs.p99), fmt(warm.handlerMs.max)],
        ['direct fetch', fmt(warm.directMs.median), fmt(warm.directMs.p99), fmt(warm.directMs.max)],
        ['overhead / ratio', `${fmt(warm.overheadMs)} ms`, `× ${fmt(warm.ratio)}`, ''],
        [
          '  DynamoDB call inside handler',
          fmt(warm.dynamodbCallMs.median),
          fmt(warm.dynamodbCallMs.p99),
          fmt(warm.dynamodbCallMs.max),
        ],
        [
          '  handler minus its DynamoDB time',
          fmt(warm.handlerExcludingDynamodbMs.median),
          fmt(warm.handlerExcludingDynamodbMs.p99),
          fmt(warm.handlerExcludingDynamodbMs.max),
        ],
        ['  overhead without DynamoDB', `${fmt(warm.overheadExcludingDynamodbMs)} ms`, '', ''],
        [
          'proxy handler (KMS adapter, not interleaved)',
          fmt(warm.kmsAdapter.handlerMs.median),
          fmt(warm.kmsAdapter.handlerMs.p99),
          fmt(warm.kmsAdapter.handlerMs.max),
        ],
      ],
    ),
    table(
      ['per warm request', 'DynamoDB', 'KMS'],
      [
        ['LocalKeyProvider (counted)', counts(warm.dynamodbPerRequest), counts(warm.kmsPerRequest)],
        [
          'KmsKeyProvider (mocked client)',
          counts(warm.kmsAdapter.dynamodbPerRequest),
          counts(warm.kmsAdapter.kmsPerRequest),
        ],
        [
          'first request, fresh instance',
          counts(warm.firstRequestOnFreshInstance.dynamodb),
          counts(warm.kmsAdapter.firstRequestOnFreshInstance.kms),
        ],
      ],
    ),
    `statuses: ${counts(warm.statuses)} (KMS adapter: ${counts(warm.kmsAdapter.statuses)})`,
    '',
    `2. Refresh storm: ${storm.requests} concurrent requests, expired access token, ${storm.instances} instances`,
    table(
      ['token calls', 'successes', 'statuses', 'median ms', 'p99 ms', 'max ms', 'Dataverse calls', 'DynamoDB', 'KMS'],
      [
        [
          storm.tokenCalls,
          `${storm.successes}/${storm.requests}`,
          counts(storm.statuses),
          fmt(storm.latencyMs.median),
          fmt(storm.latencyMs.p99),
          fmt(storm.latencyMs.max),
          storm.dataverseCalls,
          counts(storm.dynamodb),
          counts(storm.kms),
        ],
      ],
    ),
    '',
    `3. KMS use: ${kms.sessions} sessions, one fresh instance, one forced rotation per session (real KmsKeyProvider, mocked KMSClient)`,
    table(
      ['requests', 'rotations', 'statuses', 'KMS calls', 'KMS total', 'per 1,000 req', 'DynamoDB per request'],
      kms.runs.map((r) => [
        r.requests,
        r.rotations,
        counts(r.statuses),
        counts(r.kmsCalls),
        r.kmsTotal,
        fmt(r.kmsPer1000Requests),
        counts(r.dynamodbPerRequest),
      ]),
    ),
    '',
    `4. Cold start: esbuild bundles (infra/bundling.ts settings), module init in fresh node ${coldStart.node} processes, median of ${coldStart.rounds}`,
    table(
      ['bundle', 'loaded at init, bytes', 'KB', 'all chunks, KB', 'init median ms', 'min', 'max', '× baseline'],
      [
        [
          'baseline (DynamoDBClient)',
          coldStart.baseline.bytes,
          fmt(coldStart.baseline.kb, 1),
          fmt(coldStart.baseline.totalBytes / 1024, 1),
          fmt(coldStart.baseline.initMs.median),
          fmt(coldStart.baseline.initMs.min),
          fmt(coldStart.baseline.initMs.max),
          '1.00',
        ],
        ...Object.entries(coldStart.functions).map(([name, f]) => [
          name,
          f.bytes,
          fmt(f.kb, 1),
          fmt(f.totalBytes / 1024, 1),
          fmt(f.initMs.median),
          fmt(f.initMs.min),
          fmt(f.initMs.max),
          fmt(f.ratio),
        ]),
      ],
    ),
    'proxy, loaded at cold start, top inputs by bytes in output:',
    table(
      ['input', 'bytes'],
      coldStart.proxyTopInputs.map((i) => [i.input, i.bytesInOutput]),
    ),
    'proxy bundle, top packages by bytes in output:',
    table(
      ['package', 'bytes'],
      coldStart.proxyTopPackages.map((p) => [p.package, p.bytesInOutput]),
    ),
    '',
    `5. Local server throughput: ${local.clients} clients × ${local.durationSeconds} s, ${local.path} (after ${local.warmupSeconds} s warm-up)`,
    table(
      ['requests', 'req/s', 'median ms', 'p99 ms', 'max ms', 'non-2xx', 'errors'],
      [
        [
          local.requests,
          fmt(local.requestsPerSecond, 1),
          fmt(local.latencyMs.median),
          fmt(local.latencyMs.p99),
          fmt(local.latencyMs.max),
          local.non2xx,
          local.errors,
        ],
      ],
    ),
    '',
    odataTable(odataPages),
    '',
    'Targets',
    table(
      ['target', 'goal', 'value', 'result'],
      targets.map((t) => [
        t.name,
        t.target,
        typeof t.value === 'number' ? String(t.value) : t.value,
        t.pass ? 'PASS' : 'MISS',
      ]),
    ),
    '',
    `${targets.filter((t) => t.pass).length}/${targets.length} targets met; results in bench/results.json (${((Date.now() - startedAt) / 1000).toFixed(0)} s)`,
  );
  console.log(out.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
