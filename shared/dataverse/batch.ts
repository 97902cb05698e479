/**
 * URL mapping inside OData `$batch` bodies (OData 4.0 Part 1 §11.7, multipart/mixed per RFC 2046):
 * each part is an `application/http` message, or a nested multipart/mixed changeset. Only request
 * lines, the parts' `Host`, `OData-EntityId`/`Location`/`Content-Location` headers, `Content-Length`
 * of a changed body, and URL-valued annotations in JSON bodies are rewritten; every other byte
 * (framing, other headers, binary bodies) is copied as is.
 */
import { applyEdits, mapJsonAnnotations, type ByteEdit } from './json-annotations.ts';
import {
  annotationMatcher,
  mapUrl,
  REQUEST_URL_ANNOTATIONS,
  requestUrlMap,
  RESPONSE_URL_ANNOTATIONS,
  responseUrlMap,
  type PrefixMap,
  type UrlBases,
} from './url-map.ts';
import { withoutTrailingSlash } from '../config/urls.ts';

const LF = 0x0a;
const CR = 0x0d;
/** Changesets nest one level inside a batch; allow a little more, then stop looking. */
const MAX_DEPTH = 4;

/** Headers of a response part whose values are URLs (the same ones mapped on the proxy's own response). */
export const URL_RESPONSE_HEADERS: readonly string[] = ['odata-entityid', 'location', 'content-location'];

interface Direction {
  request: boolean;
  map: PrefixMap;
  isAnnotation: (name: string) => boolean;
  /** Request direction: the service's `host` and the Dataverse `host` for parts' Host headers. */
  hosts?: { from: string; to: string };
  /** Request direction with a base path (`B = https://svc/orgs/x`): `/orgs/x/api/data/` → `/api/data/`. */
  pathMap?: PrefixMap;
}

/** The boundary parameter of a multipart Content-Type (RFC 2046 §5.1.1), or undefined. */
export function multipartBoundary(contentType: string | null | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/mixed\s*(;|$)/i.test(contentType)) return undefined;
  const match = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^;\s"]{1,70}))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

/** Maps a `$batch` request body from the service's URLs to Dataverse's. */
export function mapBatchRequest(body: Uint8Array, contentType: string, bases: UrlBases): Uint8Array {
  const map = requestUrlMap(bases);
  const service = new URL(bases.service);
  const servicePath = withoutTrailingSlash(service.pathname);
  return mapBatch(body, contentType, {
    request: true,
    map,
    isAnnotation: annotationMatcher(REQUEST_URL_ANNOTATIONS),
    hosts: { from: service.host, to: new URL(bases.dataverse).host },
    pathMap: servicePath ? { from: `${servicePath}/api/data/`, to: '/api/data/', originLength: 0 } : undefined,
  });
}

/** Maps a `$batch` response body from Dataverse's URLs to the service's. */
export function mapBatchResponse(body: Uint8Array, contentType: string, bases: UrlBases): Uint8Array {
  return mapBatch(body, contentType, {
    request: false,
    map: responseUrlMap(bases),
    isAnnotation: annotationMatcher(RESPONSE_URL_ANNOTATIONS),
  });
}

function mapBatch(body: Uint8Array, contentType: string, direction: Direction): Uint8Array {
  const boundary = multipartBoundary(contentType);
  if (!boundary) return body;
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const edits: ByteEdit[] = [];
  mapMultipart(buf, 0, buf.length, boundary, direction, edits, 0);
  if (edits.length === 0) return body;
  edits.sort((a, b) => a.start - b.start);
  return applyEdits(buf, edits);
}

/** The parts (content ranges) of the multipart entity in buf[start, end). */
function multipartParts(buf: Buffer, start: number, end: number, boundary: string): [number, number][] {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const parts: [number, number][] = [];
  let at = findDelimiter(buf, start, start, end, delimiter);
  while (at >= 0) {
    const after = at + delimiter.length;
    if (buf[after] === 0x2d && buf[after + 1] === 0x2d) break; // close delimiter
    const lineEnd = buf.indexOf(LF, after);
    if (lineEnd < 0 || lineEnd >= end) break;
    const next = findDelimiter(buf, lineEnd + 1, start, end, delimiter);
    if (next < 0) break;
    // The CRLF (or LF) before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    let partEnd = next - 1;
    if (partEnd > lineEnd && buf[partEnd - 1] === CR) partEnd--;
    parts.push([lineEnd + 1, Math.max(lineEnd + 1, partEnd)]);
    at = next;
  }
  return parts;
}

/** A delimiter line: `--boundary` at the start of the entity or of a line, followed by `--`, space or a line end. */
function findDelimiter(buf: Buffer, from: number, entityStart: number, end: number, delimiter: Buffer): number {
  let at = from;
  for (;;) {
    const i = buf.indexOf(delimiter, at);
    if (i < 0 || i + delimiter.length > end) return -1;
    const next = buf[i + delimiter.length];
    const atLineStart = i === entityStart || buf[i - 1] === LF;
    if (
      atLineStart &&
      (next === undefined || next === 0x2d || next === CR || next === LF || next === 0x20 || next === 0x09)
    )
      return i;
    at = i + 1;
  }
}

interface HeaderLine {
  name: string;
  value: string;
  /** Byte range of the value in the buffer. */
  valueStart: number;
  valueEnd: number;
}

/** Header lines from `start` up to the first empty line; `bodyStart` is just after it (or -1 if none). */
function readHeaders(buf: Buffer, start: number, end: number): { headers: HeaderLine[]; bodyStart: number } {
  const headers: HeaderLine[] = [];
  let at = start;
  while (at < end) {
    let lineEnd = buf.indexOf(LF, at);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    const contentEnd = lineEnd > at && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (contentEnd === at) return { headers, bodyStart: Math.min(lineEnd + 1, end) };
    const line = buf.toString('latin1', at, contentEnd);
    const colon = line.indexOf(':');
    if (colon > 0) {
      const lead = line.slice(colon + 1).length - line.slice(colon + 1).trimStart().length;
      const value = line.slice(colon + 1).trim();
      headers.push({
        name: line.slice(0, colon).trim().toLowerCase(),
        value,
        valueStart: at + colon + 1 + lead,
        valueEnd: at + colon + 1 + lead + value.length,
      });
    }
    at = lineEnd + 1;
  }
  return { headers, bodyStart: -1 };
}

function mapMultipart(
  buf: Buffer,
  start: number,
  end: number,
  boundary: string,
  d: Direction,
  edits: ByteEdit[],
  depth: number,
): void {
  if (depth > MAX_DEPTH) return;
  for (const [partStart, partEnd] of multipartParts(buf, start, end, boundary)) {
    const { headers, bodyStart } = readHeaders(buf, partStart, partEnd);
    if (bodyStart < 0) continue;
    const contentType = headers.find((h) => h.name === 'content-type')?.value ?? '';
    const nested = multipartBoundary(contentType);
    if (nested) mapMultipart(buf, bodyStart, partEnd, nested, d, edits, depth + 1);
    else if (/^\s*application\/http\s*(;|$)/i.test(contentType)) mapHttpMessage(buf, bodyStart, partEnd, d, edits);
  }
}

/** One embedded request (`GET <url> HTTP/1.1`, headers, body) or response (`HTTP/1.1 200 OK`, …). */
function mapHttpMessage(buf: Buffer, start: number, end: number, d: Direction, edits: ByteEdit[]): void {
  let lineEnd = buf.indexOf(LF, start);
  if (lineEnd < 0 || lineEnd > end) lineEnd = end;
  const firstLineEnd = lineEnd > start && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
  if (d.request) {
    const line = buf.toString('latin1', start, firstLineEnd);
    const match = /^([A-Za-z]+) (\S+)( HTTP\/\d\.\d)$/.exec(line);
    if (match) {
      const target = match[2]!;
      let mapped = mapUrl(target, d.map);
      if (mapped === target && d.pathMap) mapped = mapUrl(target, d.pathMap);
      if (mapped !== target) {
        const targetStart = start + match[1]!.length + 1;
        edits.push({
          start: targetStart,
          end: targetStart + Buffer.byteLength(target, 'latin1'),
          text: Buffer.from(mapped, 'latin1'),
        });
      }
    }
  }
  const { headers, bodyStart } = readHeaders(buf, Math.min(lineEnd + 1, end), end);
  for (const header of headers) {
    let mapped = header.value;
    if (d.request && header.name === 'host' && d.hosts && header.value.toLowerCase() === d.hosts.from.toLowerCase())
      mapped = d.hosts.to;
    if (!d.request && URL_RESPONSE_HEADERS.includes(header.name)) mapped = mapUrl(header.value, d.map);
    if (mapped !== header.value)
      edits.push({ start: header.valueStart, end: header.valueEnd, text: Buffer.from(mapped, 'latin1') });
  }
  if (bodyStart < 0 || bodyStart >= end) return;
  const contentType = headers.find((h) => h.name === 'content-type')?.value;
  if (contentType !== undefined && !/json/i.test(contentType)) return;
  const body = buf.subarray(bodyStart, end);
  const mappedBody = mapJsonAnnotations(body, d.map, d.isAnnotation);
  if (mappedBody === body) return;
  edits.push({ start: bodyStart, end, text: Buffer.from(mappedBody) });
  const length = headers.find((h) => h.name === 'content-length');
  if (length)
    edits.push({
      start: length.valueStart,
      end: length.valueEnd,
      text: Buffer.from(String(mappedBody.length), 'latin1'),
    });
}
