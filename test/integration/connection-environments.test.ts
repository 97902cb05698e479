import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CountingKeyProvider, countingDynamo } from '../../bench/instrument.ts';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { hostOf, OTHER_TENANT_USER, startEnvironmentsStack, type EnvironmentsStack } from '../support/environments.ts';
import { expectMatchesOpenApi } from '../support/openapi.ts';
import { cookiePair, jsonBody, LOGIN_COOKIE, RETURN_ORIGIN, type Routes } from '../support/stack.ts';

let env: EnvironmentsStack;
let key: string;
beforeAll(async () => {
  env = await startEnvironmentsStack();
  const generated = generateApiKey('environments backend', Date.now());
  await env.stack.services.apiKeys.create(generated.record);
  key = generated.key;
});
afterAll(async () => env?.stop());

const asBackend = (connectionId?: string) => ({
  authorization: `Bearer ${key}`,
  ...(connectionId ? { 'connection-id': connectionId } : {}),
});
const tokenCallsFor = (url: string) =>
  env.stack.tokenRequests.filter((r) => (r.scope ?? '').startsWith(`${url}/`)).length;
const returnTo = `${RETURN_ORIGIN}/connected`;

/** The backend asks for a connect link; the user's browser signs in through it. Returns where the callback sends the browser. */
async function connect(routes: Routes, connectionId: string, extra: Record<string, unknown> = {}): Promise<URL> {
  const created = await routes.connect({
    method: 'POST',
    path: '/connect/sessions',
    headers: { ...asBackend(), 'content-type': 'application/json' },
    body: JSON.stringify({ connectionId, returnTo, ...extra }),
  });
  expect(created.statusCode, created.body).toBe(201);
  const token = new URL(jsonBody(created).connectUrl as string).searchParams.get('token')!;
  const start = await routes.connectStart({ path: '/connect/start', query: `token=${token}` });
  expect(start.statusCode).toBe(302);
  const idpAnswer = await fetch(start.headers.Location!, { redirect: 'manual' });
  const back = new URL(idpAnswer.headers.get('location')!);
  const callback = await routes.callback({
    path: '/auth/callback',
    query: back.search.slice(1),
    cookies: [cookiePair(start.cookies, LOGIN_COOKIE)!],
  });
  expect(callback.statusCode, callback.body).toBe(302);
  return new URL(callback.headers.Location!);
}

const whoAmI = (routes: Routes, connectionId: string, path = '/api/data/v9.2/WhoAmI') =>
  routes.proxy({ path, headers: asBackend(connectionId) });

const chooserForm = (token: string, environment: string) => ({
  method: 'POST',
  path: '/connect/environment',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ token, environment }).toString(),
});

describe('connections get an environment', () => {
  it('POST /connect/sessions with an environment stores it; the proxy, GET /connections/{id} and the token route use it', async () => {
    env.signInAs(undefined);
    const routes = env.stack.routes();
    const landed = await connect(routes, 'named-b', { environment: env.envB.url });
    expect(landed.origin + landed.pathname).toBe(returnTo);
    expect(landed.searchParams.get('status')).toBe('connected');

    const shown = await routes.connections({ path: '/connections/named-b', headers: asBackend() });
    expect(shown.statusCode).toBe(200);
    expectMatchesOpenApi('GET', '/connections/{connectionId}', 200, shown);
    expect(jsonBody(shown).environment).toBe(env.envB.url);

    const seenB = env.envB.requests.length;
    expect((await whoAmI(routes, 'named-b')).statusCode).toBe(200);
    expect(env.envB.requests.length).toBe(seenB + 1);

    const token = await routes.connections({ path: '/connections/named-b/token', headers: asBackend() });
    expect(token.statusCode).toBe(200);
    expectMatchesOpenApi('GET', '/connections/{connectionId}/token', 200, token);
    const body = jsonBody(token) as { accessToken: string; environment: string };
    expect(body.environment).toBe(env.envB.url);
    const aud = JSON.parse(Buffer.from(body.accessToken.split('.')[1]!, 'base64url').toString('utf8')).aud;
    expect([aud].flat()).toContain(env.envB.url);
  });

  it('GET /connections/{id}/token?environment= picks another of the same user’s environments; another tenant’s is 403 with no token call', async () => {
    env.signInAs(undefined);
    const routes = env.stack.routes();
    await connect(routes, 'pick-other', { environment: env.envA.url });
    const other = await routes.connections({
      path: '/connections/pick-other/token',
      query: `environment=${encodeURIComponent(env.envB.url)}`,
      headers: asBackend(),
    });
    expect(other.statusCode, other.body).toBe(200);
    const body = jsonBody(other) as { accessToken: string; environment: string };
    expect(body.environment).toBe(env.envB.url);
    const aud = JSON.parse(Buffer.from(body.accessToken.split('.')[1]!, 'base64url').toString('utf8')).aud;
    expect([aud].flat()).toContain(env.envB.url);

    const callsForC = tokenCallsFor(env.envC.url);
    const refused = await routes.connections({
      path: '/connections/pick-other/token',
      query: `environment=${encodeURIComponent(env.envC.url)}`,
      headers: asBackend(),
    });
    expect(refused.statusCode).toBe(403);
    expectMatchesOpenApi('GET', '/connections/{connectionId}/token', 403, refused);
    expect(jsonBody(refused)).toMatchObject({ error: 'environment_not_allowed' });
    expect(tokenCallsFor(env.envC.url)).toBe(callsForC);

    const outside = await routes.connections({
      path: '/connections/pick-other/token',
      query: `environment=${encodeURIComponent('https://contoso.crm.dynamics.com')}`,
      headers: asBackend(),
    });
    expect(outside.statusCode).toBe(400);
    expect(jsonBody(outside)).toMatchObject({ error: 'invalid_environment' });
  });

  it('refuses an environment outside DATAVERSE_HOSTS when the link is made, storing nothing', async () => {
    const routes = env.stack.routes();
    const refused = await routes.connect({
      method: 'POST',
      path: '/connect/sessions',
      headers: { ...asBackend(), 'content-type': 'application/json' },
      body: JSON.stringify({ connectionId: 'bad-env', environment: 'https://contoso.crm.dynamics.com' }),
    });
    expect(refused.statusCode).toBe(400);
    expectMatchesOpenApi('POST', '/connect/sessions', 400, refused);
    expect(jsonBody(refused)).toMatchObject({ error: 'invalid_environment' });
  });

  it('without an environment, the user chooses on a server-rendered page; the choice is stored and the token is single-use', async () => {
    env.signInAs(undefined);
    const routes = env.stack.routes();
    const landed = await connect(routes, 'chooser');
    expect(landed.pathname).toBe('/connect/environment');
    const token = landed.searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const page = await routes.connectEnvironment({ path: '/connect/environment', query: `token=${token}` });
    expect(page.statusCode).toBe(200);
    expectMatchesOpenApi('GET', '/connect/environment', 200, page);
    expect(page.headers['Content-Type']).toBe('text/html; charset=utf-8');
    expect(page.headers['Cache-Control']).toBe('no-store');
    expect(page.headers['Content-Security-Policy']).toContain("frame-ancestors 'none'");
    expect(page.body).toContain('<form method="post" action="http://localhost:3000/connect/environment">');
    expect(page.body).not.toContain('<script');
    for (const standIn of [env.envA, env.envB]) {
      expect(page.body).toMatch(
        new RegExp(
          `<label for="environment-\\d"><input type="radio" id="environment-\\d" name="environment" value="${standIn.url}"`,
        ),
      );
    }
    expect(page.body).not.toContain(env.envC.url);
    // Before the choice, the proxy has no environment for this connection.
    expect((await whoAmI(routes, 'chooser')).statusCode).toBe(409);

    // A choice token is no connect token, and a connect link's token opens no chooser.
    expect((await routes.connectStart({ path: '/connect/start', query: `token=${token}` })).statusCode).toBe(400);
    // Another tenant's environment is refused and does not spend the token.
    const foreign = await routes.connectEnvironment(chooserForm(token, env.envC.url));
    expect(foreign.statusCode).toBe(403);
    expectMatchesOpenApi('POST', '/connect/environment', 403, foreign);

    const chosen = await routes.connectEnvironment(chooserForm(token, env.envB.url));
    expect(chosen.statusCode).toBe(303);
    expectMatchesOpenApi('POST', '/connect/environment', 303, chosen);
    const done = new URL(chosen.headers.Location!);
    expect(done.origin + done.pathname).toBe(returnTo);
    expect(Object.fromEntries(done.searchParams)).toEqual({ connectionId: 'chooser', status: 'connected' });

    const shown = jsonBody(await routes.connections({ path: '/connections/chooser', headers: asBackend() }));
    expect(shown.environment).toBe(env.envB.url);
    const seenB = env.envB.requests.length;
    expect((await whoAmI(routes, 'chooser')).statusCode).toBe(200);
    expect(env.envB.requests.length).toBe(seenB + 1);

    // Spent: neither the page nor the form accepts it again.
    const again = await routes.connectEnvironment(chooserForm(token, env.envA.url));
    expect(again.statusCode).toBe(400);
    expect(jsonBody(again)).toMatchObject({ error: 'invalid_choice_token' });
    expect(
      (await routes.connectEnvironment({ path: '/connect/environment', query: `token=${token}` })).statusCode,
    ).toBe(400);
    expect(jsonBody(await routes.connections({ path: '/connections/chooser', headers: asBackend() })).environment).toBe(
      env.envB.url,
    );
  });

  it('a user with exactly one environment is connected to it without the page', async () => {
    env.signInAs(OTHER_TENANT_USER);
    try {
      const routes = env.stack.routes();
      const landed = await connect(routes, 'single');
      expect(landed.origin + landed.pathname).toBe(returnTo);
      expect(Object.fromEntries(landed.searchParams)).toEqual({ connectionId: 'single', status: 'connected' });
      expect(
        jsonBody(await routes.connections({ path: '/connections/single', headers: asBackend() })).environment,
      ).toBe(env.envC.url);
      const seenC = env.envC.requests.length;
      expect((await whoAmI(routes, 'single')).statusCode).toBe(200);
      expect(env.envC.requests.length).toBe(seenC + 1);
    } finally {
      env.signInAs(undefined);
    }
  });

  it('refuses a chooser form without a known token, or not form-encoded, with 4xx JSON', async () => {
    const routes = env.stack.routes();
    const unknown = await routes.connectEnvironment(chooserForm('x'.repeat(43), env.envA.url));
    expect(unknown.statusCode).toBe(400);
    expect(jsonBody(unknown)).toMatchObject({ error: 'invalid_choice_token' });
    const asJson = await routes.connectEnvironment({
      method: 'POST',
      path: '/connect/environment',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'x', environment: env.envA.url }),
    });
    expect(asJson.statusCode).toBe(400);
    expect((await routes.connectEnvironment({ path: '/connect/environment' })).statusCode).toBe(400);
  });

  it('GET /auth/environments works with API key + Connection-Id, listing only the connected user’s environments', async () => {
    env.signInAs(undefined);
    const routes = env.stack.routes();
    await connect(routes, 'lister', { environment: env.envA.url });
    const listed = await routes.environments({ path: '/auth/environments', headers: asBackend('lister') });
    expect(listed.statusCode, listed.body).toBe(200);
    expectMatchesOpenApi('GET', '/auth/environments', 200, listed);
    const body = jsonBody(listed) as { environments: { url: string }[]; defaultEnvironment: string };
    expect(body.environments.map((e) => e.url)).toEqual([env.envA.url, env.envB.url]);
    expect(body.defaultEnvironment).toBe(env.envA.url);
    // Another key cannot read this connection.
    const other = generateApiKey('other backend', Date.now());
    await env.stack.services.apiKeys.create(other.record);
    const foreign = await routes.environments({
      path: '/auth/environments',
      headers: { authorization: `Bearer ${other.key}`, 'connection-id': 'lister' },
    });
    expect(foreign.statusCode).toBe(404);
  });

  it('keeps the warm path of a connection with an environment at one connection-row read per request (plus the API key’s) and no KMS call', async () => {
    env.signInAs(undefined);
    const dynamo = countingDynamo(env.stack.dynamo.endpoint);
    const keys = new CountingKeyProvider(env.stack.keyProvider);
    const routes = env.stack.routes(env.stack.newInstance({ dynamo: dynamo.client, keyProvider: keys }));
    try {
      await connect(routes, 'warm', { environment: env.envB.url });
      expect((await whoAmI(routes, 'warm')).statusCode).toBe(200);
      expect((await whoAmI(routes, 'warm', `/orgs/${hostOf(env.envA)}/api/data/v9.2/WhoAmI`)).statusCode).toBe(200);
      dynamo.counts.reset();
      keys.counts.reset();
      for (let i = 0; i < 4; i++) expect((await whoAmI(routes, 'warm')).statusCode).toBe(200);
      // Per request: the connection row's one GetItem, plus the API key's (every API-key request reads it); no write.
      expect(dynamo.counts.snapshot()).toEqual({ GetItem: 2 * 4 });
      expect(keys.counts.total()).toBe(0);
    } finally {
      dynamo.client.destroy();
    }
  });
});
