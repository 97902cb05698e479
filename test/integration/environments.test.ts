import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CountingKeyProvider, countingDynamo } from '../../bench/instrument.ts';
import { TokenVault } from '../../shared/crypto/envelope.ts';
import { sha256 } from '../../shared/crypto/random.ts';
import { forwardToDataverse } from '../../shared/dataverse/proxy.ts';
import { hostOf, OTHER_TENANT_USER, startEnvironmentsStack, type EnvironmentsStack } from '../support/environments.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';
import { jsonBody, PUBLIC_BASE, signIn, type Routes } from '../support/stack.ts';

let env: EnvironmentsStack;
beforeAll(async () => {
  env = await startEnvironmentsStack();
});
afterAll(async () => env?.stop());

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const whoAmI = (routes: Routes, host: string, token: string) =>
  routes.proxy({ path: `/orgs/${host}/api/data/v9.2/WhoAmI`, headers: bearer(token) });
/** Token-endpoint calls whose scope names `url` (the resource). */
const tokenCallsFor = (url: string) =>
  env.stack.tokenRequests.filter((r) => (r.scope ?? '').startsWith(`${url}/`)).length;
const odataCode = (body: Record<string, unknown>) => (body.error as { code: string }).code;

async function signInTo(environment?: string) {
  return signIn(
    env.stack,
    env.stack.routes(),
    undefined,
    environment ? `&environment=${encodeURIComponent(environment)}` : '',
  );
}

describe('many environments for one sign-in', () => {
  it('lists the caller’s environments from discovery, cached on the session, and says how stale', async () => {
    env.signInAs(undefined);
    const { sessionToken, authorizationUrl } = await signInTo();
    // Without DYNAMICS_URL or a chosen environment, the sign-in asks for the discovery service.
    expect(authorizationUrl.searchParams.get('scope')).toContain(`${env.discovery.url}/user_impersonation`);
    const before = env.discovery.calls;
    const listed = await env.stack.routes().environments({ path: '/auth/environments', headers: bearer(sessionToken) });
    expect(listed.statusCode).toBe(200);
    const body = jsonBody(listed) as {
      environments: { url: string; friendlyName: string; tenantId: string }[];
      cachedAt: string;
      maxAgeSeconds: number;
    };
    expect(body.environments.map((e) => e.url)).toEqual([env.envA.url, env.envB.url]);
    expect(body.environments[0]).toMatchObject({
      friendlyName: 'Environment 1',
      uniqueName: 'unq1',
      region: 'NA',
      state: '0',
      apiUrl: null,
    });
    expect(body.maxAgeSeconds).toBe(300);
    expect(Date.parse(body.cachedAt)).toBeGreaterThan(Date.now() - 60_000);
    // Served from the session row the second time.
    await env.stack.routes().environments({ path: '/auth/environments', headers: bearer(sessionToken) });
    expect(env.discovery.calls - before).toBe(1);
  });

  it('one session calls two environments; each answer maps URLs to /orgs/{host}', async () => {
    env.signInAs(undefined);
    const { sessionToken, authorizationUrl } = await signInTo(env.envA.url);
    // The sign-in asks for the chosen environment; the other environment's token comes from the refresh token.
    expect(authorizationUrl.searchParams.get('scope')).toContain(`${env.envA.url}/user_impersonation`);
    const routes = env.stack.routes();
    for (const standIn of [env.envA, env.envB]) {
      const seen = standIn.requests.length;
      const answer = await whoAmI(routes, hostOf(standIn), sessionToken);
      expect(answer.statusCode, `${standIn.url} ${answer.body}`).toBe(200);
      expect(standIn.requests.length).toBe(seen + 1);
      const body = jsonBody(answer);
      expect(String(body['@odata.context'])).toMatch(
        new RegExp(`^${PUBLIC_BASE}/orgs/${hostOf(standIn).replace(/\./g, '\\.')}/api/data/v9\\.2/`),
      );
    }
    // /api/data goes to the environment chosen at sign-in.
    const seenA = env.envA.requests.length;
    const viaDefault = await routes.proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(viaDefault.statusCode).toBe(200);
    expect(env.envA.requests.length).toBe(seenA + 1);
    // POST /auth/environment moves the default to B.
    const chosen = await routes.environments({
      method: 'POST',
      path: '/auth/environment',
      headers: { ...bearer(sessionToken), 'content-type': 'application/json' },
      body: JSON.stringify({ environment: env.envB.url }),
    });
    expect(chosen.statusCode).toBe(200);
    const seenB = env.envB.requests.length;
    expect((await routes.proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) })).statusCode).toBe(200);
    expect(env.envB.requests.length).toBe(seenB + 1);
  });

  it('a second tenant’s user sees only their own environment and is refused another’s before any token call for it', async () => {
    env.signInAs(OTHER_TENANT_USER);
    try {
      const { sessionToken } = await signInTo();
      const listed = jsonBody(
        await env.stack.routes().environments({ path: '/auth/environments', headers: bearer(sessionToken) }),
      ) as {
        environments: { url: string; tenantId: string }[];
      };
      expect(listed.environments.map((e) => e.url)).toEqual([env.envC.url]);
      expect(listed.environments[0]!.tenantId).toBe(OTHER_TENANT_USER.tid);

      const callsForA = tokenCallsFor(env.envA.url);
      const seenA = env.envA.requests.length;
      const refused = await whoAmI(env.stack.routes(), hostOf(env.envA), sessionToken);
      expect(refused.statusCode).toBe(403);
      expect(odataCode(jsonBody(refused))).toBe('environment_not_allowed');
      expect(tokenCallsFor(env.envA.url)).toBe(callsForA);
      expect(env.envA.requests.length).toBe(seenA);
      // Nor can it become the default.
      const chosen = await env.stack.routes().environments({
        method: 'POST',
        path: '/auth/environment',
        headers: { ...bearer(sessionToken), 'content-type': 'application/json' },
        body: JSON.stringify({ environment: env.envA.url }),
      });
      expect(chosen.statusCode).toBe(403);
      expect(tokenCallsFor(env.envA.url)).toBe(callsForA);
      // Their own environment works.
      expect((await whoAmI(env.stack.routes(), hostOf(env.envC), sessionToken)).statusCode).toBe(200);
    } finally {
      env.signInAs(undefined);
    }
  });

  it.each([
    ['a host outside DATAVERSE_HOSTS', 'contoso.crm.dynamics.com'],
    ['an IP literal', '10.0.0.1'],
    ['a loopback port not listed', '127.0.0.1:1'],
    ['upper case', 'CONTOSO.CRM.DYNAMICS.COM'],
    ['a host with a userinfo', 'a@contoso.crm.dynamics.com'],
  ])('refuses %s with 400 and no token call', async (_name, host) => {
    const { sessionToken } = await signInTo();
    const calls = env.stack.tokenRequests.length;
    const answer = await whoAmI(env.stack.routes(), host, sessionToken);
    expect(answer.statusCode).toBe(400);
    expect(odataCode(jsonBody(answer))).toBe('invalid_environment');
    expect(env.stack.tokenRequests.length).toBe(calls);
  });

  it.each([
    [
      'invalid_grant with AADSTS65001 (no consent there)',
      { error: 'invalid_grant', error_description: 'AADSTS65001: The user or administrator has not consented.' },
    ],
    [
      'invalid_scope',
      { error: 'invalid_scope', error_description: 'AADSTS70011: The provided value for scope is not valid.' },
    ],
  ])(
    'a refusal for one environment (%s) ends that environment’s token with 403, not the session',
    async (_name, refusal) => {
      env.signInAs(undefined);
      const { sessionToken } = await signInTo(env.envA.url);
      const routes = env.stack.routes();
      // The environment list is cached first (the discovery token comes from the same refresh token).
      expect(
        (await routes.environments({ path: '/auth/environments', headers: bearer(sessionToken) })).statusCode,
      ).toBe(200);
      const restore = failRefreshGrants(env.stack.idp.server, 400, refusal);
      try {
        const refused = await whoAmI(routes, hostOf(env.envB), sessionToken);
        expect(refused.statusCode).toBe(403);
        expect(odataCode(jsonBody(refused))).toBe('environment_access_denied');
        // The identity provider's code stays in the logs: not the service's code, not in its message.
        expect(refused.body).not.toMatch(/invalid_grant|invalid_scope|AADSTS/);
        // Refused again during the pause without another token call.
        const calls = env.stack.tokenRequests.length;
        expect((await whoAmI(routes, hostOf(env.envB), sessionToken)).statusCode).toBe(403);
        expect(env.stack.tokenRequests.length).toBe(calls);
        // The session and its other environment are unaffected.
        expect((await whoAmI(routes, hostOf(env.envA), sessionToken)).statusCode).toBe(200);
        expect((await routes.session({ path: '/auth/session', headers: bearer(sessionToken) })).statusCode).toBe(200);
      } finally {
        restore();
      }
    },
  );

  it('a revoked grant met while refreshing another environment still ends the session', async () => {
    env.signInAs(undefined);
    const { sessionToken } = await signInTo(env.envA.url);
    const routes = env.stack.routes();
    expect((await routes.environments({ path: '/auth/environments', headers: bearer(sessionToken) })).statusCode).toBe(
      200,
    );
    const restore = failRefreshGrants(env.stack.idp.server, 400, {
      error: 'invalid_grant',
      error_description: 'AADSTS50173: revoked',
    });
    try {
      const ended = await whoAmI(routes, hostOf(env.envB), sessionToken);
      expect(ended.statusCode).toBe(401);
      expect(odataCode(jsonBody(ended))).toBe('login_required');
      expect((await routes.session({ path: '/auth/session', headers: bearer(sessionToken) })).statusCode).toBe(401);
    } finally {
      restore();
    }
  });

  it.each([
    ['outside DATAVERSE_HOSTS', 'https://contoso.crm.dynamics.com'],
    ['with a path', `http://127.0.0.1:1/main.aspx`],
    ['not a URL', 'contoso'],
  ])('refuses a sign-in for an environment %s with 400 before the identity provider', async (_name, environment) => {
    const answer = await env.stack.routes().login({
      path: '/auth/login',
      query: `returnTo=${encodeURIComponent('http://localhost:5173/app')}&environment=${encodeURIComponent(environment)}`,
    });
    expect(answer.statusCode).toBe(400);
    expect((jsonBody(answer) as { error: string }).error).toBe('invalid_environment');
  });

  it('answers 409 environment_required on /api/data when no environment is chosen and DYNAMICS_URL is unset', async () => {
    const { sessionToken } = await signInTo();
    const answer = await env.stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(answer.statusCode).toBe(409);
    expect(odataCode(jsonBody(answer))).toBe('environment_required');
  });

  it('a storm on two environments of one expired session, over three instances: one token call per environment, no rotation lost', async () => {
    env.signInAs(undefined);
    const issued: string[] = [];
    env.stack.idp.server.service.on('beforeResponse', (response: { body: Record<string, unknown> }) => {
      if (typeof response.body.refresh_token === 'string') issued.push(response.body.refresh_token);
    });
    const { sessionToken } = await signInTo(env.envA.url);
    const routes = env.stack.routes();
    expect((await whoAmI(routes, hostOf(env.envA), sessionToken)).statusCode).toBe(200);
    expect((await whoAmI(routes, hostOf(env.envB), sessionToken)).statusCode).toBe(200);
    env.envA.expireIssuedTokens();
    env.envB.expireIssuedTokens();
    const refreshes = () => env.stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token');
    const before = refreshes().length;
    const instances = Array.from({ length: 3 }, () => env.stack.routes(env.stack.newInstance()));
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        whoAmI(instances[i % 3]!, hostOf(i % 2 ? env.envB : env.envA), sessionToken),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(12).fill(200));
    const storm = refreshes().slice(before);
    expect(storm.map((r) => r.scope!.split(' ')[0]).sort()).toEqual(
      [`${env.envA.url}/user_impersonation`, `${env.envB.url}/user_impersonation`].sort(),
    );
    // Every refresh token was redeemed exactly once, and each was the one issued just before.
    const used = refreshes().map((r) => r.refresh_token);
    expect(new Set(used).size).toBe(used.length);
    expect(storm[1]!.refresh_token).toBe(issued.at(-2));
    const session = (await env.stack.services.sessions.get(sha256(sessionToken), Math.floor(Date.now() / 1000)))!;
    const stored = await new TokenVault(env.stack.keyProvider).open(
      session.id,
      session.dataKey,
      'refresh_token',
      session.refreshToken,
    );
    expect(stored).toBe(issued.at(-1));
  });

  it('keeps the warm path on another environment at one DynamoDB GetItem and no KMS call', async () => {
    env.signInAs(undefined);
    const dynamo = countingDynamo(env.stack.dynamo.endpoint);
    const keys = new CountingKeyProvider(env.stack.keyProvider);
    const routes = env.stack.routes(env.stack.newInstance({ dynamo: dynamo.client, keyProvider: keys }));
    try {
      const { sessionToken } = await signIn(
        env.stack,
        routes,
        undefined,
        `&environment=${encodeURIComponent(env.envA.url)}`,
      );
      expect((await whoAmI(routes, hostOf(env.envA), sessionToken)).statusCode).toBe(200);
      expect((await whoAmI(routes, hostOf(env.envB), sessionToken)).statusCode).toBe(200);
      dynamo.counts.reset();
      keys.counts.reset();
      for (const standIn of [env.envA, env.envB, env.envA, env.envB]) {
        expect((await whoAmI(routes, hostOf(standIn), sessionToken)).statusCode).toBe(200);
      }
      expect(dynamo.counts.snapshot()).toEqual({ GetItem: 4 });
      expect(keys.counts.total()).toBe(0);
    } finally {
      dynamo.client.destroy();
    }
  });

  it('calls the Web API origin discovery names, asks tokens for the environment URL, and maps both origins back', async () => {
    env.signInAs(undefined);
    const url = 'https://contoso.crm.dynamics.com';
    const apiUrl = 'https://contoso.api.crm.dynamics.com';
    const called: string[] = [];
    const services = env.stack.newInstance({
      dataverseFetch: async (input) => {
        called.push(input);
        const body = {
          '@odata.context': `${apiUrl}/api/data/v9.2/$metadata#accounts`,
          value: [{ '@odata.id': `${url}/api/data/v9.2/accounts(1)`, websiteurl: `${url}/api/data/v9.2/accounts(1)` }],
        };
        return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
      },
    });
    const { sessionToken } = await signInTo(env.envA.url);
    const session = (await services.sessions.get(sha256(sessionToken), Math.floor(Date.now() / 1000)))!;
    const base = `${PUBLIC_BASE}/orgs/contoso.crm.dynamics.com`;
    const answer = await forwardToDataverse(services, session, {
      method: 'GET',
      rawPath: '/api/data/v9.2/accounts',
      rawQuery: '',
      headers: {},
      budgetMs: 20_000,
      allowImpersonation: false,
      serviceBase: base,
      environment: { url, apiUrl },
    });
    expect(answer.statusCode).toBe(200);
    expect(called).toEqual([`${apiUrl}/api/data/v9.2/accounts`]);
    expect(env.stack.tokenRequests.at(-1)!.scope!.split(' ')[0]).toBe(`${url}/user_impersonation`);
    const body = jsonBody(answer) as { '@odata.context': string; value: { '@odata.id': string; websiteurl: string }[] };
    expect(body['@odata.context']).toBe(`${base}/api/data/v9.2/$metadata#accounts`);
    expect(body.value[0]!['@odata.id']).toBe(`${base}/api/data/v9.2/accounts(1)`);
    // Record data is never changed.
    expect(body.value[0]!.websiteurl).toBe(`${url}/api/data/v9.2/accounts(1)`);
  });
});
