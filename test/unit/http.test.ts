import { describe, expect, it } from 'vitest';
import { checkReturnTo } from '../../shared/auth/return-to.ts';
import { readCookie } from '../../shared/http/cookies.ts';
import { buildDataverseUrl, forwardableRequestHeaders, returnableResponseHeaders } from '../../shared/dataverse/request.ts';
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
  it('reads a named cookie from API Gateway’s cookies array and skips malformed pairs', () => {
    expect(readCookie(['a=1', '__Host-dyn-session=abc'], '__Host-dyn-session')).toBe('abc');
    expect(readCookie(['garbage; =x; __Host-dyn-session=v2'], '__Host-dyn-session')).toBe('v2');
    expect(readCookie(['__Host-dyn-session='], '__Host-dyn-session')).toBeUndefined();
    expect(readCookie(undefined, 'x')).toBeUndefined();
  });
});

describe('Dataverse request shaping', () => {
  const dyn = new URL('https://contoso.crm.dynamics.com');
  it('maps a Web API path and query onto DYNAMICS_URL unchanged', () => {
    const url = buildDataverseUrl(dyn, "/api/data/v9.2/contacts(emailaddress1='a@b.example')", '$select=fullname&$filter=x%20eq%201');
    expect(url.href).toBe("https://contoso.crm.dynamics.com/api/data/v9.2/contacts(emailaddress1='a@b.example')?$select=fullname&$filter=x%20eq%201");
  });

  it('forwards only allowlisted request headers and adds the OData defaults', () => {
    const headers = forwardableRequestHeaders({
      cookie: 'a=b',
      authorization: 'Bearer x',
      host: 'evil.example',
      'x-forwarded-host': 'evil.example',
      prefer: 'return=representation',
      'mscrm.suppressduplicatedetection': 'false',
      'if-match': '*',
    });
    expect([...headers.keys()].sort()).toEqual(
      ['accept', 'if-match', 'mscrm.suppressduplicatedetection', 'odata-maxversion', 'odata-version', 'prefer'].sort(),
    );
  });

  it('returns only allowlisted response headers', () => {
    const out = returnableResponseHeaders(
      new Headers({
        'content-type': 'application/json',
        'set-cookie': 'ARRAffinity=1',
        'x-ms-ratelimit-burst-remaining-xrm-requests': '5999',
        'odata-entityid': 'x',
        'req_id': 'r',
        'strict-transport-security': 'max-age=1',
      }),
    );
    expect(Object.keys(out).sort()).toEqual(['content-type', 'odata-entityid', 'x-ms-ratelimit-burst-remaining-xrm-requests']);
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
