import { ServiceError } from '../errors/service-error.ts';
import { decodePercentEscapes } from '../http/percent-decoding.ts';
import {
  FORWARDED_REQUEST_HEADERS,
  FORWARDED_REQUEST_PREFIXES,
  IMPERSONATION_HEADERS,
  RETURNED_RESPONSE_HEADERS,
  RETURNED_RESPONSE_PREFIXES,
} from './headers.ts';

/** Dataverse Web API paths: `/api/data/v9.<n>` and below. */
const WEB_API_PATH = /^\/api\/data\/v9\.\d{1,2}(?:\/|$)/;
/** Query characters: RFC 3986 query plus the characters OData clients commonly leave unencoded. */
// eslint-disable-next-line no-control-regex
const QUERY_FORBIDDEN = /[\u0000-\u0020\u007f#\\]/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/**
 * RFC 3986 pchar kept as is in a rebuilt segment: unreserved, the sub-delims OData keys and function
 * calls use (`(` `)` `'` `=` `,` `$` ...), `:` and `@`. `+` is not kept: OASIS ODATA-1539 notes that
 * servers read a bare `+` as a space or as a plus, and only `%2B` means plus unambiguously.
 */
const KEPT_IN_SEGMENT = /[A-Za-z0-9\-._~!$&'()*,;=:@]/;

/**
 * Percent-encodes one decoded path segment (RFC 3986 pchar, UTF-8). A `%` is data here (API Gateway
 * already decoded the path), so it becomes `%25` and never starts an escape.
 */
export function encodePathSegment(segment: string): string {
  let out = '';
  for (const char of segment) {
    if (KEPT_IN_SEGMENT.test(char)) out += char;
    else if (char.length === 1 && char >= '\ud800' && char <= '\udfff')
      throw new ServiceError('invalid_path', 'The path is not valid UTF-16 text.');
    else out += [...Buffer.from(char, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

/**
 * Checks one decoded segment against the path-safety rules: no dot segments, backslashes or control
 * characters, and none spelled with a leftover escape either (`%2e%2e`, `%2f`, `%5c`, `%00`), so a
 * server that decodes once more still sees a harmless segment.
 */
function checkSegment(segment: string, isLast: boolean): void {
  if (segment === '' && !isLast) throw new ServiceError('invalid_path', 'The path contains empty segments.');
  for (const form of [segment, decodePercentEscapes(segment)]) {
    if (form === '.' || form === '..' || form.includes('\\') || (form !== segment && form.includes('/'))) {
      throw new ServiceError('invalid_path', 'The path contains dot segments, empty segments or encoded slashes.');
    }
    if (CONTROL.test(form)) throw new ServiceError('invalid_path', 'The path contains control characters.');
  }
  // OData doubles a quote inside a string literal, so a segment with an odd number of quotes is a
  // literal cut in two by a `/` that API Gateway decoded from `%2F`.
  if ((segment.match(/'/g)?.length ?? 0) % 2 === 1) {
    throw new ServiceError(
      'invalid_path',
      "A quoted key or parameter value contains '/', which the API cannot carry in a path: use $filter or the record's GUID.",
    );
  }
}

/**
 * Builds the upstream URL for a proxied path, or throws 400 before any upstream call.
 *
 * `decodedPath` is the path as API Gateway HTTP APIs deliver it in `rawPath`: already URL-decoded
 * ("API Gateway decodes URL-encoded request parameters before passing them to your backend
 * integration", HTTP API routes docs). It is split on `/` and each segment is encoded again
 * (`encodePathSegment`). Rejects anything outside the Web API, dot segments, backslashes, control
 * characters and empty segments, and checks that the result still points at DYNAMICS_URL with
 * exactly the rebuilt path.
 */
export function buildDataverseUrl(dynamicsUrl: URL, decodedPath: string, rawQuery: string): URL {
  if (decodedPath.length > 4096 || rawQuery.length > 16_384)
    throw new ServiceError('invalid_path', 'The request URL is too long.');
  if (!WEB_API_PATH.test(decodedPath)) {
    throw new ServiceError('invalid_path', 'Only Dataverse Web API paths under /api/data/v9.x/ can be proxied.');
  }
  const segments = decodedPath.split('/').slice(1);
  segments.forEach((segment, i) => checkSegment(segment, i === segments.length - 1));
  const path = `/${segments.map(encodePathSegment).join('/')}`;
  if (QUERY_FORBIDDEN.test(rawQuery))
    throw new ServiceError('invalid_query', 'The query contains characters that are not allowed.');
  const url = new URL(dynamicsUrl.origin);
  url.pathname = path;
  url.search = rawQuery;
  if (url.origin !== dynamicsUrl.origin || url.pathname !== path) {
    throw new ServiceError('invalid_path', 'The path does not map onto the Dataverse Web API.');
  }
  return url;
}

const lowerCase = (names: readonly string[]) => names.map((name) => name.toLowerCase());
const FORWARDED_NAMES = new Set(lowerCase(FORWARDED_REQUEST_HEADERS));
const FORWARDED_PREFIXES = lowerCase(FORWARDED_REQUEST_PREFIXES);
const RETURNED_NAMES = new Set(lowerCase(RETURNED_RESPONSE_HEADERS));
const RETURNED_PREFIXES = lowerCase(RETURNED_RESPONSE_PREFIXES);
const IMPERSONATION_NAMES = new Set(lowerCase(IMPERSONATION_HEADERS));

const HEADER_VALUE_MAX = 8192;
/** RFC 9110 token: what a header name may be (Headers throws a TypeError on anything else). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const GUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;
const BYTE_POSITION = String.raw`\d{1,15}`;
/** `bytes first-last/complete` (RFC 9110 §14.4), as Dataverse's chunked upload sends it. */
const CONTENT_RANGE = new RegExp(`^bytes (${BYTE_POSITION})-(${BYTE_POSITION})/(${BYTE_POSITION}|\\*)$`);
/** One byte range, `bytes=first-[last]` (RFC 9110 §14.2, §14.1.2), as Dataverse's chunked download asks for it. */
const RANGE = new RegExp(`^bytes=(${BYTE_POSITION})-(${BYTE_POSITION})?$`);

/** The value rules of headers whose format is known: a malformed value gets 400 here, not a guess upstream. */
function checkKnownFormat(name: string, value: string): boolean {
  switch (name) {
    case 'mscrmcallerid':
    case 'callerobjectid':
      // Microsoft: a systemuserid or an Entra object id, both GUIDs.
      return GUID.test(value.trim());
    case 'x-ms-transfer-mode':
      return value.trim().toLowerCase() === 'chunked';
    case 'content-range': {
      const m = CONTENT_RANGE.exec(value.trim());
      return !!m && Number(m[1]) <= Number(m[2]) && (m[3] === '*' || Number(m[2]) < Number(m[3]));
    }
    case 'range': {
      const m = RANGE.exec(value.trim());
      return !!m && (m[2] === undefined || Number(m[1]) <= Number(m[2]));
    }
    default:
      return true;
  }
}

function allowed(name: string, names: Set<string>, prefixes: string[]): boolean {
  return names.has(name) || prefixes.some((p) => name.startsWith(p));
}

export const impersonationRefused = () =>
  new ServiceError(
    'impersonation_not_allowed',
    `This API key may not impersonate users: ${IMPERSONATION_HEADERS.join(' and ')} are refused unless the key was created with --allow-impersonation.`,
  );

export interface ForwardingRules {
  /** Whether the caller may send the impersonation headers (refused with 403 otherwise). */
  allowImpersonation: boolean;
}

/** Filters the client's headers to the allowlist and sets the OData defaults Dataverse expects. */
export function forwardableRequestHeaders(
  headers: Record<string, string | undefined> | undefined,
  rules: ForwardingRules,
): Headers {
  const out = new Headers();
  for (const [rawName, value] of Object.entries(headers ?? {})) {
    const name = rawName.toLowerCase();
    if (value === undefined || !allowed(name, FORWARDED_NAMES, FORWARDED_PREFIXES)) continue;
    if (!HEADER_NAME.test(rawName)) throw new ServiceError('invalid_header', 'A header name is not allowed.');
    if (IMPERSONATION_NAMES.has(name) && !rules.allowImpersonation) throw impersonationRefused();
    // Controls other than tab, and anything beyond one byte (Headers would throw a TypeError on it).
    if (
      value.length > HEADER_VALUE_MAX ||
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      /[\u0000-\u0008\u000a-\u001f\u007f]|[^\u0000-\u00ff]/.test(value) ||
      !checkKnownFormat(name, value)
    ) {
      throw new ServiceError('invalid_header', `The header ${name} has a value that is not allowed.`);
    }
    out.set(name, value);
  }
  if (!out.has('odata-maxversion')) out.set('odata-maxversion', '4.0');
  if (!out.has('odata-version')) out.set('odata-version', '4.0');
  if (!out.has('accept')) out.set('accept', 'application/json');
  return out;
}

/** Filters Dataverse's response headers to the allowlist. */
export function returnableResponseHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, rawName) => {
    const name = rawName.toLowerCase();
    if (allowed(name, RETURNED_NAMES, RETURNED_PREFIXES)) out[name] = value;
  });
  return out;
}
