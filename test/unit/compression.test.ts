import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compressBody, isCompressible, negotiateContentCoding } from '../../shared/dataverse/compression.ts';

describe('negotiateContentCoding (RFC 9110 §12.5.3)', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['identity', undefined],
    ['gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['GZIP, deflate', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br', 'br'],
    ['br;q=0.5, gzip', 'gzip'],
    ['br;q=0, gzip;q=0.1', 'gzip'],
    ['br;q=0, gzip;q=0', undefined],
    ['gzip;q=0.000', undefined],
    ['*', 'br'],
    ['*;q=0', undefined],
    ['*, br;q=0', 'gzip'],
    ['identity;q=0, gzip', 'gzip'],
    ['deflate, zstd', undefined],
    ['gzip;q=banana', undefined],
    ['gzip ; q = 0.8 , br ; q=0.7', 'gzip'],
  ])('%s → %s', (header, expected) => {
    expect(negotiateContentCoding(header)).toBe(expected);
  });
});

describe('compressBody', () => {
  it('round-trips with both codings, and only text-like bodies of at least 1 KB are compressible', () => {
    const body = Buffer.from(
      JSON.stringify({ value: Array.from({ length: 200 }, (_, i) => ({ i, n: 12345678901234567890n.toString() })) }),
    );
    expect(gunzipSync(compressBody(body, 'gzip')).equals(body)).toBe(true);
    expect(brotliDecompressSync(compressBody(body, 'br')).equals(body)).toBe(true);
    expect(isCompressible('application/json; odata.metadata=minimal', 2048)).toBe(true);
    expect(isCompressible('multipart/mixed; boundary=batchresponse_1', 2048)).toBe(true);
    expect(isCompressible('application/json', 1023)).toBe(false);
    expect(isCompressible('image/png', 1 << 20)).toBe(false);
    expect(isCompressible('application/octet-stream', 1 << 20)).toBe(false);
    expect(isCompressible(undefined, 1 << 20)).toBe(false);
  });
});
