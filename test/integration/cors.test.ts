import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { IMPERSONATION_HEADERS } from '../../shared/dataverse/headers.ts';
import { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS } from '../../shared/http/cors.ts';

const APP = 'http://localhost:5173';
let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0', ALLOWED_RETURN_URLS: `${APP}/app` } });
});
afterAll(async () => stack?.stop());

const list = (value: string | null) =>
  (value ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
const preflight = (origin: string, requestHeaders: string) =>
  fetch(`${stack.url}/api/data/v9.2/accounts`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'PATCH', 'access-control-request-headers': requestHeaders },
  });

describe('CORS in local mode, as API Gateway applies the construct’s configuration', () => {
  it('answers a preflight from an allowed origin with the one list of request headers (impersonation and file transfer included)', async () => {
    const answer = await preflight(
      APP,
      'mscrmcallerid,callerobjectid,x-ms-transfer-mode,x-ms-file-name,content-range,range,x-csrf',
    );
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    expect(answer.headers.get('access-control-allow-credentials')).toBe('true');
    expect(list(answer.headers.get('access-control-allow-headers'))).toEqual(
      CORS_ALLOW_HEADERS.map((h) => h.toLowerCase()),
    );
    for (const name of [
      ...IMPERSONATION_HEADERS,
      'x-ms-transfer-mode',
      'x-ms-file-name',
      'Content-Range',
      'Range',
      'X-CSRF',
      'Connection-Id',
    ]) {
      expect(list(answer.headers.get('access-control-allow-headers'))).toContain(name.toLowerCase());
    }
    expect(list(answer.headers.get('access-control-allow-methods'))).toEqual([
      'get',
      'post',
      'put',
      'patch',
      'delete',
      'options',
    ]);
    expect(stack.dataverse!.requests).toHaveLength(0);
  });

  it('gives another origin no CORS headers, so its browser refuses', async () => {
    const answer = await preflight('https://evil.example', 'x-csrf');
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(answer.headers.get('access-control-allow-headers')).toBeNull();
    const simple = await fetch(`${stack.url}/auth/session`, { headers: { origin: 'https://evil.example' } });
    expect(simple.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('exposes the returned Dataverse headers (file transfer, request ids) to an allowed origin', async () => {
    const answer = await fetch(`${stack.url}/api/data/v9.2/WhoAmI`, { headers: { origin: APP } });
    expect(answer.status).toBe(401);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    expect(answer.headers.get('access-control-allow-credentials')).toBe('true');
    const exposed = list(answer.headers.get('access-control-expose-headers'));
    expect(exposed).toEqual(CORS_EXPOSE_HEADERS.map((h) => h.toLowerCase()));
    for (const name of [
      'x-ms-chunk-size',
      'x-ms-file-name',
      'x-ms-file-size',
      'mimetype',
      'x-ms-service-request-id',
      'req_id',
      'odata-entityid',
      'etag',
    ]) {
      expect(exposed).toContain(name);
    }
  });
});
