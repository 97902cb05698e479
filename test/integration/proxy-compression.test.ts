/**
 * Compressed proxy responses: a client that accepts gzip or br gets pages far larger than the
 * ~4.4 MB a Lambda response carries uncompressed; one that sends no Accept-Encoding keeps that limit.
 */
import { randomBytes } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MIN_COMPRESSIBLE_BYTES } from '../../shared/dataverse/compression.ts';
import { MAX_RESPONSE_BYTES } from '../../shared/dataverse/proxy.ts';
import type { HttpResponse } from '../../shared/http/response.ts';
import { accountsPage } from '../support/dataverse-pages.ts';
import { jsonBody, PUBLIC_BASE, signIn, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let auth: Record<string, string>;
/** A 5,000-row page at the stand-in's origin (about 17.5 MB), built once. */
let page: string;
beforeAll(async () => {
  stack = await startTestStack();
  const { sessionToken } = await signIn(stack);
  auth = { authorization: `Bearer ${sessionToken}` };
  page = accountsPage({ rows: 5_000, origin: stack.dataverse.url, nextSkipToken: '<cookie pagenumber="2" />' });
});
afterAll(async () => stack?.stop());
afterEach(() => {
  vi.unstubAllEnvs();
});

const API = '/api/data/v9.2';
const JSON_TYPE = { 'content-type': 'application/json; odata.metadata=minimal' };
const rawBody = (r: HttpResponse) => Buffer.from(r.body ?? '', r.isBase64Encoded ? 'base64' : 'utf8');

describe('proxy compression', () => {
  it.each(['br', 'gzip'] as const)(
    'compresses a 5,000-row page for a client accepting %s: it decodes to the exact upstream bytes, mapped',
    async (coding) => {
      const E = stack.dataverse.url;
      expect(Buffer.byteLength(page)).toBeGreaterThan(3 * MAX_RESPONSE_BYTES);
      stack.dataverse.failNext(200, 1, JSON_TYPE, page);
      const answer = await stack
        .routes()
        .proxy({ path: `${API}/accounts`, headers: { ...auth, 'accept-encoding': `${coding}, identity;q=0.5` } });
      expect(answer.statusCode).toBe(200);
      expect(answer.headers['Content-Encoding']).toBe(coding);
      expect(answer.headers.Vary).toBe('Accept-Encoding');
      const compressed = rawBody(answer);
      expect(compressed.length).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
      const decoded = coding === 'br' ? brotliDecompressSync(compressed) : gunzipSync(compressed);
      // Only the two page-level annotations change; the description column's Dataverse URLs stay.
      const expected = page
        .replace(`{"@odata.context":"${E}/api/data/`, `{"@odata.context":"${PUBLIC_BASE}/api/data/`)
        .replace(`"@odata.nextLink":"${E}/api/data/`, `"@odata.nextLink":"${PUBLIC_BASE}/api/data/`);
      expect(decoded.equals(Buffer.from(expected))).toBe(true);
      expect(decoded.toString().split(`${E}/api/data/`).length - 1).toBe(5_000);
    },
  );

  it('keeps the uncompressed limit for a client that sends no Accept-Encoding (or refuses both codings)', async () => {
    for (const headers of [auth, { ...auth, 'accept-encoding': 'br;q=0, gzip;q=0, identity' }]) {
      stack.dataverse.failNext(200, 1, JSON_TYPE, page);
      const answer = await stack.routes().proxy({ path: `${API}/accounts`, headers });
      expect(answer.statusCode).toBe(502);
      expect(jsonBody(answer)).toMatchObject({ error: { code: 'response_too_large' } });
      expect(String((jsonBody(answer).error as { message?: string }).message)).toContain('Accept-Encoding: gzip or br');
    }
  });

  it('does not compress without Accept-Encoding, nor tiny bodies, nor images; says Vary: Accept-Encoding', async () => {
    const plain = await stack.routes().proxy({ path: `${API}/WhoAmI`, headers: auth });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['Content-Encoding']).toBeUndefined();
    expect(plain.headers.Vary).toBe('Accept-Encoding');
    expect(jsonBody(plain)).toHaveProperty('UserId');

    const tiny = await stack
      .routes()
      .proxy({ path: `${API}/WhoAmI`, headers: { ...auth, 'accept-encoding': 'gzip, br' } });
    expect(tiny.headers['Content-Encoding']).toBeUndefined();

    // The stand-in's scripted answers are text: base64 stands in for the image's bytes.
    const png = randomBytes(64 * 1024).toString('base64');
    stack.dataverse.failNext(200, 1, { 'content-type': 'image/png' }, png);
    const image = await stack
      .routes()
      .proxy({ path: `${API}/WhoAmI`, headers: { ...auth, 'accept-encoding': 'gzip, br' } });
    expect(image.headers['Content-Encoding']).toBeUndefined();
    expect(rawBody(image).toString()).toBe(png);

    const list = await stack
      .routes()
      .proxy({ path: `${API}/accounts`, query: '$select=name', headers: { ...auth, 'accept-encoding': 'gzip' } });
    expect(list.statusCode).toBe(200);
    expect(rawBody(list).length).toBeLessThan(MIN_COMPRESSIBLE_BYTES); // the names of a few seeded accounts
    expect(list.headers['Content-Encoding']).toBeUndefined();
  });

  it('answers 502 response_too_large when even the compressed body is larger than a Lambda response can carry', async () => {
    // Random base64 text compresses to about 3/4 of its size: 8 MB stays above 4.4 MB.
    const incompressible = `{"value":[{"data":"${randomBytes(6_000_000).toString('base64')}"}]}`;
    stack.dataverse.failNext(200, 1, JSON_TYPE, incompressible);
    const answer = await stack
      .routes()
      .proxy({ path: `${API}/accounts`, headers: { ...auth, 'accept-encoding': 'gzip' } });
    expect(answer.statusCode).toBe(502);
    expect(jsonBody(answer)).toMatchObject({ error: { code: 'response_too_large' } });
    expect(String((jsonBody(answer).error as { message?: string }).message)).toContain('even compressed');
  });

  it('refuses (502) to read more from Dataverse than its memory-bound cap', async () => {
    vi.stubEnv('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', '128'); // cap 16 MB
    stack.dataverse.failNext(200, 1, JSON_TYPE, page);
    const answer = await stack
      .routes()
      .proxy({ path: `${API}/accounts`, headers: { ...auth, 'accept-encoding': 'gzip' } });
    expect(answer.statusCode).toBe(502);
    expect(jsonBody(answer)).toMatchObject({ error: { code: 'response_too_large' } });
    expect(String((jsonBody(answer).error as { message?: string }).message)).toContain('16 MB');
  });

  it('passes a body Dataverse sent with a coding fetch does not decode as it came, with its Content-Encoding, uncompressed again', async () => {
    const encoded = randomBytes(4096).toString('base64');
    stack.dataverse.failNext(200, 1, { ...JSON_TYPE, 'content-encoding': 'x-vendor' }, encoded);
    const answer = await stack
      .routes()
      .proxy({ path: `${API}/accounts`, headers: { ...auth, 'accept-encoding': 'gzip, br' } });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['Content-Encoding']).toBe('x-vendor');
    expect(rawBody(answer).toString()).toBe(encoded);
  });
});
