import { describe, expect, it } from 'vitest';
import { forwardableRequestHeaders, returnableResponseHeaders } from '../../shared/dataverse/request.ts';
import { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS } from '../../shared/http/cors.ts';

/** A value each forwarded header accepts (those with a known format need a well-formed one). */
const SAMPLE_VALUES: Record<string, string> = {
  mscrmcallerid: '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b',
  callerobjectid: '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b',
  'x-ms-transfer-mode': 'chunked',
  'content-range': 'bytes 0-9/10',
  range: 'bytes=0-9',
};
const SERVICE_HEADERS = ['x-csrf', 'authorization', 'connection-id'];
const SAFELISTED_RESPONSE_HEADERS = ['content-type'];
/** Response headers the service sets itself on every answer. */
const SERVICE_RESPONSE_HEADERS = ['x-correlation-id'];
const lower = (names: readonly string[]) => names.map((n) => n.toLowerCase());

describe('the CORS lists and the proxy’s allowlists are the same lists', () => {
  it('every header a browser may send is one the service reads or the proxy forwards', () => {
    for (const name of lower(CORS_ALLOW_HEADERS)) {
      if (SERVICE_HEADERS.includes(name)) continue;
      const out = forwardableRequestHeaders({ [name]: SAMPLE_VALUES[name] ?? 'x' }, { allowImpersonation: true });
      expect(out.has(name), name).toBe(true);
    }
    expect(new Set(lower(CORS_ALLOW_HEADERS)).size).toBe(CORS_ALLOW_HEADERS.length);
  });

  it('every header the proxy forwards by name may be sent by a browser', () => {
    const candidates = ['accept', 'accept-language', 'content-type', 'odata-maxversion', 'odata-version', 'prefer', 'if-match', 'if-none-match', 'consistency', 'mscrmcallerid', 'callerobjectid', 'x-ms-transfer-mode', 'x-ms-file-name', 'content-range', 'range'];
    const forwarded = forwardableRequestHeaders(Object.fromEntries(candidates.map((n) => [n, SAMPLE_VALUES[n] ?? 'x'])), { allowImpersonation: true });
    for (const name of forwarded.keys()) expect(lower(CORS_ALLOW_HEADERS), name).toContain(name);
    expect([...forwarded.keys()].sort()).toEqual([...candidates].sort());
  });

  it('exposes the correlation id header the service sets on every answer', () => {
    expect(lower(CORS_EXPOSE_HEADERS)).toEqual(expect.arrayContaining(SERVICE_RESPONSE_HEADERS));
  });

  it('every exposed header is one the proxy returns, and every returned one a script could not read otherwise is exposed', () => {
    const probe = [
      ...CORS_EXPOSE_HEADERS,
      'Content-Type',
      'Content-Disposition',
      'ETag',
      'Location',
      'Preference-Applied',
      'Retry-After',
      'x-ms-chunk-size',
      'x-ms-file-name',
      'x-ms-file-size',
      'mimetype',
      'x-ms-service-request-id',
      'REQ_ID',
      'OData-EntityId',
      'OData-Version',
      'x-ms-ratelimit-burst-remaining-xrm-requests',
      'x-ms-ratelimit-time-remaining-xrm-requests',
    ];
    const returned = Object.keys(returnableResponseHeaders(new Headers(probe.map((n): [string, string] => [n, '1']))));
    for (const name of lower(CORS_EXPOSE_HEADERS)) if (!SERVICE_RESPONSE_HEADERS.includes(name)) expect(returned, name).toContain(name);
    for (const name of returned) if (!SAFELISTED_RESPONSE_HEADERS.includes(name)) expect(lower(CORS_EXPOSE_HEADERS), name).toContain(name);
  });
});
