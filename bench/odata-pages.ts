/**
 * Large OData pages through the proxy's body path, in process: the URL mapping's cost per MB on a
 * 5,000-row page of accounts, compression speed and size per level on a 20 MB page, and the largest
 * page a Lambda response carries compressed and uncompressed. The pages come from
 * test/support/dataverse-pages.ts (realistic accounts with annotations and formatted values).
 */
import { performance } from 'node:perf_hooks';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { compressBody, type ContentCoding } from '../shared/dataverse/compression.ts';
import { mapJsonAnnotations } from '../shared/dataverse/json-annotations.ts';
import { MAX_RESPONSE_BYTES, upstreamReadLimit } from '../shared/dataverse/proxy.ts';
import { annotationMatcher, RESPONSE_URL_ANNOTATIONS, responseUrlMap } from '../shared/dataverse/url-map.ts';
import { FUNCTIONS } from '../shared/http/routes.ts';
import { accountsPage } from '../test/support/dataverse-pages.ts';
import { median, round } from './stats.ts';

const E = 'https://contoso.crm4.dynamics.com';
const B = 'https://auth.contoso.example';
const MB = 1024 * 1024;
/** Lambda allocates one vCPU at 1,769 MB of memory and CPU in proportion below that (AWS Lambda docs, "Memory and computing power"). */
const LAMBDA_FULL_VCPU_MB = 1769;

const map = responseUrlMap({ dataverse: E, service: B });
const isAnnotation = annotationMatcher(RESPONSE_URL_ANNOTATIONS);

function timeMs(runs: number, f: () => unknown): number[] {
  const samples: number[] = [];
  f(); // warm-up
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    f();
    samples.push(performance.now() - started);
  }
  return samples;
}

export interface MappingFigures {
  rows: number;
  bytes: number;
  runs: number;
  /** Median ms to map the whole page, and per MB (2^20 bytes). */
  medianMs: number;
  msPerMb: number;
  /** For comparison: JSON.parse + JSON.stringify of the same page (what the mapping avoids), per MB. */
  jsonRoundTripMsPerMb: number;
  /** Bytes that changed (the page's @odata.context and @odata.nextLink; record data untouched). */
  sizeChange: number;
}

export function measureMapping(rows = 5_000, runs = 15): MappingFigures {
  const page = Buffer.from(accountsPage({ rows, origin: E, nextSkipToken: '<cookie pagenumber="2" />' }));
  const mapped = mapJsonAnnotations(page, map, isAnnotation);
  const mapping = median(timeMs(runs, () => mapJsonAnnotations(page, map, isAnnotation)));
  const text = page.toString('utf8');
  const roundTrip = median(timeMs(Math.min(runs, 5), () => JSON.stringify(JSON.parse(text))));
  const mb = page.length / MB;
  return {
    rows,
    bytes: page.length,
    runs,
    medianMs: round(mapping, 2),
    msPerMb: round(mapping / mb, 3),
    jsonRoundTripMsPerMb: round(roundTrip / mb, 3),
    sizeChange: mapped.length - page.length,
  };
}

export interface LevelFigures {
  coding: ContentCoding;
  level: number;
  medianMs: number;
  bytes: number;
  ratio: number;
  mbPerSecond: number;
  /** medianMs scaled to the proxy's Lambda CPU share (memory / 1,769 MB of one vCPU). */
  lambdaEstimateMs: number;
}

export interface CompressionFigures {
  pageRows: number;
  pageBytes: number;
  runs: number;
  proxyMemoryMb: number;
  cpuShare: number;
  levels: LevelFigures[];
}

export function measureCompressionLevels(runs = 5): CompressionFigures {
  const proxyMemoryMb = FUNCTIONS.find((f) => f.name === 'proxy')!.memoryMb;
  const cpuShare = Math.min(1, proxyMemoryMb / LAMBDA_FULL_VCPU_MB);
  // About 3.5 KB per row: 5,800 rows is a 20 MB page.
  const pageRows = 5_800;
  const page = mapJsonAnnotations(Buffer.from(accountsPage({ rows: pageRows, origin: E })), map, isAnnotation);
  const candidates: { coding: ContentCoding; level: number; run: () => Buffer }[] = [
    ...[1, 3, 6, 9].map((level) => ({ coding: 'gzip' as const, level, run: () => gzipSync(page, { level }) })),
    ...[0, 1, 2, 3, 4, 5].map((level) => ({
      coding: 'br' as const,
      level,
      run: () =>
        brotliCompressSync(page, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: level,
            [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
            [constants.BROTLI_PARAM_SIZE_HINT]: page.length,
          },
        }),
    })),
  ];
  const levels = candidates.map(({ coding, level, run }) => {
    const bytes = run().length;
    const ms = median(timeMs(runs, run));
    return {
      coding,
      level,
      medianMs: round(ms, 1),
      bytes,
      ratio: round(page.length / bytes, 2),
      mbPerSecond: round(page.length / MB / (ms / 1000), 1),
      lambdaEstimateMs: round(ms / cpuShare, 0),
    };
  });
  return { pageRows, pageBytes: page.length, runs, proxyMemoryMb, cpuShare: round(cpuShare, 3), levels };
}

export interface LargestPage {
  coding: ContentCoding | 'none';
  rows: number;
  rawBytes: number;
  sentBytes: number;
  /** What stopped a larger page: the Lambda response (MAX_RESPONSE_BYTES) or the upstream read cap. */
  limitedBy: 'response' | 'read cap';
}

/** The largest page of accounts (by rows, to within 50 rows) that the proxy answers with 200 for each coding, at the levels in use. */
export function largestPages(): LargestPage[] {
  const readCap = upstreamReadLimit(FUNCTIONS.find((f) => f.name === 'proxy')!.memoryMb);
  const sentSize = (rows: number, coding: ContentCoding | 'none') => {
    const page = mapJsonAnnotations(Buffer.from(accountsPage({ rows, origin: E })), map, isAnnotation);
    return { raw: page.length, sent: coding === 'none' ? page.length : compressBody(page, coding).length };
  };
  // No page above the read cap passes: search below the row count that reaches it.
  const bytesPerRow = Buffer.byteLength(accountsPage({ rows: 1_000, origin: E })) / 1_000;
  const maxRows = Math.ceil(readCap / bytesPerRow) + 100;
  return (['none', 'gzip', 'br'] as const).map((coding) => {
    let lo = 0;
    let hi = maxRows;
    let limitedBy: LargestPage['limitedBy'] = 'response';
    while (hi - lo > 50) {
      const mid = Math.floor((lo + hi) / 2);
      const { raw, sent } = sentSize(mid, coding);
      if (raw <= readCap && sent <= MAX_RESPONSE_BYTES) lo = mid;
      else {
        hi = mid;
        limitedBy = raw > readCap ? 'read cap' : 'response';
      }
    }
    const { raw, sent } = sentSize(lo, coding);
    return { coding, rows: lo, rawBytes: raw, sentBytes: sent, limitedBy };
  });
}
