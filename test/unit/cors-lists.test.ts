import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { corsFromAllowedReturnUrls, preflightHeaders, responseCorsHeaders } from '../../local/cors.ts';
import { forwardableRequestHeaders, returnableResponseHeaders } from '../../shared/dataverse/request.ts';
import { CORS_ALLOW_HEADERS } from '../../shared/http/cors.ts';

const APP = 'https://app.example.com';
const cors = corsFromAllowedReturnUrls(`${APP}/crm`);
const GUID = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';

/**
 * What a browser does with a credentialed cross-origin request (Fetch standard, "CORS-preflight
 * fetch" and "CORS-safelisted request-header"): every header it would send that is not safelisted
 * must be named in the preflight's Access-Control-Allow-Headers, or the request is not sent at all.
 */
function browserSends(requestHeaders: Record<string, string>, method: string): { allowed: boolean; refused: string[] } {
  const safelisted = (name: string, value: string) =>
    ['accept', 'accept-language', 'content-language'].includes(name) ||
    (name === 'content-type' &&
      /^(?:application\/x-www-form-urlencoded|multipart\/form-data|text\/plain)\b/i.test(value));
  const names = Object.entries(requestHeaders)
    .filter(([name, value]) => !safelisted(name.toLowerCase(), value))
    .map(([name]) => name.toLowerCase());
  const req = {
    method: 'OPTIONS',
    headers: {
      origin: APP,
      'access-control-request-method': method,
      'access-control-request-headers': names.join(','),
    },
  };
  const answer = preflightHeaders(req as unknown as IncomingMessage, cors);
  const granted = (answer['access-control-allow-headers'] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const methods = (answer['access-control-allow-methods'] ?? '').split(',');
  const refused = names.filter((n) => !granted.includes(n));
  return {
    allowed: answer['access-control-allow-origin'] === APP && methods.includes(method) && refused.length === 0,
    refused,
  };
}

/** What a script may read of a response (Fetch standard: safelisted response headers plus the exposed ones). */
function scriptReads(responseHeaders: Record<string, string>): string[] {
  const req = { method: 'GET', headers: { origin: APP } };
  const exposed = (responseCorsHeaders(req as unknown as IncomingMessage, cors)['access-control-expose-headers'] ?? '')
    .split(',')
    .map((h) => h.toLowerCase());
  const safelisted = [
    'cache-control',
    'content-language',
    'content-length',
    'content-type',
    'expires',
    'last-modified',
    'pragma',
  ];
  return Object.keys(responseHeaders).filter((n) => safelisted.includes(n) || exposed.includes(n));
}

/** Web API calls a browser app makes, as Microsoft's Dataverse Web API articles show them. */
const BROWSER_CALLS: { what: string; method: string; headers: Record<string, string> }[] = [
  {
    what: 'create a record and get it back, without duplicate detection',
    method: 'POST',
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      Accept: 'application/json',
      'OData-MaxVersion': '4.0',
      'OData-Version': '4.0',
      Prefer: 'return=representation',
      'MSCRM.SuppressDuplicateDetection': 'false',
      'X-CSRF': '1',
    },
  },
  {
    what: 'update only if unchanged',
    method: 'PATCH',
    headers: { 'Content-Type': 'application/json', 'If-Match': 'W/"12345"', 'X-CSRF': '1' },
  },
  {
    what: 'read with formatted values, in French',
    method: 'GET',
    headers: { Prefer: 'odata.include-annotations="*"', 'Accept-Language': 'fr-FR', 'If-None-Match': 'null' },
  },
  {
    what: 'act as another user',
    method: 'POST',
    headers: { 'Content-Type': 'application/json', CallerObjectId: GUID, 'X-CSRF': '1' },
  },
  {
    what: 'bypass custom plug-ins as an admin',
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'MSCRM.BypassCustomPluginExecution': 'true', 'X-CSRF': '1' },
  },
  {
    what: 'start a chunked file upload',
    method: 'PATCH',
    headers: { 'x-ms-transfer-mode': 'chunked', 'x-ms-file-name': 'report.pdf', 'X-CSRF': '1' },
  },
  {
    what: 'send one chunk',
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': 'bytes 0-4194303/8388608', 'X-CSRF': '1' },
  },
  { what: 'download a file in chunks', method: 'GET', headers: { Range: 'bytes=0-4194303' } },
  { what: 'read strongly consistent data', method: 'GET', headers: { Consistency: 'Strong' } },
];

/** The headers the service reads itself and never passes on. */
const SERVICE_OWN = new Set(['x-csrf', 'authorization', 'connection-id']);

describe('a browser app can make its Web API calls through the proxy', () => {
  it.each(BROWSER_CALLS)(
    '$what: the preflight grants every header, and the proxy forwards them',
    ({ method, headers }) => {
      expect(browserSends(headers, method)).toEqual({ allowed: true, refused: [] });
      const forwarded = forwardableRequestHeaders(headers, { allowImpersonation: true });
      for (const [name, value] of Object.entries(headers)) {
        if (SERVICE_OWN.has(name.toLowerCase())) expect(forwarded.has(name), name).toBe(false);
        else expect(forwarded.get(name), name).toBe(value);
      }
    },
  );

  it('every header a browser is allowed to send is one the service reads or the proxy forwards', () => {
    const sample: Record<string, string> = {
      mscrmcallerid: GUID,
      callerobjectid: GUID,
      'x-ms-transfer-mode': 'chunked',
      'content-range': 'bytes 0-9/10',
      range: 'bytes=0-9',
    };
    for (const name of CORS_ALLOW_HEADERS.map((h) => h.toLowerCase())) {
      if (SERVICE_OWN.has(name)) continue;
      expect(
        forwardableRequestHeaders({ [name]: sample[name] ?? 'x' }, { allowImpersonation: true }).has(name),
        name,
      ).toBe(true);
    }
    expect(new Set(CORS_ALLOW_HEADERS.map((h) => h.toLowerCase())).size).toBe(CORS_ALLOW_HEADERS.length);
  });

  it('headers a browser may not send cross-origin are not granted, and the proxy drops them from any client', () => {
    const unsafe = {
      Cookie: 'a=b',
      Host: 'evil.example',
      'X-Forwarded-For': '203.0.113.9',
      'Proxy-Authorization': 'Basic eA==',
      Connection: 'close',
      'X-Debug': '1',
    };
    const seen = browserSends(unsafe, 'GET');
    expect(seen.allowed).toBe(false);
    expect(seen.refused.sort()).toEqual(
      Object.keys(unsafe)
        .map((n) => n.toLowerCase())
        .sort(),
    );
    expect(
      [
        ...forwardableRequestHeaders(
          { ...unsafe, Authorization: 'Bearer x', 'X-CSRF': '1', 'Connection-Id': 'c1' },
          { allowImpersonation: true },
        ).keys(),
      ].sort(),
    ).toEqual(['accept', 'odata-maxversion', 'odata-version']);
  });

  it('a script reads what the proxy returns from Dataverse, and only that', () => {
    const fromDataverse = new Headers({
      'Content-Type': 'application/json; odata.metadata=minimal',
      'OData-Version': '4.0',
      'OData-EntityId': 'https://contoso.crm.dynamics.com/api/data/v9.2/accounts(1)',
      ETag: 'W/"1"',
      'Preference-Applied': 'return=representation',
      'x-ms-service-request-id': 'r-1',
      REQ_ID: 'r-1',
      'x-ms-ratelimit-burst-remaining-xrm-requests': '5999',
      'x-ms-ratelimit-time-remaining-xrm-requests': '1200000',
      'Retry-After': '5',
      'x-ms-chunk-size': '4194304',
      'x-ms-file-name': 'report.pdf',
      'x-ms-file-size': '8388608',
      'Content-Disposition': 'attachment; filename="report.pdf"',
      Location: 'https://contoso.crm.dynamics.com/api/data/v9.2/accounts(1)/doc?x-ms-file-token=t',
      mimetype: 'application/pdf',
      'Set-Cookie': 'ARRAffinity=x',
      Server: 'Microsoft-IIS/10.0',
      'Strict-Transport-Security': 'max-age=31536000',
      'x-ms-dop-hint': '4',
    });
    const returned = returnableResponseHeaders(fromDataverse);
    for (const dropped of ['set-cookie', 'server', 'strict-transport-security', 'x-ms-dop-hint'])
      expect(returned, dropped).not.toHaveProperty(dropped);
    expect(Object.keys(returned)).toEqual(
      expect.arrayContaining([
        'content-type',
        'odata-entityid',
        'etag',
        'preference-applied',
        'x-ms-service-request-id',
        'req_id',
        'retry-after',
        'x-ms-ratelimit-burst-remaining-xrm-requests',
        'x-ms-chunk-size',
        'x-ms-file-name',
        'x-ms-file-size',
        'content-disposition',
        'location',
        'mimetype',
      ]),
    );
    expect(scriptReads(returned).sort()).toEqual(Object.keys(returned).sort());
  });

  it('a script reads the correlation id the service sets on every answer', () => {
    expect(scriptReads({ 'x-correlation-id': 'c0ffee00-1234' })).toEqual(['x-correlation-id']);
  });
});
