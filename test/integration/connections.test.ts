import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { CookieJar } from '../support/cookie-jar.ts';
import { AVERY } from '../support/dataverse.ts';
import { expectMatchesOpenApi } from '../support/openapi.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';

let stack: LocalStack;
const tokenRequests: Record<string, string>[] = [];
beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0' } });
  stack.idp!.server.service.on('beforeResponse', (_res: unknown, req: { body: Record<string, string> }) => {
    tokenRequests.push({ ...req.body });
  });
});
afterAll(async () => stack?.stop());

/** The admin tool, as an operator runs it against the service's DynamoDB (async: dynalite runs in this process). */
function admin(...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tools/admin.ts', ...args], {
      env: { ...process.env, DYNAMODB_ENDPOINT: stack.dynamodbEndpoint },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, out });
    });
  });
}

async function createKey(name: string, ...flags: string[]): Promise<{ key: string; keyId: string }> {
  const r = await admin('keys', 'create', '--name', name, ...flags);
  expect(r.status, r.out).toBe(0);
  const key = /\b(dak_[A-Za-z0-9-]{12}_[A-Za-z0-9_-]{43})\b/.exec(r.out)![1]!;
  return { key, keyId: key.split('_')[1]! };
}

async function asBackend(
  key: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, text, headers: Object.fromEntries(response.headers) };
}

/** The end user's browser: opens the connect URL and signs in at the (development) IdP. */
async function userConnects(connectUrl: string): Promise<URL> {
  const jar = new CookieJar();
  const start = await jar.fetch(connectUrl);
  expect(start.status).toBe(302);
  const authorize = await jar.fetch(start.headers.get('location')!);
  const callback = await jar.fetch(authorize.headers.get('location')!);
  expect(callback.status).toBe(302);
  expect(jar.get('__Host-dyn-session')).toBeUndefined();
  return new URL(callback.headers.get('location')!);
}

describe('managed connections for backends', () => {
  let alpha: { key: string; keyId: string };
  let beta: { key: string; keyId: string };

  it('connects a user, proxies with API key + Connection-Id, refreshes on 401, hands out tokens, and deletes', async () => {
    alpha = await createKey('alpha backend');
    beta = await createKey('beta backend');
    expect((await admin('keys', 'list')).out).toContain('alpha backend');

    const created = await asBackend(alpha.key, 'POST', '/connect/sessions', {
      connectionId: 'customer-42',
      returnTo: `${stack.url}/`,
    });
    expect(created.status).toBe(201);
    const { connectUrl } = expectMatchesOpenApi('POST', '/connect/sessions', 201, {
      headers: created.headers,
      body: created.text,
    }) as {
      connectUrl: string;
    };
    const landed = await userConnects(connectUrl);
    expect(landed.searchParams.get('connectionId')).toBe('customer-42');
    expect(landed.searchParams.get('status')).toBe('connected');
    // The connect link is single-use.
    expect((await fetch(connectUrl, { redirect: 'manual' })).status).toBe(400);

    const info = await asBackend(alpha.key, 'GET', '/connections/customer-42');
    expect(info.status).toBe(200);
    expect(
      expectMatchesOpenApi('GET', '/connections/{connectionId}', 200, { headers: info.headers, body: info.text }),
    ).toMatchObject({
      connectionId: 'customer-42',
      status: 'active',
      user: { username: 'dana@contoso.example' },
    });

    const who = await asBackend(alpha.key, 'GET', '/api/data/v9.2/WhoAmI', undefined, {
      'connection-id': 'customer-42',
    });
    expect(who.status).toBe(200);
    expect(JSON.parse(who.text)).toHaveProperty('UserId');

    const refreshesBefore = tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
    stack.dataverse!.expireIssuedTokens();
    const afterExpiry = await asBackend(alpha.key, 'GET', '/api/data/v9.2/accounts?$top=1', undefined, {
      'connection-id': 'customer-42',
    });
    expect(afterExpiry.status).toBe(200);
    expect(tokenRequests.filter((r) => r.grant_type === 'refresh_token').length - refreshesBefore).toBe(1);
    const refreshedInfo = JSON.parse((await asBackend(alpha.key, 'GET', '/connections/customer-42')).text) as {
      lastRefreshAt: string;
    };
    expect(Date.parse(refreshedInfo.lastRefreshAt)).toBeGreaterThan(Date.now() - 60_000);

    const token = await asBackend(alpha.key, 'GET', '/connections/customer-42/token');
    expect(token.status).toBe(200);
    expect(token.headers['cache-control']).toBe('no-store');
    const { accessToken } = expectMatchesOpenApi('GET', '/connections/{connectionId}/token', 200, {
      headers: token.headers,
      body: token.text,
    }) as {
      accessToken: string;
    };
    const direct = await fetch(`${stack.dataverse!.url}/api/data/v9.2/WhoAmI`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(direct.status).toBe(200);

    // Another key sees nothing of alpha's connections.
    for (const [method, path, headers] of [
      ['GET', '/connections/customer-42', {}],
      ['GET', '/connections/customer-42/token', {}],
      ['DELETE', '/connections/customer-42', {}],
      ['GET', '/api/data/v9.2/WhoAmI', { 'connection-id': 'customer-42' }],
    ] as const) {
      const cross = await asBackend(beta.key, method, path, undefined, headers);
      expect(cross.status, `${method} ${path}`).toBe(404);
      expectMatchesOpenApi(method, path, 404, { headers: cross.headers, body: cross.text });
    }

    const deleted = await asBackend(alpha.key, 'DELETE', '/connections/customer-42');
    expect(deleted.status).toBe(204);
    expect((await asBackend(alpha.key, 'GET', '/connections/customer-42')).status).toBe(404);
  });

  it('marks a connection whose grant is revoked as failed, and reports why', async () => {
    const created = JSON.parse(
      (await asBackend(alpha.key, 'POST', '/connect/sessions', { connectionId: 'customer-7' })).text,
    ) as {
      connectUrl: string;
    };
    await userConnects(created.connectUrl);
    expect(
      (await asBackend(alpha.key, 'GET', '/api/data/v9.2/WhoAmI', undefined, { 'connection-id': 'customer-7' })).status,
    ).toBe(200);
    const restoreIdp = failRefreshGrants(stack.idp!.server, 400, {
      error: 'invalid_grant',
      error_description: 'AADSTS50173: revoked',
    });
    try {
      stack.dataverse!.expireIssuedTokens();
      const proxied = await asBackend(alpha.key, 'GET', '/api/data/v9.2/WhoAmI', undefined, {
        'connection-id': 'customer-7',
      });
      expect(proxied.status).toBe(409);
      expect(JSON.parse(proxied.text)).toMatchObject({ error: { code: 'reconnect_required' } });
      // Why the grant ended is the connection's lastError (below), never part of the service's error.
      expect(proxied.text).not.toMatch(/invalid_grant|AADSTS/);
    } finally {
      restoreIdp();
    }
    const info = await asBackend(alpha.key, 'GET', '/connections/customer-7');
    expect(JSON.parse(info.text)).toMatchObject({ status: 'failed', lastError: 'invalid_grant' });
    const token = await asBackend(alpha.key, 'GET', '/connections/customer-7/token');
    expect(token.status).toBe(409);
    expectMatchesOpenApi('GET', '/connections/{connectionId}/token', 409, { headers: token.headers, body: token.text });
  });

  it('a connect link survives being opened first by a link scanner, and shows Entra’s account picker', async () => {
    const { connectUrl } = JSON.parse(
      (await asBackend(alpha.key, 'POST', '/connect/sessions', { connectionId: 'scanned' })).text,
    ) as {
      connectUrl: string;
    };
    const scanner = await fetch(connectUrl, { redirect: 'manual' });
    expect(scanner.status).toBe(302);
    const authorize = new URL(scanner.headers.get('location')!);
    expect(authorize.searchParams.get('prompt')).toBe('select_account');
    const landed = await userConnects(connectUrl);
    expect(landed.searchParams.get('status')).toBe('connected');
  });

  it('binds a link to the expected tenant and user: anyone else ends in 400 account_mismatch and nothing is stored', async () => {
    const create = async (connectionId: string, extra: Record<string, string>) =>
      (
        JSON.parse((await asBackend(alpha.key, 'POST', '/connect/sessions', { connectionId, ...extra })).text) as {
          connectUrl: string;
        }
      ).connectUrl;
    const finish = async (connectUrl: string) => {
      const jar = new CookieJar();
      const start = await jar.fetch(connectUrl);
      const authorize = await jar.fetch(start.headers.get('location')!);
      return {
        authorizeUrl: new URL(start.headers.get('location')!),
        callback: await jar.fetch(authorize.headers.get('location')!),
      };
    };
    const otherTenant = await finish(
      await create('bound-tenant', { expectedTenantId: '00000000-0000-4000-8000-000000000001' }),
    );
    expect(otherTenant.callback.status).toBe(400);
    expect(await otherTenant.callback.json()).toMatchObject({ error: 'account_mismatch' });
    expect((await asBackend(alpha.key, 'GET', '/connections/bound-tenant')).status).toBe(404);

    const otherUser = await finish(await create('bound-user', { loginHint: 'someone.else@contoso.example' }));
    expect(otherUser.authorizeUrl.searchParams.get('login_hint')).toBe('someone.else@contoso.example');
    expect(otherUser.callback.status).toBe(400);
    expect((await asBackend(alpha.key, 'GET', '/connections/bound-user')).status).toBe(404);

    const rightUser = await finish(
      await create('bound-ok', {
        loginHint: 'DANA@contoso.example',
        expectedTenantId: '99999999-8888-4777-8666-555555555555',
      }),
    );
    expect(rightUser.callback.status).toBe(302);
    expect((await asBackend(alpha.key, 'GET', '/connections/bound-ok')).status).toBe(200);
  });

  it('refuses impersonation headers for an API key (403, nothing forwarded) unless the key was created with --allow-impersonation', async () => {
    const plain = await createKey('plain backend');
    const delegate = await createKey('delegate backend', '--allow-impersonation');
    for (const { key } of [plain, delegate]) {
      const created = await asBackend(key, 'POST', '/connect/sessions', {
        connectionId: 'customer-7',
        returnTo: `${stack.url}/`,
      });
      expect(created.status).toBe(201);
      await userConnects((JSON.parse(created.text) as { connectUrl: string }).connectUrl);
    }
    const listed = (await admin('keys', 'list')).out;
    expect(listed).toMatch(new RegExp(`${plain.keyId}.*active  no-impersonation  plain backend`));
    expect(listed).toMatch(new RegExp(`${delegate.keyId}.*active  impersonation  delegate backend`));

    const path = '/api/data/v9.2/WhoAmI';
    const seen = () => stack.dataverse!.requests.length;
    // Another user of the environment, by systemuserid (MSCRMCallerID) or Entra object id (CallerObjectId).
    const others = { MSCRMCallerID: AVERY.systemuserid, CallerObjectId: AVERY.azureactivedirectoryobjectid };
    for (const [name, other] of Object.entries(others)) {
      const before = seen();
      const refused = await asBackend(plain.key, 'GET', path, undefined, {
        'connection-id': 'customer-7',
        [name]: other,
      });
      expect(refused.status, name).toBe(403);
      expect(expectMatchesOpenApi('GET', path, 403, { headers: refused.headers, body: refused.text })).toMatchObject({
        error: { code: 'impersonation_not_allowed' },
      });
      expect(seen(), `${name} reached Dataverse`).toBe(before);

      const allowed = await asBackend(delegate.key, 'GET', path, undefined, {
        'connection-id': 'customer-7',
        [name]: other,
      });
      expect(allowed.status, name).toBe(200);
      expect(stack.dataverse!.requests.at(-1)!.headers[name.toLowerCase()]).toBe(other);
      expect(JSON.parse(allowed.text)).toMatchObject({ UserId: AVERY.systemuserid });
    }
    // Without impersonation headers the plain key works as before.
    expect((await asBackend(plain.key, 'GET', path, undefined, { 'connection-id': 'customer-7' })).status).toBe(200);
    // A well-formed value is still required of a key that may impersonate.
    expect(
      (await asBackend(delegate.key, 'GET', path, undefined, { 'connection-id': 'customer-7', CallerObjectId: 'dana' }))
        .status,
    ).toBe(400);
  });

  it('answers 401 for a revoked, unknown or malformed API key', async () => {
    const revoked = await admin('keys', 'revoke', beta.keyId);
    expect(revoked.status, revoked.out).toBe(0);
    for (const key of [beta.key, `dak_${'x'.repeat(12)}_${'y'.repeat(43)}`, 'not-a-key']) {
      const answer = await asBackend(key, 'POST', '/connect/sessions', { connectionId: 'x' });
      expect(answer.status).toBe(401);
      expect(
        expectMatchesOpenApi('POST', '/connect/sessions', 401, { headers: answer.headers, body: answer.text }),
      ).toMatchObject({
        error: 'invalid_api_key',
      });
    }
    expect((await admin('keys', 'list')).out).toMatch(new RegExp(`${beta.keyId}.*revoked`));
  });

  it('answers a mistyped API key on the proxy and /auth/environments with an API-key error, not a sign-in hint', async () => {
    const truncated = alpha.key.slice(0, -1);
    for (const [key, headers] of [
      [truncated, { 'connection-id': 'customer-7' }],
      [`${alpha.key}x`, { 'connection-id': 'customer-7' }],
      ['dak_typo', {}],
      ['not-a-key', { 'connection-id': 'customer-7' }],
    ] as const) {
      for (const path of ['/api/data/v9.2/WhoAmI', '/auth/environments']) {
        const answer = await asBackend(key, 'GET', path, undefined, headers);
        expect(answer.status, `${path} ${key.slice(0, 8)}`).toBe(401);
        const body = JSON.parse(answer.text) as { error: string | { code: string; message: string }; message?: string };
        const error = typeof body.error === 'string' ? { code: body.error, message: body.message! } : body.error;
        expect(error.code).toBe('invalid_api_key');
        expect(error.message).not.toMatch(/sign in|auth\/login/i);
        expect(answer.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
        expect(answer.text).not.toContain(key);
        if (path === '/auth/environments')
          expectMatchesOpenApi('GET', path, 401, { headers: answer.headers, body: answer.text });
      }
    }
  });

  it('refuses bad connection ids and returnTo values with 400', async () => {
    for (const body of [
      { connectionId: '' },
      { connectionId: 'a/b' },
      { connectionId: 'ok', returnTo: 'https://evil.example/' },
      {},
      { connectionId: 'ok', expectedTenantId: 'contoso' },
      { connectionId: 'ok', loginHint: 'a b' },
    ]) {
      const answer = await asBackend(alpha.key, 'POST', '/connect/sessions', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expectMatchesOpenApi('POST', '/connect/sessions', 400, { headers: answer.headers, body: answer.text });
    }
  });

  it('serves the OpenAPI document at /openapi.json', async () => {
    const answer = await fetch(`${stack.url}/openapi.json`);
    expect(answer.status).toBe(200);
    const doc = (await answer.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/auth/token', '/connect/sessions', '/connections/{connectionId}/token']),
    );
  });
});
