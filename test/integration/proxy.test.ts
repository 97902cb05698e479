import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../shared/crypto/random.ts';
import { jsonBody, RETURN_ORIGIN, signIn, startTestStack, type TestStack } from '../support/stack.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => stack?.stop());
beforeEach(() => {
  stack.dataverse.requests.length = 0;
});

const API = '/api/data/v9.2';
const refreshCalls = () => stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
const bodyOf = (r: { body?: string; isBase64Encoded?: boolean }) =>
  r.isBase64Encoded ? Buffer.from(r.body ?? '', 'base64') : Buffer.from(r.body ?? '');

describe('proxy', () => {
  it('forwards a GET with path and query to Dataverse and passes back status, body and allowed headers', async () => {
    const { sessionCookie } = await signIn(stack);
    const answer = await stack.routes().proxy({
      path: `${API}/accounts`,
      query: '$select=name&$top=2',
      cookies: [sessionCookie],
      headers: { prefer: 'odata.maxpagesize=1', 'x-custom': 'nope' },
    });
    expect(answer.statusCode).toBe(200);
    const body = jsonBody(answer) as { value: { name: string }[]; '@odata.nextLink'?: string };
    expect(body.value).toHaveLength(1);
    expect(body['@odata.nextLink']).toContain('%24skiptoken=1');
    expect(answer.headers['preference-applied']).toBe('odata.maxpagesize=1');
    expect(answer.headers['odata-version']).toBe('4.0');
    expect(answer.headers['Cache-Control']).toBe('no-store');
    const seen = stack.dataverse.requests.at(-1)!;
    expect(seen.path).toBe(`${API}/accounts`);
    expect(seen.query).toBe('?$select=name&$top=2');
    expect(seen.headers['odata-maxversion']).toBe('4.0');
    expect(seen.headers['x-custom']).toBeUndefined();
  });

  it('forwards impersonation and chunked file-transfer headers for a signed-in user, and returns file and request-id headers', async () => {
    const { sessionToken, sessionCookie } = await signIn(stack);
    const sent = {
      MSCRMCallerID: '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b',
      CallerObjectId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      'x-ms-transfer-mode': 'chunked',
      'x-ms-file-name': 'report.pdf',
      'Content-Range': 'bytes 0-4194303/12582912',
      Range: 'bytes=0-4194303',
      'MSCRM.BypassCustomPluginExecution': 'true',
    };
    const returned = {
      'x-ms-chunk-size': '4194304',
      'x-ms-file-name': 'report.pdf',
      'x-ms-file-size': '12582912',
      mimetype: 'application/pdf',
      'x-ms-service-request-id': '2f4e6a1c-0000-4000-8000-000000000001',
      REQ_ID: '2f4e6a1c-0000-4000-8000-000000000002',
    };
    const callers: { cookies?: string[]; headers: Record<string, string> }[] = [
      { headers: { authorization: `Bearer ${sessionToken}` } },
      { cookies: [sessionCookie], headers: { 'x-csrf': '1' } },
    ];
    for (const auth of callers) {
      stack.dataverse.failNext(
        200,
        1,
        {
          'content-type': 'application/octet-stream',
          ...returned,
          'x-ms-internal': 'no',
          server: 'Microsoft-IIS/10.0',
        },
        'chunk',
      );
      const answer = await stack.routes().proxy({
        method: 'PATCH',
        path: `${API}/accounts(00000000-0000-0000-0000-000000000001)/contoso_file`,
        cookies: auth.cookies,
        headers: { ...auth.headers, ...sent, 'content-type': 'application/octet-stream' },
        body: 'chunk',
      });
      expect(answer.statusCode).toBe(200);
      const seen = stack.dataverse.requests.at(-1)!;
      for (const [name, value] of Object.entries(sent)) expect(seen.headers[name.toLowerCase()], name).toBe(value);
      for (const [name, value] of Object.entries(returned))
        expect(answer.headers[name.toLowerCase()], name).toBe(value);
      expect(answer.headers['x-ms-internal']).toBeUndefined();
      expect(answer.headers.server).toBeUndefined();
    }
  });

  it('refuses a malformed impersonation id or byte range with 400 before any upstream call', async () => {
    const { sessionToken } = await signIn(stack);
    stack.dataverse.requests.length = 0;
    for (const [name, value] of [
      ['CallerObjectId', 'dana@contoso.example'],
      ['MSCRMCallerID', '1'],
      ['Content-Range', 'bytes 5-1/10'],
      ['Range', 'bytes=0-1,5-9'],
      ['x-ms-file-name', 'a\r\nX-Injected: 1'],
    ]) {
      const answer = await stack
        .routes()
        .proxy({ path: `${API}/WhoAmI`, headers: { authorization: `Bearer ${sessionToken}`, [name!]: value! } });
      expect(answer.statusCode, name).toBe(400);
      expect(jsonBody(answer)).toMatchObject({ error: { code: 'invalid_header' } });
    }
    expect(stack.dataverse.requests).toHaveLength(0);
  });

  it('never forwards the client’s Cookie or Authorization: Dataverse sees only the user’s access token', async () => {
    const { sessionToken, sessionCookie } = await signIn(stack);
    const viaCookie = await stack.routes().proxy({
      path: `${API}/WhoAmI`,
      cookies: [sessionCookie, 'other=1'],
      headers: { cookie: `${sessionCookie}; other=1` },
    });
    expect(viaCookie.statusCode).toBe(200);
    const viaBearer = await stack.routes().proxy({
      path: `${API}/WhoAmI`,
      headers: { authorization: `Bearer ${sessionToken}`, host: 'evil.example' },
    });
    expect(viaBearer.statusCode).toBe(200);
    for (const seen of stack.dataverse.requests) {
      expect(seen.headers.cookie).toBeUndefined();
      expect(seen.headers.host).toBe(new URL(stack.dataverse.url).host);
      expect(seen.headers.authorization).toMatch(/^Bearer eyJ/);
      expect(seen.headers.authorization).not.toContain(sessionToken);
    }
  });

  it('passes POST, PATCH and DELETE through and returns OData-EntityId', async () => {
    const { sessionToken } = await signIn(stack);
    const auth = { authorization: `Bearer ${sessionToken}`, 'content-type': 'application/json' };
    const routes = stack.routes();
    const created = await routes.proxy({
      method: 'POST',
      path: `${API}/accounts`,
      headers: auth,
      body: JSON.stringify({ name: 'New Co' }),
    });
    expect(created.statusCode).toBe(204);
    const entityId = created.headers['odata-entityid']!;
    const id = /\(([0-9a-f-]{36})\)/.exec(entityId)![1]!;
    const patched = await routes.proxy({
      method: 'PATCH',
      path: `${API}/accounts(${id})`,
      headers: { ...auth, 'if-match': '*' },
      body: '{"name":"Renamed"}',
    });
    expect(patched.statusCode).toBe(204);
    const read = await routes.proxy({ path: `${API}/accounts(${id})`, headers: auth });
    expect(jsonBody(read)).toMatchObject({ name: 'Renamed' });
    const deleted = await routes.proxy({ method: 'DELETE', path: `${API}/accounts(${id})`, headers: auth });
    expect(deleted.statusCode).toBe(204);
    const gone = await routes.proxy({ path: `${API}/accounts(${id})`, headers: auth });
    expect(gone.statusCode).toBe(404);
  });

  it('passes binary responses and $batch multipart bodies through byte for byte', async () => {
    const { sessionToken } = await signIn(stack);
    const auth = { authorization: `Bearer ${sessionToken}` };
    const account = stack.dataverse.insert('accounts', { name: 'Binary' });
    const image = await stack
      .routes()
      .proxy({ path: `${API}/accounts(${account.id})/entityimage/$value`, headers: auth });
    expect(image.headers['content-type']).toBe('image/png');
    expect([...bodyOf(image)]).toEqual([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28,
    ]);

    const batch = Buffer.concat([
      Buffer.from('--batch_1\r\nContent-Type: application/http\r\n\r\nGET accounts/$count HTTP/1.1\r\n\r\n'),
      Buffer.from([0xff, 0x00, 0xfe]),
      Buffer.from('\r\n--batch_1--\r\n'),
    ]);
    const answer = await stack.routes().proxy({
      method: 'POST',
      path: `${API}/$batch`,
      headers: { ...auth, 'content-type': 'multipart/mixed; boundary=batch_1' },
      body: batch,
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^multipart\/mixed; boundary=batchresponse_/);
    const seen = stack.dataverse.requests.at(-1)!;
    expect(seen.headers['content-type']).toBe('multipart/mixed; boundary=batch_1');
    expect(seen.body.equals(batch)).toBe(true);
    // The stand-in runs the batch for real; its multipart answer reaches the client byte for byte.
    expect(bodyOf(answer).equals(seen.response!.body)).toBe(true);
    expect(bodyOf(answer).toString()).toMatch(
      /HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain\r\n[^]*\r\n\r\n\d+\r\n--batchresponse_/,
    );
  });

  it('refreshes exactly once on a 401 from Dataverse and retries the request', async () => {
    const { sessionToken } = await signIn(stack);
    const before = refreshCalls();
    stack.dataverse.failNext(401, 1, { 'content-type': 'application/json' }, '{"error":{"code":"0x80072182"}}');
    const answer = await stack
      .routes()
      .proxy({ path: `${API}/WhoAmI`, headers: { authorization: `Bearer ${sessionToken}` } });
    expect(answer.statusCode).toBe(200);
    expect(refreshCalls() - before).toBe(1);
    const [first, retried] = stack.dataverse.requests.slice(-2);
    expect(first!.headers.authorization).not.toBe(retried!.headers.authorization);
    const request = stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').at(-1)!;
    expect(request.scope).toContain(`${stack.dataverse.url}/user_impersonation`);
  });

  it('answers a second 401 with 403 dataverse_rejected instead of refreshing again', async () => {
    const { sessionToken } = await signIn(stack);
    const before = refreshCalls();
    stack.dataverse.failNext(401, 2, { 'content-type': 'application/json' }, '{}');
    const answer = await stack
      .routes()
      .proxy({ path: `${API}/WhoAmI`, headers: { authorization: `Bearer ${sessionToken}` } });
    expect(answer.statusCode).toBe(403);
    expect(jsonBody(answer)).toMatchObject({ error: { code: 'dataverse_rejected' } });
    expect(refreshCalls() - before).toBe(1);
  });

  it('deletes the session and answers 401 login_required when the refresh grant is revoked', async () => {
    const { sessionToken } = await signIn(stack);
    const restoreIdp = failRefreshGrants(stack.idp.server, 400, {
      error: 'invalid_grant',
      error_description: 'AADSTS50173: The provided grant has expired due to it being revoked.',
    });
    try {
      stack.dataverse.failNext(401);
      const answer = await stack
        .routes()
        .proxy({ path: `${API}/WhoAmI`, headers: { authorization: `Bearer ${sessionToken}` } });
      expect(answer.statusCode).toBe(401);
      expect(jsonBody(answer)).toMatchObject({ error: { code: 'login_required' } });
    } finally {
      restoreIdp();
    }
    expect(await stack.services.sessions.get(sha256(sessionToken), Math.floor(Date.now() / 1000))).toBeUndefined();
    const after = await stack
      .routes()
      .proxy({ path: `${API}/WhoAmI`, headers: { authorization: `Bearer ${sessionToken}` } });
    expect(after.statusCode).toBe(401);
    expect(jsonBody(after)).toMatchObject({ error: { code: 'unauthenticated' } });
  });

  it.each([
    '/api/data/v9.2/../../admin',
    '/api/data/v9.2/accounts/../../../x',
    '/api/data/v9.2/%2e%2e/%2E%2E/x',
    '/api/data/v9.2/accounts%2f..%2fx',
    '/api/data/v9.2/accounts%5C..%5Cx',
    '/api/data/v9.2/accounts\\..\\x',
    '/api/data/v9.2//accounts',
    '/api/data/v8.2/accounts',
    '/api/data/',
    '/api/dataverse/v9.2/accounts',
    '/api/data/v9.2/accounts%00',
    '/api/data/v9.2/@evil.example/x',
  ])('rejects %s with 400 before any upstream call', async (path) => {
    const { sessionToken } = await signIn(stack);
    stack.dataverse.requests.length = 0;
    const answer = await stack.routes().proxy({ path, headers: { authorization: `Bearer ${sessionToken}` } });
    if (path.includes('@evil')) {
      // '@' is a legal path character; the request must still go to DYNAMICS_URL only.
      expect(stack.dataverse.requests.every((r) => r.path === path)).toBe(true);
      return;
    }
    expect(answer.statusCode).toBe(400);
    const code = expect.stringMatching(/^invalid_/);
    // OData's error shape on Web API paths only; /api/dataverse is not one (API Gateway never routes it here).
    expect(jsonBody(answer)).toMatchObject(path.startsWith('/api/data/') ? { error: { code } } : { error: code });
    expect(stack.dataverse.requests).toHaveLength(0);
  });

  it('forwards a literal % in the decoded path (an HTTP API turned %25 into %) as %25, never as an escape', async () => {
    const { sessionToken } = await signIn(stack);
    stack.dataverse.requests.length = 0;
    const answer = await stack
      .routes()
      .proxy({ path: `${API}/accounts%zz`, headers: { authorization: `Bearer ${sessionToken}` } });
    expect(answer.statusCode).toBe(404);
    expect(stack.dataverse.requests.map((r) => r.path)).toEqual([`${API}/accounts%25zz`]);
  });

  it('requires X-CSRF: 1 on cookie-authenticated unsafe methods, and an allowed Origin', async () => {
    const { sessionCookie, sessionToken } = await signIn(stack);
    const routes = stack.routes();
    const noHeader = await routes.proxy({
      method: 'POST',
      path: `${API}/accounts`,
      cookies: [sessionCookie],
      body: '{"name":"x"}',
    });
    expect(noHeader.statusCode).toBe(403);
    expect(jsonBody(noHeader)).toMatchObject({ error: { code: 'csrf' } });
    const badOrigin = await routes.proxy({
      method: 'DELETE',
      path: `${API}/accounts(00000000-0000-0000-0000-000000000000)`,
      cookies: [sessionCookie],
      headers: { 'x-csrf': '1', origin: 'https://evil.example' },
    });
    expect(badOrigin.statusCode).toBe(403);
    expect(stack.dataverse.requests).toHaveLength(0);
    const ok = await routes.proxy({
      method: 'POST',
      path: `${API}/accounts`,
      cookies: [sessionCookie],
      headers: { 'x-csrf': '1', origin: RETURN_ORIGIN, 'content-type': 'application/json' },
      body: '{"name":"x"}',
    });
    expect(ok.statusCode).toBe(204);
    const bearer = await routes.proxy({
      method: 'POST',
      path: `${API}/accounts`,
      headers: { authorization: `Bearer ${sessionToken}`, 'content-type': 'application/json' },
      body: '{"name":"y"}',
    });
    expect(bearer.statusCode).toBe(204);
  });

  it('retries a 429 with a short Retry-After once, and passes a long one through', async () => {
    const { sessionToken } = await signIn(stack);
    const auth = { authorization: `Bearer ${sessionToken}` };
    stack.dataverse.throttleNext(1);
    const retried = await stack.routes().proxy({ path: `${API}/WhoAmI`, headers: auth });
    expect(retried.statusCode).toBe(200);
    stack.dataverse.throttleNext(300);
    const passed = await stack.routes().proxy({ path: `${API}/WhoAmI`, headers: auth });
    expect(passed.statusCode).toBe(429);
    expect(passed.headers['retry-after']).toBe('300');
  });

  it('answers 504 JSON when Dataverse is slower than the time budget', async () => {
    const { sessionToken } = await signIn(stack);
    stack.dataverse.setDelay(1500);
    try {
      const answer = await stack
        .routes()
        .proxy({ path: `${API}/WhoAmI`, headers: { authorization: `Bearer ${sessionToken}` } }, 2000);
      expect(answer.statusCode).toBe(504);
      expect(jsonBody(answer)).toMatchObject({ error: { code: 'upstream_timeout' } });
    } finally {
      stack.dataverse.setDelay(0);
    }
  });

  it('answers 401 for a missing, malformed or unknown session', async () => {
    const routes = stack.routes();
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Bearer short' },
      { authorization: `Bearer ${'A'.repeat(43)}` },
    ]) {
      const answer = await routes.proxy({ path: `${API}/WhoAmI`, headers });
      expect(answer.statusCode).toBe(401);
      expect(jsonBody(answer)).toMatchObject({ error: { code: 'unauthenticated' } });
    }
    expect(stack.dataverse.requests).toHaveLength(0);
  });

  it('refuses oversized paths, queries and header values, and CR/LF in a forwarded header, before any upstream call', async () => {
    const { sessionToken } = await signIn(stack);
    stack.dataverse.requests.length = 0;
    const auth = { authorization: `Bearer ${sessionToken}` };
    const routes = stack.routes();
    const cases = [
      { path: `${API}/${'a'.repeat(5000)}` },
      { path: `${API}/accounts`, query: `$filter=${'x'.repeat(20_000)}` },
      { path: `${API}/accounts`, headers: { ...auth, prefer: 'p'.repeat(9000) } },
      { path: `${API}/accounts`, headers: { ...auth, prefer: 'return=minimal\r\nX-Injected: 1' } },
    ];
    for (const c of cases) {
      const answer = await routes.proxy({ headers: auth, ...c });
      expect(answer.statusCode, JSON.stringify(c).slice(0, 80)).toBe(400);
    }
    expect(stack.dataverse.requests).toHaveLength(0);
  });

  it('answers 502 response_too_large for a body a Lambda response cannot carry, and marks proxied content inert', async () => {
    const { sessionToken } = await signIn(stack);
    const auth = { authorization: `Bearer ${sessionToken}` };
    stack.dataverse.failNext(200, 1, { 'content-type': 'application/octet-stream' }, 'x'.repeat(4_500_000));
    const big = await stack.routes().proxy({ path: `${API}/WhoAmI`, headers: auth });
    expect(big.statusCode).toBe(502);
    expect(jsonBody(big)).toMatchObject({ error: { code: 'response_too_large' } });
    const normal = await stack.routes().proxy({ path: `${API}/WhoAmI`, headers: auth });
    expect(normal.headers['X-Content-Type-Options']).toBe('nosniff');
    expect(normal.headers['Content-Security-Policy']).toBe("sandbox; default-src 'none'");
  });
});
