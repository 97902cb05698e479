/**
 * Response compression for the proxy: content negotiation on Accept-Encoding (RFC 9110 §12.5.3)
 * and node:zlib at levels chosen by measurement (docs/performance.md: speed vs size on a 20 MB page).
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export type ContentCoding = 'br' | 'gzip';

/**
 * Chosen on a 20 MB page of accounts (`npm run bench -- --only=odata`, docs/performance.md): brotli
 * quality 1 is as small as gzip 6 in a quarter of its time; quality 4 is 12 % smaller for 4.6× the
 * time. gzip 6 (zlib's default) is 21 % smaller than gzip 1, and the size decides the largest page.
 */
export const GZIP_LEVEL = 6;
export const BROTLI_QUALITY = 1;
/** Below this, compression saves less than it costs (headers, CPU). */
export const MIN_COMPRESSIBLE_BYTES = 1024;

/** Media types worth compressing: text, JSON, XML and `$batch` bodies; images and files are left alone. */
const COMPRESSIBLE = /^\s*(?:text\/|application\/(?:json|xml|http|[\w.+-]*\+(?:json|xml))|multipart\/mixed)/i;

/**
 * The coding to answer with for this Accept-Encoding, or undefined for the identity coding. `br` is
 * preferred over `gzip` at equal weight (smaller at similar speed); `*` stands for either; a q of 0
 * refuses a coding.
 */
export function negotiateContentCoding(acceptEncoding: string | undefined): ContentCoding | undefined {
  if (!acceptEncoding) return undefined;
  const weights = new Map<string, number>();
  for (const item of acceptEncoding.split(',')) {
    const [rawCoding, ...params] = item.split(';');
    const coding = rawCoding?.trim().toLowerCase();
    if (!coding) continue;
    let q = 1;
    for (const param of params) {
      const match = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(param);
      if (match) q = Math.min(1, Number(match[1]));
      else if (/^\s*q\s*=/i.test(param)) q = 0; // a malformed weight is not a yes
    }
    weights.set(coding === 'x-gzip' ? 'gzip' : coding, q);
  }
  const weightOf = (coding: ContentCoding) => weights.get(coding) ?? weights.get('*') ?? 0;
  const br = weightOf('br');
  const gzip = weightOf('gzip');
  if (br <= 0 && gzip <= 0) return undefined;
  return br >= gzip ? 'br' : 'gzip';
}

/** Whether a body of this type and size is worth compressing. */
export function isCompressible(contentType: string | null | undefined, size: number): boolean {
  return size >= MIN_COMPRESSIBLE_BYTES && COMPRESSIBLE.test(contentType ?? '');
}

export function compressBody(body: Uint8Array, coding: ContentCoding): Buffer {
  if (coding === 'gzip') return gzipSync(body, { level: GZIP_LEVEL });
  return brotliCompressSync(body, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
    },
  });
}
