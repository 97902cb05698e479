/**
 * Property-based tests (fast-check) for the pure request-shaping functions that stand between a
 * client and a redirect, a cookie or an upstream Dataverse call. Every property runs 10,000 times.
 */
import { UNICODE_WHITESPACE } from '../support/whitespace.ts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkReturnTo } from '../../shared/auth/return-to.ts';
import {
  buildDataverseUrl,
  forwardableRequestHeaders,
  returnableResponseHeaders,
} from '../../shared/dataverse/request.ts';
import { readCookie } from '../../shared/http/cookies.ts';
import { decodePercentEscapes } from '../../shared/http/percent-decoding.ts';
import { ServiceError } from '../../shared/errors/service-error.ts';

const RUNS = { numRuns: 10_000 } as const;

// ---------------------------------------------------------------------------------------------
// Shared arbitraries
// ---------------------------------------------------------------------------------------------

/** Any UTF-16 code unit, lone surrogates included (fc.string's 'binary' unit never yields those). */
const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Characters that tend to matter to parsers: separators, whitespace, controls, look-alikes. */
const trickyUnit = fc.constantFrom(
  ';',
  '=',
  ' ',
  '\t',
  '\n',
  '\r',
  '\u0000',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u00ff',
  '\u0100',
  '\u2028',
  '\u3002',
  '\uff0e',
  '\uff0f',
  '\ufeff',
  '\ud800',
  '\udfff',
  '"',
  ',',
  '\\',
  '%',
  '/',
  '.',
  '@',
  ':',
  '?',
  '#',
  '&',
  '$',
  '(',
  ')',
  "'",
  '~',
  '\u{1f600}',
);
/** A long string (up to ~200k characters) made of a short repeated chunk. */
const hugeString = fc
  .tuple(
    fc.string({ unit: fc.oneof(utf16Unit, trickyUnit), minLength: 1, maxLength: 4 }),
    fc.integer({ min: 2_000, max: 50_000 }),
  )
  .map(([chunk, times]) => chunk.repeat(times));
/** Free strings of every flavour, with a few huge ones. */
const anyString = fc.oneof(
  { arbitrary: fc.string(), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary' }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme' }), weight: 2 },
  { arbitrary: fc.string({ unit: utf16Unit }), weight: 3 },
  {
    arbitrary: fc.string({
      unit: fc.oneof(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }), trickyUnit),
    }),
    weight: 6,
  },
  { arbitrary: hugeString, weight: 1 },
);

/**
 * Runs `f` and returns its value, or the ServiceError it threw if that error is a 400. Any other
 * exception (a TypeError from URL or Headers, an ServiceError with another status) propagates and
 * fails the property.
 */
function valueOr400<T>(f: () => T): { ok: true; value: T } | { ok: false; error: ServiceError } {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    if (error instanceof ServiceError && error.status === 400) return { ok: false, error };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// readCookie
// ---------------------------------------------------------------------------------------------

/** RFC 6265 cookie-name (an RFC 7230 token). */
const cookieName = fc.oneof(
  fc.constantFrom(
    '__Host-dyn-session',
    '__Host-dyn-login',
    'a',
    'A',
    'session',
    'Session',
    'x.y',
    'x-y',
    '1',
    "!#$%&'*+-.^_`|~",
  ),
  fc.string({
    unit: fc.constantFrom(
      ...Array.from("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    ),
    minLength: 1,
    maxLength: 12,
  }),
);
/** RFC 6265 cookie-octets (no whitespace, DQUOTE, comma, semicolon or backslash); may be empty. */
const cookieValueUnit = fc
  .integer({ min: 0x21, max: 0x7e })
  .filter((c) => c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c)
  .map((c) => String.fromCharCode(c));
const cookieValue = fc.oneof(
  { arbitrary: fc.string({ unit: cookieValueUnit, maxLength: 64 }), weight: 10 },
  {
    arbitrary: fc.string({ unit: cookieValueUnit, minLength: 1, maxLength: 4 }).map((s) => s.repeat(5_000)),
    weight: 1,
  },
);
const ows = fc.constantFrom('', ' ', '  ', '\t', ' \t');
/** A segment between semicolons that is no name=value pair: it has no '=' or starts with one. */
const malformedSegment = fc.oneof(
  fc.string({ unit: fc.oneof(utf16Unit, trickyUnit) }).map((s) => s.replace(/[;=]/g, '')),
  fc
    .tuple(ows, fc.string({ unit: fc.oneof(utf16Unit, trickyUnit) }))
    .map(([space, s]) => `${space}=${s.replace(/;/g, '')}`),
);

type CookieSegment =
  { kind: 'pair'; name: string; value: string; before: string; after: string } | { kind: 'junk'; text: string };
const cookieSegment: fc.Arbitrary<CookieSegment> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('pair' as const),
      name: cookieName,
      value: cookieValue,
      before: ows,
      after: ows,
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('junk' as const), text: malformedSegment }), weight: 1 },
);

/** Arbitrary cookie strings, often with `name=` pairs for a few likely names glued in. */
const likelyName = fc.constantFrom('a', 'A', '__Host-dyn-session', ' a', 'a ', '', '=', 'a;b', 'é');
const looseCookieString = fc.oneof(
  anyString,
  fc
    .array(
      fc.oneof(
        anyString,
        fc.tuple(likelyName, ows, anyString).map(([n, space, v]) => `${n}${space}=${v}`),
      ),
      { maxLength: 5 },
    )
    .map((parts) => parts.join(';')),
);

/** Whitespace by `String.prototype.trim` (and U+0085), but not by RFC 6265: part of a cookie name. */
const unicodeWhitespace = fc.constantFrom('\u000b', '\u000c', '\u0085', ...UNICODE_WHITESPACE);
const isWsp = (ch: string | undefined) => ch === ' ' || ch === '\t';

/** Splits a segment list into several cookie strings, as API Gateway v2 delivers them. */
function cookieStrings(segments: CookieSegment[], cuts: number[], separator: string): string[] {
  const boundaries = [...new Set(cuts.map((c) => c % (segments.length + 1)))].sort((a, b) => a - b);
  const groups: CookieSegment[][] = [];
  let start = 0;
  for (const end of [...boundaries, segments.length]) {
    groups.push(segments.slice(start, end));
    start = end;
  }
  return groups.map((group) =>
    group.map((s) => (s.kind === 'pair' ? `${s.before}${s.name}=${s.value}${s.after}` : s.text)).join(separator),
  );
}

describe('readCookie (property-based)', () => {
  it('never throws on arbitrary cookie arrays and names, and never returns a value with ";" or edge SP/HTAB', () => {
    fc.assert(
      fc.property(
        fc.option(fc.array(looseCookieString, { maxLength: 6 }), { nil: undefined, freq: 20 }),
        fc.oneof(likelyName, cookieName, anyString),
        (cookies, name) => {
          const lookup = readCookie(cookies, name);
          expect(['absent', 'single', 'ambiguous']).toContain(lookup.kind);
          if (lookup.kind !== 'single') return;
          const { value } = lookup;
          expect(typeof value).toBe('string');
          expect(value).not.toContain(';');
          expect(value.length).toBeGreaterThan(0);
          expect(isWsp(value[0]) || isWsp(value.at(-1))).toBe(false);
        },
      ),
      RUNS,
    );
  });

  it('returns the value of a name sent once, ambiguous for a name sent more than once (and skips junk)', () => {
    fc.assert(
      fc.property(
        fc.array(cookieSegment, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.constantFrom('; ', ';', ';  ', ' ; ', ';\t'),
        fc.oneof(fc.nat(), cookieName),
        (segments, cuts, separator, pick) => {
          // Usually look up a name that occurs (the first, a later or a repeated one), sometimes any name.
          const names = segments.flatMap((s) => (s.kind === 'pair' ? [s.name] : []));
          const lookup =
            typeof pick === 'number' ? (names[pick % Math.max(names.length, 1)] ?? '__Host-dyn-session') : pick;
          const matches = segments.filter(
            (s): s is Extract<CookieSegment, { kind: 'pair' }> => s.kind === 'pair' && s.name === lookup,
          );
          const expected =
            matches.length > 1
              ? { kind: 'ambiguous' }
              : matches[0]?.value
                ? { kind: 'single', value: matches[0].value }
                : { kind: 'absent' };
          expect(readCookie(cookieStrings(segments, cuts, separator), lookup)).toEqual(expected);
        },
      ),
      RUNS,
    );
  });

  it('never counts a name with Unicode whitespace at its edge as the name looked up', () => {
    fc.assert(
      fc.property(
        fc.array(cookieSegment, { maxLength: 8 }),
        fc.array(
          fc.record({
            at: fc.nat(),
            ws: fc.array(unicodeWhitespace, { minLength: 1, maxLength: 3 }),
            where: fc.constantFrom('before', 'after', 'both'),
            value: cookieValue,
          }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.array(fc.nat(), { maxLength: 3 }),
        cookieName,
        (segments, decoys, cuts, lookup) => {
          const without = readCookie(cookieStrings(segments, cuts, '; '), lookup);
          // Decoys a sibling subdomain could plant: the same name with Unicode whitespace around it.
          const planted = [...segments];
          for (const d of decoys) {
            const ws = d.ws.join('');
            const name = d.where === 'before' ? ws + lookup : d.where === 'after' ? lookup + ws : ws + lookup + ws;
            planted.splice(d.at % (planted.length + 1), 0, {
              kind: 'pair',
              name,
              value: d.value,
              before: '',
              after: '',
            });
          }
          expect(readCookie(cookieStrings(planted, cuts, '; '), lookup)).toEqual(without);
        },
      ),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// checkReturnTo
// ---------------------------------------------------------------------------------------------

const FIXED_ALLOWED = [
  new URL('https://app.example.com'),
  new URL('https://portal.example.com/crm'),
  new URL('https://docs.example.com/a/b/'),
  new URL('http://localhost:3000'),
];

const returnToPrefix = fc.constantFrom(
  '',
  ' ',
  'https://app.example.com',
  'https://app.example.com/',
  'https://APP.Example.COM',
  'https://app.example.com:443',
  'https://app.example.com:8443',
  'https://app.example.com.',
  'https://app.example.com.evil.example',
  'https://app.example.com@evil',
  'https://app.example.com@evil.example/',
  'https://evil.example@app.example.com',
  'https://:@app.example.com',
  'https://@app.example.com',
  'https://evil.example#@app.example.com',
  'https://evil.example?@app.example.com',
  'https://evil.example\\@app.example.com',
  'https://evil.example/https://app.example.com',
  'https://app.example.com%2f@evil.example',
  'https://app.example.com%40evil.example',
  'https://app\u3002example\u3002com',
  'https://app\uff0eexample\uff0ecom',
  'https:app.example.com',
  'https:/app.example.com',
  'https:///app.example.com',
  'https:\\\\app.example.com',
  '//app.example.com',
  '//evil',
  '/\\evil.example',
  '\\\\evil.example',
  '/relative',
  'http://app.example.com',
  'https://portal.example.com/crm',
  'https://portal.example.com/crm/',
  'https://portal.example.com/crmx',
  'https://portal.example.com/CRM',
  'https://portal.example.com/crm%2f..%2f',
  'https://portal.example.com/crm/%2e%2e/',
  'https://portal.example.com/crm/..',
  'https://portal.example.com/other/../crm',
  'https://docs.example.com/a/b',
  'https://docs.example.com/a/b/',
  'https://docs.example.com/a/bc',
  'http://localhost:3000',
  'http://localhost:3000@evil',
  'http://localhost:30000',
  'http://127.0.0.1:3000',
  'http://[::1]:3000',
  'https://localhost:3000',
  'javascript:alert(1)//',
  'data:text/html,',
  'blob:https://app.example.com/',
);
const returnToFragment = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      '/',
      '//',
      '..',
      '.',
      '/..',
      '/.',
      '%2e',
      '%2E',
      '%2e%2e',
      '%2f',
      '%2F',
      '%5c',
      '%5C',
      '\\',
      '@',
      '%40',
      ':',
      '?',
      '#',
      '\t',
      '\n',
      '\r',
      ' ',
      '\u0000',
      'evil.example',
      '.evil.example',
      '@evil.example',
      'crm',
      'crmx',
      'a',
      'b',
      'é',
      '\u3002',
      '\uff0e',
      '\uff0f',
      'user:pw@',
      ':443',
      ':80',
      ':3000',
      '%00',
      '%09',
      '%0a',
      'x=1',
      '&',
      ';',
    ),
    weight: 4,
  },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 4 }), weight: 2 },
  { arbitrary: fc.string({ unit: fc.oneof(utf16Unit, trickyUnit), maxLength: 4 }), weight: 1 },
);
const trickyReturnTo = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.constant([]), weight: 3 },
      { arbitrary: fc.array(returnToFragment, { maxLength: 2 }), weight: 1 },
    ),
    returnToPrefix,
    fc.array(returnToFragment, { maxLength: 6 }),
  )
  .map(([before, prefix, after]) => before.join('') + prefix + after.join(''));
const webUrlReturnTo = fc.webUrl({
  validSchemes: ['https', 'http', 'ftp', 'javascript'],
  withQueryParameters: true,
  withFragments: true,
  authoritySettings: { withUserInfo: true, withPort: true, withIPv4: true, withIPv6: true, withIPv4Extended: true },
});

function underPrefix(pathname: string, prefix: string): boolean {
  return prefix === '/' || pathname === prefix || pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

/** The security contract of a returned value, checked by re-parsing it. */
function expectSafeReturnTo(value: string, allowedUrls: readonly URL[]): void {
  const url = new URL(value);
  expect(['https:', 'http:']).toContain(url.protocol);
  expect(url.username).toBe('');
  expect(url.password).toBe('');
  const match = allowedUrls.some((entry) => url.origin === entry.origin && underPrefix(url.pathname, entry.pathname));
  expect(match, `${value} is outside ${allowedUrls.map((u) => u.href).join(', ')}`).toBe(true);
  // The normalised value is itself acceptable (when normalisation did not push it past the length cap).
  if (value.length <= 2048) expect(checkReturnTo(value, allowedUrls)).toBe(value);
}

describe('checkReturnTo (property-based)', () => {
  it('never throws, and only returns http(s) URLs without userinfo on an allowed origin under its path prefix', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          { arbitrary: anyString, weight: 2 },
          { arbitrary: trickyReturnTo, weight: 5 },
          { arbitrary: webUrlReturnTo, weight: 1 },
        ),
        (raw) => {
          const value = checkReturnTo(raw, FIXED_ALLOWED);
          if (value !== undefined) expectSafeReturnTo(value, FIXED_ALLOWED);
        },
      ),
      RUNS,
    );
  });

  it('holds for generated allowlists too, with candidates built on the allowed entries', () => {
    const allowedEntry = webUrlReturnTo
      .filter((u) => URL.canParse(u) && ['https:', 'http:'].includes(new URL(u).protocol))
      .map((u) => {
        const url = new URL(u);
        return new URL(`${url.origin}${url.pathname}`);
      });
    fc.assert(
      fc.property(
        fc.array(allowedEntry, { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.constantFrom('origin', 'href', 'free'),
        fc.array(returnToFragment, { maxLength: 6 }),
        anyString,
        (allowedUrls, pick, base, fragments, free) => {
          const entry = allowedUrls[pick % allowedUrls.length] as URL;
          const raw = base === 'free' ? free : (base === 'origin' ? entry.origin : entry.href) + fragments.join('');
          const value = checkReturnTo(raw, allowedUrls);
          if (value !== undefined) expectSafeReturnTo(value, allowedUrls);
        },
      ),
      RUNS,
    );
  });

  it('accepts plain URLs under an allowed entry (the properties above are not vacuous)', () => {
    const segment = fc.string({
      unit: fc.constantFrom(...Array.from('abcdefghijklmnopqrstuvwxyz0123456789-_')),
      minLength: 1,
      maxLength: 8,
    });
    fc.assert(
      fc.property(fc.constantFrom(...FIXED_ALLOWED), fc.array(segment, { maxLength: 4 }), (entry, segments) => {
        const base = entry.href.endsWith('/') ? entry.href : `${entry.href}/`;
        const raw = segments.length === 0 ? entry.href : base + segments.join('/');
        expect(checkReturnTo(raw, FIXED_ALLOWED)).toBe(new URL(raw).href);
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// buildDataverseUrl
// ---------------------------------------------------------------------------------------------

const dynamicsUrl = fc.oneof(
  fc.constantFrom(
    new URL('https://contoso.crm.dynamics.com'),
    new URL('https://org.crm4.dynamics.com/'),
    new URL('http://127.0.0.1:8080'),
    new URL('http://localhost:3001/ignored/path?q=1'),
  ),
  fc
    .domain()
    .filter((d) => URL.canParse(`https://${d}`))
    .map((d) => new URL(`https://${d}`)),
);
const pathPrefix = fc.constantFrom(
  '/api/data/v9.2/',
  '/api/data/v9.2',
  '/api/data/v9.0/',
  '/api/data/v9.99/',
  '/api/data/v9.100/',
  '/api/data/v9./',
  '/api/data/v9',
  '/api/data/v10/',
  '/api/data/v9.2//',
  '/API/data/v9.2/',
  '//api/data/v9.2/',
  '/api/data/v9.2/../',
  '/api/data/v9.2/%2e%2e/',
  '/api/data/v9.2%2f',
  '\\api\\data\\v9.2\\',
  '',
  '/',
  'api/data/v9.2/',
);
const pathFragment = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      'accounts',
      'contacts(00000000-0000-0000-0000-000000000001)',
      'WhoAmI',
      '$batch',
      "accounts('x')",
      'a',
      '1',
    ),
    weight: 6,
  },
  {
    arbitrary: fc.constantFrom(
      '/',
      '//',
      '..',
      '.',
      '...',
      '%2e',
      '%2E',
      '%2e%2e',
      '.%2e',
      '%2e.',
      '%2f',
      '%2F',
      '%5c',
      '%5C',
      '\\',
      '@',
      ':',
      '?',
      '#',
      '%',
      '%0',
      '%00',
      '%1f',
      '%7f',
      '%ff',
      '%c3%a9',
      '%e2%80',
      '%25',
      '%252e',
      '%2525',
      ';',
      '=',
      '$',
      '(',
      ')',
      "'",
      '~',
      '!',
      '*',
      '+',
      ',',
      '&',
      ' ',
      '\t',
      '\n',
      '\r',
      '\u0000',
      '\u007f',
      'é',
      '\u{1f600}',
      '\ud800',
      '\uff0e',
      '\u2215',
      '/api/data/v9.2/',
      'http://evil.example',
      '//evil.example',
      '@evil.example',
    ),
    weight: 10,
  },
  { arbitrary: fc.string({ unit: fc.oneof(utf16Unit, trickyUnit), maxLength: 3 }), weight: 2 },
);
const structuredPath = fc
  .tuple(pathPrefix, fc.array(pathFragment, { maxLength: 8 }))
  .map(([prefix, fragments]) => prefix + fragments.join(''));
/** Mostly well-formed segments, so that many candidates get through and the success branch is exercised. */
const plausiblePath = fc
  .array(
    fc.oneof(
      fc.constantFrom('accounts', 'contacts', '$metadata', 'a(1)', "x('y')", '%41', '%c3%a9', '..', '.', '%2e'),
      pathFragment,
    ),
    { maxLength: 4 },
  )
  .map((segments) => `/api/data/v9.2/${segments.join('/')}`);
const rawQuery = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '$select=name',
    '?$top=1',
    "$filter=name eq 'a'",
    '$filter=name%20eq%20%27a%27',
    'a=1&b=2',
    '#frag',
    'x=%',
    'x=\\',
    'x=é',
  ),
  fc.string({ unit: fc.oneof(utf16Unit, trickyUnit), maxLength: 16 }),
  anyString,
);

describe('buildDataverseUrl (property-based)', () => {
  // The path arrives as API Gateway HTTP APIs deliver rawPath: already decoded once.
  it('returns a URL on the Dynamics origin whose path decodes back to exactly the requested Web API path, or throws ServiceError 400', () => {
    fc.assert(
      fc.property(
        dynamicsUrl,
        fc.oneof(anyString, structuredPath, structuredPath, plausiblePath),
        rawQuery,
        (base, rawPath, query) => {
          const result = valueOr400(() => buildDataverseUrl(base, rawPath, query));
          if (!result.ok) return;
          const url = result.value;
          expect(url).toBeInstanceOf(URL);
          expect(url.origin).toBe(base.origin);
          expect(url.pathname.startsWith('/api/data/v9.')).toBe(true);
          expect(url.username + url.password + url.hash).toBe('');
          // Only RFC 3986 path characters and well-formed escapes: nothing for a parser to reinterpret.
          expect(url.pathname).toMatch(/^(?:[A-Za-z0-9\-._~!$&'()*,;=:@/]|%[0-9A-F]{2})*$/);
          const segments = url.pathname
            .split('/')
            .slice(1)
            .map((segment) => decodeURIComponent(segment));
          expect(`/${segments.join('/')}`).toBe(rawPath);
          for (const segment of segments) {
            // Neither decoded once (what Dataverse sees) nor, defensively, twice.
            for (const form of [segment, decodePercentEscapes(segment)]) {
              expect(form).not.toBe('.');
              expect(form).not.toBe('..');
              expect(form).not.toMatch(/[\\]/);
            }
            expect(decodePercentEscapes(segment)).not.toContain('/');
          }
          // What fetch will send: serialising and re-parsing keeps the origin and the path.
          const reparsed = new URL(url.href);
          expect(reparsed.origin).toBe(base.origin);
          expect(reparsed.pathname).toBe(url.pathname);
        },
      ),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// forwardableRequestHeaders / returnableResponseHeaders
// ---------------------------------------------------------------------------------------------

/** Headers that must never cross the proxy, in either direction. */
const NEVER_FORWARDED = new Set([
  'cookie',
  'set-cookie',
  'authorization',
  'proxy-authorization',
  'proxy-authenticate',
  'www-authenticate',
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'forwarded',
  'x-amz-security-token',
]);
const isNeverForwarded = (name: string) =>
  NEVER_FORWARDED.has(name) || name.startsWith('x-forwarded-') || name.startsWith('x-amzn-');
/** Forwarded headers whose values have a known format (impersonation GUIDs, chunked file transfer). */
const FORMAT_CHECKED = new Set(['mscrmcallerid', 'callerobjectid', 'x-ms-transfer-mode', 'content-range', 'range']);
const REQUEST_ALLOWLIST = new Set([
  'accept',
  'accept-language',
  'content-type',
  'odata-maxversion',
  'odata-version',
  'prefer',
  'if-match',
  'if-none-match',
  'consistency',
  'x-ms-file-name',
  ...FORMAT_CHECKED,
]);
const RESPONSE_ALLOWLIST = new Set([
  'content-type',
  'content-disposition',
  'etag',
  'location',
  'preference-applied',
  'retry-after',
  'x-ms-chunk-size',
  'x-ms-file-name',
  'x-ms-file-size',
  'mimetype',
  'x-ms-service-request-id',
  'req_id',
]);

const knownHeaderName = fc.constantFrom(
  ...NEVER_FORWARDED,
  ...REQUEST_ALLOWLIST,
  ...RESPONSE_ALLOWLIST,
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-amzn-trace-id',
  'mscrm.suppressduplicatedetection',
  'mscrm.bypasscustompluginexecution',
  'mscrm.',
  'odata-entityid',
  'odata-',
  'x-ms-ratelimit-burst-remaining-xrm-requests',
  'x-ms-ratelimit-',
  'x-csrf',
  'origin',
  'referer',
  'user-agent',
);
const tokenChar = fc.constantFrom(...Array.from("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"));
const anyHeaderName = fc.oneof(
  { arbitrary: fc.mixedCase(knownHeaderName), weight: 8 },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom('mscrm.', 'MSCRM.', 'odata-', 'x-forwarded-', 'x-ms-ratelimit-'),
        fc.string({ unit: fc.oneof(tokenChar, trickyUnit, utf16Unit), maxLength: 6 }),
      )
      .map(([p, s]) => p + s),
    weight: 3,
  },
  { arbitrary: fc.mixedCase(fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 })), weight: 1 },
  { arbitrary: fc.string({ unit: fc.oneof(utf16Unit, trickyUnit), maxLength: 8 }), weight: 1 },
);
const headerValue = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      '4.0',
      'application/json',
      'odata.include-annotations="*"',
      'W/"123"',
      '*',
      'en-US',
      'true',
      '',
      ' ',
      '\t4.0 ',
    ),
    weight: 6,
  },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), weight: 4 },
  { arbitrary: fc.string({ unit: fc.oneof(utf16Unit, trickyUnit), maxLength: 20 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('a', 'é', '\t'), fc.integer({ min: 8_000, max: 9_000 }))
      .map(([c, n]) => c.repeat(n)),
    weight: 1,
  },
);
const headerRecord = fc.dictionary(anyHeaderName, fc.option(headerValue, { nil: undefined, freq: 8 }), {
  maxKeys: 12,
  noNullPrototype: true,
});

describe('forwardableRequestHeaders (property-based)', () => {
  it('returns Headers without credentials, Host or hop-by-hop headers and with the OData defaults, or throws ServiceError 400', () => {
    fc.assert(
      fc.property(fc.option(headerRecord, { nil: undefined, freq: 50 }), (input) => {
        const result = valueOr400(() => forwardableRequestHeaders(input, { allowImpersonation: true }));
        if (!result.ok) {
          expect(result.error.code).toBe('invalid_header');
          return;
        }
        const out = result.value;
        expect(out).toBeInstanceOf(Headers);
        for (const [name, value] of out) {
          expect(isNeverForwarded(name), `forwarded ${name}`).toBe(false);
          expect(REQUEST_ALLOWLIST.has(name) || name.startsWith('mscrm.'), `forwarded ${name}`).toBe(true);
          // The value is the client's (last, case-insensitively) value for that name, or a default.
          const sent = Object.entries(input ?? {}).filter(([n, v]) => n.toLowerCase() === name && v !== undefined);
          const last = sent.at(-1)?.[1];
          if (last !== undefined) expect(value).toBe(last.replace(/^[\t ]+|[\t ]+$/g, ''));
        }
        expect(out.has('odata-maxversion')).toBe(true);
        expect(out.has('odata-version')).toBe(true);
        expect(out.has('accept')).toBe(true);
      }),
      RUNS,
    );
  });

  it('forwards well-formed allowlisted headers unchanged (the property above is not vacuous)', () => {
    const safeValue = fc.string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: 30,
    });
    const allowlistedName = fc.mixedCase(
      fc.oneof(
        fc.constantFrom(...[...REQUEST_ALLOWLIST].filter((n) => !FORMAT_CHECKED.has(n))),
        fc.string({ unit: tokenChar, minLength: 1, maxLength: 8 }).map((s) => `mscrm.${s}`),
      ),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(allowlistedName, safeValue), { maxLength: 6, selector: ([n]) => n.toLowerCase() }),
        (pairs) => {
          const out = forwardableRequestHeaders(Object.fromEntries(pairs), { allowImpersonation: true });
          for (const [name, value] of pairs) expect(out.get(name)).toBe(value);
        },
      ),
      RUNS,
    );
  });
});

describe('returnableResponseHeaders (property-based)', () => {
  /** What undici's Headers accepts: token names, byte-string values without NUL, CR or LF. */
  const validName = fc.oneof(
    fc.mixedCase(knownHeaderName).filter((n) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(n)),
    fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 }),
  );
  const validValue = fc.string({
    unit: fc
      .integer({ min: 0, max: 0xff })
      .filter((c) => c !== 0 && c !== 0x0a && c !== 0x0d)
      .map((c) => String.fromCharCode(c)),
    maxLength: 30,
  });

  it('never throws and returns only allowlisted, non-credential, non-hop-by-hop headers with their values', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(validName, validValue), { maxLength: 12 }), (pairs) => {
        const headers = new Headers();
        for (const [name, value] of pairs) headers.append(name, value);
        const out = returnableResponseHeaders(headers);
        for (const [name, value] of Object.entries(out)) {
          expect(isNeverForwarded(name), `returned ${name}`).toBe(false);
          expect(
            RESPONSE_ALLOWLIST.has(name) || name.startsWith('odata-') || name.startsWith('x-ms-ratelimit-'),
            `returned ${name}`,
          ).toBe(true);
          expect(value).toBe(headers.get(name));
        }
        for (const [name] of pairs) {
          const lower = name.toLowerCase();
          if (RESPONSE_ALLOWLIST.has(lower) || lower.startsWith('odata-') || lower.startsWith('x-ms-ratelimit-'))
            expect(out[lower]).toBe(headers.get(lower));
        }
      }),
      RUNS,
    );
  });
});
