import { badRequest } from '../http/errors.ts';

/** Dataverse Web API paths: `/api/data/v9.<n>` and below. */
const WEB_API_PATH = /^\/api\/data\/v9\.\d{1,2}(?:\/|$)/;
/** RFC 3986 path characters (pchar and '/'), percent escapes checked separately. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
/** Query characters: RFC 3986 query plus the characters OData clients commonly leave unencoded. */
// eslint-disable-next-line no-control-regex
const QUERY_FORBIDDEN = /[\u0000-\u0020\u007f#\\]/;

/**
 * Builds the upstream URL for a proxied path, or throws 400 before any upstream call. Rejects
 * anything outside the Web API, dot segments, encoded slashes, backslashes and empty segments, and
 * checks that the result still points at DYNAMICS_URL with exactly the requested path.
 */
export function buildDataverseUrl(dynamicsUrl: URL, rawPath: string, rawQuery: string): URL {
  if (rawPath.length > 4096 || rawQuery.length > 16_384) throw badRequest('invalid_path', 'The request URL is too long.');
  if (!WEB_API_PATH.test(rawPath)) {
    throw badRequest('invalid_path', 'Only Dataverse Web API paths under /api/data/v9.x/ can be proxied.');
  }
  if (!PATH_CHARS.test(rawPath) || /%(?![0-9A-Fa-f]{2})/.test(rawPath)) {
    throw badRequest('invalid_path', 'The path contains characters that are not allowed.');
  }
  let decodedSegments: string[];
  try {
    decodedSegments = rawPath.split('/').slice(1).map((segment) => decodeURIComponent(segment));
  } catch {
    throw badRequest('invalid_path', 'The path has malformed percent-encoding.');
  }
  const lastIndex = decodedSegments.length - 1;
  for (const [i, segment] of decodedSegments.entries()) {
    if (segment === '.' || segment === '..' || /[/\\]/.test(segment) || (segment === '' && i !== lastIndex)) {
      throw badRequest('invalid_path', 'The path contains dot segments, empty segments or encoded slashes.');
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(segment)) throw badRequest('invalid_path', 'The path contains control characters.');
  }
  if (QUERY_FORBIDDEN.test(rawQuery)) throw badRequest('invalid_query', 'The query contains characters that are not allowed.');
  const url = new URL(dynamicsUrl.origin);
  url.pathname = rawPath;
  url.search = rawQuery;
  if (url.origin !== dynamicsUrl.origin || url.pathname !== rawPath) {
    throw badRequest('invalid_path', 'The path does not map onto the Dataverse Web API.');
  }
  return url;
}

/** Request headers a client may send through (never Cookie, Authorization, Host or hop-by-hop headers). */
const FORWARDED_REQUEST_HEADERS = new Set([
  'accept',
  'accept-language',
  'content-type',
  'odata-maxversion',
  'odata-version',
  'prefer',
  'if-match',
  'if-none-match',
  'consistency',
]);
const FORWARDED_REQUEST_PREFIXES = ['mscrm.'];

/** Response headers passed back to the client. */
const RETURNED_RESPONSE_HEADERS = new Set([
  'content-type',
  'content-disposition',
  'etag',
  'location',
  'preference-applied',
  'retry-after',
]);
const RETURNED_RESPONSE_PREFIXES = ['odata-', 'x-ms-ratelimit-'];

const HEADER_VALUE_MAX = 8192;
/** RFC 9110 token: what a header name may be (Headers throws a TypeError on anything else). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function allowed(name: string, names: Set<string>, prefixes: string[]): boolean {
  return names.has(name) || prefixes.some((p) => name.startsWith(p));
}

/** Filters the client's headers to the allowlist and sets the OData defaults Dataverse expects. */
export function forwardableRequestHeaders(headers: Record<string, string | undefined> | undefined): Headers {
  const out = new Headers();
  for (const [rawName, value] of Object.entries(headers ?? {})) {
    const name = rawName.toLowerCase();
    if (value === undefined || !allowed(name, FORWARDED_REQUEST_HEADERS, FORWARDED_REQUEST_PREFIXES)) continue;
    if (!HEADER_NAME.test(rawName)) throw badRequest('invalid_header', 'A header name is not allowed.');
    // Controls other than tab, and anything beyond one byte (Headers would throw a TypeError on it).
    // eslint-disable-next-line no-control-regex
    if (value.length > HEADER_VALUE_MAX || /[\u0000-\u0008\u000a-\u001f\u007f]|[^\u0000-\u00ff]/.test(value)) {
      throw badRequest('invalid_header', `The header ${name} has a value that is not allowed.`);
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
    if (allowed(name, RETURNED_RESPONSE_HEADERS, RETURNED_RESPONSE_PREFIXES)) out[name] = value;
  });
  return out;
}
