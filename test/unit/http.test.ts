import { describe, expect, it } from 'vitest';
import { UNICODE_WHITESPACE } from '../support/whitespace.ts';
import { checkReturnTo } from '../../shared/auth/return-to.ts';
import { readCookie } from '../../shared/http/cookies.ts';
import {
  buildDataverseUrl,
  forwardableRequestHeaders,
  returnableResponseHeaders,
} from '../../shared/dataverse/request.ts';
import { ServiceError } from '../../shared/errors/service-error.ts';
import { redact } from '../../shared/observability/logger.ts';

const allowed = [new URL('https://app.example.com'), new URL('https://portal.example.com/crm')];

describe('returnTo', () => {
  it.each([
    ['https://app.example.com', 'https://app.example.com/'],
    ['https://app.example.com/deep/path?x=1#h', 'https://app.example.com/deep/path?x=1#h'],
    ['https://portal.example.com/crm', 'https://portal.example.com/crm'],
    ['https://portal.example.com/crm/accounts', 'https://portal.example.com/crm/accounts'],
  ])('accepts %s', (raw, expected) => expect(checkReturnTo(raw, allowed)).toBe(expected));

  it.each([
    'https://app.example.com.evil.example/',
    'https://evil.example/https://app.example.com',
    'https://portal.example.com/crmx',
    'https://portal.example.com/other',
    'http://app.example.com/',
    'https://user:pw@app.example.com/',
    '/relative',
    'https:\\\\evil.example',
    'https://app.example.com\\@evil.example',
    'javascript:alert(1)//https://app.example.com',
    '',
  ])('rejects %s', (raw) => expect(checkReturnTo(raw, allowed)).toBeUndefined());
});

describe('cookies', () => {
  const single = (value: string) => ({ kind: 'single', value });
  const S = '__Host-dyn-session';

  it('reads a named cookie from API Gateway’s cookies array and skips malformed pairs', () => {
    expect(readCookie(['a=1', '__Host-dyn-session=abc'], S)).toEqual(single('abc'));
    expect(readCookie(['garbage; =x; __Host-dyn-session=v2'], S)).toEqual(single('v2'));
    expect(readCookie(['__Host-dyn-session='], S)).toEqual({ kind: 'absent' });
    expect(readCookie(undefined, 'x')).toEqual({ kind: 'absent' });
  });

  it('strips only SP and HTAB around names and values (RFC 6265 §5.2)', () => {
    expect(readCookie([' \t__Host-dyn-session \t= \tabc \t'], S)).toEqual(single('abc'));
    expect(readCookie(['a=1;\t__Host-dyn-session=abc'], S)).toEqual(single('abc'));
  });

  // Every character String.prototype.trim strips besides SP and HTAB, and U+0085 (which it keeps).
  const notWsp = ['\u000b', '\u000c', '\n', '\r', '\u0085', ...UNICODE_WHITESPACE];
  it.each(notWsp.map((ch) => [`U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`, ch]))(
    'does not take a name with %s at its edge for the session cookie, nor let it displace the real one',
    (_name, ch) => {
      expect(readCookie([`${ch}${S}=planted`], S)).toEqual({ kind: 'absent' });
      expect(readCookie([`${S}${ch}=planted`], S)).toEqual({ kind: 'absent' });
      expect(readCookie([`a=1; ${ch}${S}=planted`], S)).toEqual({ kind: 'absent' });
      expect(readCookie([`${ch}${S}=planted`, `${S}=real`], S)).toEqual(single('real'));
      expect(readCookie([`${ch}${S}=planted; ${S}=real`], S)).toEqual(single('real'));
      // In the value, it is part of the value (which then is no token shape and names no session).
      expect(readCookie([`${S}=${ch}v${ch}`], S)).toEqual(single(`${ch}v${ch}`));
    },
  );

  it('answers ambiguous, with no value, for a name sent more than once', () => {
    const ambiguous = { kind: 'ambiguous' };
    expect(readCookie([`${S}=a; ${S}=b`], S)).toEqual(ambiguous);
    expect(readCookie([`${S}=a`, `${S}=a`], S)).toEqual(ambiguous);
    expect(readCookie([`${S}=`, `${S}=b`], S)).toEqual(ambiguous);
    expect(readCookie([`${S}=a`, 'x=1', ` ${S} =b`], S)).toEqual(ambiguous);
    expect(readCookie([`${S}=a`, '__host-dyn-session=b'], S)).toEqual(single('a'));
  });
});

describe('Dataverse request shaping', () => {
  const dyn = new URL('https://contoso.crm.dynamics.com');
  it('maps a Web API path and query onto DYNAMICS_URL unchanged', () => {
    const url = buildDataverseUrl(
      dyn,
      "/api/data/v9.2/contacts(emailaddress1='a@b.example')",
      '$select=fullname&$filter=x%20eq%201',
    );
    expect(url.href).toBe(
      "https://contoso.crm.dynamics.com/api/data/v9.2/contacts(emailaddress1='a@b.example')?$select=fullname&$filter=x%20eq%201",
    );
  });

  it('forwards only allowlisted request headers and adds the OData defaults', () => {
    const headers = forwardableRequestHeaders(
      {
        cookie: 'a=b',
        authorization: 'Bearer x',
        host: 'evil.example',
        'x-forwarded-host': 'evil.example',
        prefer: 'return=representation',
        'mscrm.suppressduplicatedetection': 'false',
        'if-match': '*',
      },
      { allowImpersonation: false },
    );
    expect([...headers.keys()].sort()).toEqual(
      ['accept', 'if-match', 'mscrm.suppressduplicatedetection', 'odata-maxversion', 'odata-version', 'prefer'].sort(),
    );
  });

  const GUID = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
  const forward = (headers: Record<string, string>, allowImpersonation = true) =>
    forwardableRequestHeaders(headers, { allowImpersonation });
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return err instanceof ServiceError ? { status: err.status, code: err.code } : { thrown: String(err) };
    }
    return undefined;
  };

  it.each([
    ['MSCRMCallerID', GUID],
    ['CallerObjectId', GUID.toUpperCase()],
    ['x-ms-transfer-mode', 'chunked'],
    ['x-ms-file-name', 'report 2026.pdf'],
    ['Content-Range', 'bytes 0-4194303/12582912'],
    ['Content-Range', 'bytes 8388608-12582911/12582912'],
    ['Range', 'bytes=0-4194303'],
    ['Range', 'bytes=4194304-'],
    ['MSCRM.SuppressDuplicateDetection', 'false'],
    ['MSCRM.SolutionUniqueName', 'contoso_core'],
  ])('forwards %s: %s', (name, value) => {
    expect(forward({ [name]: value }).get(name)).toBe(value);
  });

  it.each(['MSCRMCallerID', 'CallerObjectId', 'mscrmcallerid', 'CALLEROBJECTID'])(
    'refuses %s with 403 impersonation_not_allowed when the caller may not impersonate',
    (name) => {
      expect(refusal(() => forward({ [name]: GUID }, false))).toEqual({
        status: 403,
        code: 'impersonation_not_allowed',
      });
    },
  );

  it.each([
    ['MSCRMCallerID', 'not-a-guid'],
    ['CallerObjectId', `${GUID}, ${GUID}`],
    ['CallerObjectId', `{${GUID}}x`],
    ['x-ms-transfer-mode', 'streamed'],
    ['Content-Range', 'bytes 0-99'],
    ['Content-Range', 'bytes 100-99/200'],
    ['Content-Range', 'bytes 0-200/200'],
    ['Content-Range', 'items 0-9/10'],
    ['Content-Range', 'bytes -1-5/10'],
    ['Range', 'bytes=0-99,200-299'],
    ['Range', 'bytes=99-0'],
    ['Range', 'pages=1-2'],
    ['Range', `bytes=0-${'9'.repeat(20)}`],
    ['x-ms-file-name', 'a.txt\r\nX-Injected: 1'],
    ['x-ms-file-name', 'x'.repeat(9000)],
  ])('refuses a malformed %s value with 400 invalid_header', (name, value) => {
    expect(refusal(() => forward({ [name]: value }))).toEqual({ status: 400, code: 'invalid_header' });
  });

  it('does not mistake impersonation headers for the forwarded MSCRM.* prefix, or other look-alikes', () => {
    const out = forward(
      { 'MSCRM.CallerID': GUID, 'X-MSCRMCallerID': GUID, CallerObjectIdX: GUID, 'x-ms-file-size': '10' },
      false,
    );
    expect([...out.keys()].sort()).toEqual(['accept', 'mscrm.callerid', 'odata-maxversion', 'odata-version']);
  });

  it('returns only allowlisted response headers', () => {
    const out = returnableResponseHeaders(
      new Headers({
        'content-type': 'application/json',
        'set-cookie': 'ARRAffinity=1',
        'x-ms-ratelimit-burst-remaining-xrm-requests': '5999',
        'odata-entityid': 'x',
        req_id: 'r',
        'strict-transport-security': 'max-age=1',
      }),
    );
    expect(Object.keys(out).sort()).toEqual([
      'content-type',
      'odata-entityid',
      'req_id',
      'x-ms-ratelimit-burst-remaining-xrm-requests',
    ]);
  });

  it('returns the file-transfer headers and the request ids Microsoft support asks for', () => {
    const sent = {
      'x-ms-chunk-size': '4194304',
      'x-ms-file-name': 'report.pdf',
      'x-ms-file-size': '12582912',
      mimetype: 'application/pdf',
      'x-ms-service-request-id': '2f4e6a1c-0000-4000-8000-000000000001',
      REQ_ID: '2f4e6a1c-0000-4000-8000-000000000002',
    };
    const out = returnableResponseHeaders(
      new Headers({ ...sent, 'x-ms-other': 'no', server: 'Microsoft-IIS/10.0', 'x-powered-by': 'ASP.NET' }),
    );
    expect(out).toEqual(Object.fromEntries(Object.entries(sent).map(([k, v]) => [k.toLowerCase(), v])));
  });
});

describe('log redaction', () => {
  it('redacts secret-named keys and bearer/JWT/cookie values inside strings', () => {
    expect(redact('refresh_token', 'abc')).toBe('[redacted]');
    expect(redact('authorization', 'Bearer x')).toBe('[redacted]');
    expect(redact('message', 'sent Bearer abc.def to upstream')).toBe('sent Bearer [redacted] to upstream');
    expect(redact('message', 'token eyJhbGciOi.eyJzdWIiOi.sig here')).toBe('token [redacted] here');
    expect(redact('message', 'cookie __Host-dyn-session=abcdef; x')).toBe('cookie __Host-dyn-session=[redacted]; x');
    expect(redact('errorCode', 'upstream_timeout')).toBe('upstream_timeout');
  });

  it('redacts an event’s query string, query parameters and body (codes, handoffs, verifiers) should one be logged', () => {
    expect(redact('rawQueryString', 'code=abc&state=def')).toBe('[redacted]');
    expect(redact('queryStringParameters', { code: 'abc', state: 'def' })).toBe('[redacted]');
    expect(redact('body', '{"handoff":"h","client_verifier":"v"}')).toBe('[redacted]');
    expect(redact('handoff', 'h'.repeat(43))).toBe('[redacted]');
  });
});
