import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { createDynamoClient } from '../../shared/stores/dynamodb.ts';
import { CookieJar } from '../support/cookie-jar.ts';

let stack: LocalStack;
const issued: Record<string, string>[] = [];
const tokenRequests: Record<string, string>[] = [];

beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0' } });
  stack.idp!.server.service.on(
    'beforeResponse',
    (res: { body: Record<string, string> }, req: { body: Record<string, string> }) => {
      issued.push({ ...res.body });
      tokenRequests.push({ ...req.body });
    },
  );
});
afterAll(async () => stack?.stop());

const jar = new CookieJar();
const api = (path: string) => `${stack.url}/api/data/v9.2/${path}`;
const unsafe = (extra: Record<string, string> = {}) => ({
  'x-csrf': '1',
  origin: stack.url,
  'content-type': 'application/json',
  ...extra,
});

describe('the local server, over real HTTP with a cookie jar', () => {
  it('signs in: login → development IdP → callback → session cookie', async () => {
    const login = await jar.fetch(`${stack.url}/auth/login?returnTo=${encodeURIComponent(`${stack.url}/`)}`);
    expect(login.status).toBe(302);
    const authorize = await jar.fetch(login.headers.get('location')!);
    expect(authorize.status).toBe(302);
    const callbackUrl = authorize.headers.get('location')!;
    expect(callbackUrl.startsWith(`${stack.url}/auth/callback?`)).toBe(true);
    const callback = await jar.fetch(callbackUrl);
    expect(callback.status).toBe(302);
    expect(callback.headers.get('location')).toBe(`${stack.url}/`);
    expect(jar.get('__Host-dyn-session')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(jar.get('__Host-dyn-login')).toBeUndefined();
    const session = await jar.fetch(`${stack.url}/auth/session`);
    expect(session.status).toBe(200);
    expect(await session.json()).toMatchObject({ authenticated: true, user: { username: 'dana@contoso.example' } });
  });

  it('proxies GET, POST, PATCH, DELETE and $batch for the signed-in user', async () => {
    const who = await jar.fetch(api('WhoAmI'));
    expect(who.status).toBe(200);
    expect(await who.json()).toHaveProperty('UserId');

    const list = await jar.fetch(api('accounts?$select=name&$top=2'));
    expect(list.status).toBe(200);
    expect(((await list.json()) as { value: unknown[] }).value).toHaveLength(2);

    const created = await jar.fetch(api('accounts'), {
      method: 'POST',
      headers: unsafe(),
      body: '{"name":"Local Co"}',
    });
    expect(created.status).toBe(204);
    const entityId = created.headers.get('odata-entityid')!;
    const id = /\(([0-9a-f-]{36})\)/.exec(entityId)![1];

    const patched = await jar.fetch(api(`accounts(${id})`), {
      method: 'PATCH',
      headers: unsafe(),
      body: '{"name":"Local Co 2"}',
    });
    expect(patched.status).toBe(204);
    const read = await jar.fetch(api(`accounts(${id})?$select=name`));
    expect(await read.json()).toMatchObject({ name: 'Local Co 2' });

    const batch = '--batch_x\r\nContent-Type: application/http\r\n\r\nGET accounts HTTP/1.1\r\n\r\n--batch_x--\r\n';
    const batched = await jar.fetch(api('$batch'), {
      method: 'POST',
      headers: unsafe({ 'content-type': 'multipart/mixed; boundary=batch_x' }),
      body: batch,
    });
    expect(batched.status).toBe(200);
    expect(batched.headers.get('content-type')).toMatch(/^multipart\/mixed/);
    // The stand-in runs the batch: its one part lists the accounts, including the one just renamed.
    const parts = await batched.text();
    expect(parts).toMatch(/\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(parts).toContain('"name":"Local Co 2"');

    const deleted = await jar.fetch(api(`accounts(${id})`), { method: 'DELETE', headers: unsafe() });
    expect(deleted.status).toBe(204);
  });

  it('refreshes on a 401 after the access token is forced to expire, and keeps working', async () => {
    const refreshesBefore = tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
    stack.dataverse!.expireIssuedTokens();
    const who = await jar.fetch(api('WhoAmI'));
    expect(who.status).toBe(200);
    expect(tokenRequests.filter((r) => r.grant_type === 'refresh_token').length - refreshesBefore).toBe(1);
    const again = await jar.fetch(api('WhoAmI'));
    expect(again.status).toBe(200);
    expect(tokenRequests.filter((r) => r.grant_type === 'refresh_token').length - refreshesBefore).toBe(1);
  });

  it('stores no plaintext token in DynamoDB', async () => {
    const client = createDynamoClient({ endpoint: stack.dynamodbEndpoint });
    const raw: string[] = [];
    for (const TableName of ['Sessions', 'PendingLogins']) {
      const out = await client.send(new ScanCommand({ TableName }));
      for (const item of out.Items ?? []) {
        for (const value of Object.values(item)) {
          raw.push(
            value.B
              ? Buffer.from(value.B).toString('latin1') + Buffer.from(value.B).toString('base64')
              : JSON.stringify(value),
          );
        }
      }
    }
    client.destroy();
    const all = raw.join('\n');
    expect(issued.length).toBeGreaterThanOrEqual(2);
    for (const tokens of issued) {
      for (const secret of [tokens.access_token, tokens.refresh_token, tokens.id_token]) {
        expect(all).not.toContain(secret!);
      }
    }
    expect(all).not.toContain(jar.get('__Host-dyn-session')!);
  });

  it('rejects a cookie POST without X-CSRF and a path outside the Web API', async () => {
    const noCsrf = await jar.fetch(api('accounts'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(noCsrf.status).toBe(403);
    // fetch would normalise the dot segments away; send the raw path as an attacker would.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${stack.url}/api/data/v9.2/%2e%2e/%2e%2e/admin`,
        { headers: { cookie: jar.header() } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.path = '/api/data/v9.2/%2e%2e/%2e%2e/admin';
      req.end();
    });
    expect(status).toBe(400);
  });

  it('signs out: the session is gone and the cookie cleared', async () => {
    const sessionCookie = jar.get('__Host-dyn-session')!;
    const logout = await jar.fetch(`${stack.url}/auth/logout`, { method: 'POST', headers: unsafe() });
    expect(logout.status).toBe(200);
    expect(((await logout.json()) as { logoutUrl: string }).logoutUrl).toContain('/endsession');
    expect(jar.get('__Host-dyn-session')).toBeUndefined();
    const replay = await fetch(api('WhoAmI'), { headers: { cookie: `__Host-dyn-session=${sessionCookie}` } });
    expect(replay.status).toBe(401);
  });

  it('refuses a body larger than API Gateway accepts (10 MB) with 413', async () => {
    const huge = await fetch(api('accounts'), {
      method: 'POST',
      headers: unsafe(),
      body: Buffer.alloc(11 * 1024 * 1024, 0x61),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: 'payload_too_large' });
  });

  it('serves the demo page at /', async () => {
    const page = await fetch(`${stack.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<button id="signin">Sign in</button>');
  });
});
