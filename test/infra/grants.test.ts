/**
 * Each function's role allows what its handler really does. Every function of shared/http/routes.ts
 * is driven in-process through its main scenarios (success and the usual failures) over dynalite, the
 * local key provider and a test IdP, with its DynamoDB client, key provider and client secret
 * recording (operation, table); the stack is then synthesized and every recorded access must be
 * allowed by that function's role (and, for KMS, by the key policy, with the encryption-context
 * condition). Grants no scenario exercised are printed as least-privilege warnings.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { ENCRYPTION_PURPOSE, WEBHOOK_SECRET_PURPOSE } from '../../shared/crypto/context.ts';
import { FUNCTIONS } from '../../shared/http/routes.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import {
  AccessLog,
  CLIENT_CREDENTIAL,
  loadRouteFactories,
  recordingInvoker,
  type Access,
  type Call,
} from '../support/access-recorder.ts';
import { startEnvironmentsStack, type EnvironmentsStack, hostOf } from '../support/environments.ts';
import type { EventInit } from '../support/events.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';
import { SESSION_COOKIE } from '../../shared/http/cookies.ts';
import {
  cookiePair,
  jsonBody,
  LOGIN_COOKIE,
  PUBLIC_BASE,
  RETURN_ORIGIN,
  startTestStack,
  type TestStack,
} from '../support/stack.ts';
import { asArray, type Json, newApp, NO_BUNDLING, refId, resourcesOf, roleOf, roleStatements } from './support.ts';

const SECRET_NAME = 'dynamics-auth/client-secret';
/** The encryption context every use of the token key must carry (shared/crypto/envelope.ts). */
const SESSION_TOKEN_CONTEXT = {
  StringEquals: { 'kms:EncryptionContext:purpose': ENCRYPTION_PURPOSE },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['purpose', 'session'] },
};
/** ... and the context of webhook signing secrets (shared/webhooks/secrets.ts). */
const WEBHOOK_SECRET_CONTEXT = {
  StringEquals: { 'kms:EncryptionContext:purpose': WEBHOOK_SECRET_PURPOSE },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['purpose', 'owner', 'endpoint'] },
};
/** '' for the session tokens' context, ' (<purpose>)' for the webhook secrets' (as keyUse records them), else undefined. */
function keyUseOf(condition: unknown): string | undefined {
  if (JSON.stringify(condition) === JSON.stringify(SESSION_TOKEN_CONTEXT)) return '';
  if (JSON.stringify(condition) === JSON.stringify(WEBHOOK_SECRET_CONTEXT)) return ` (${WEBHOOK_SECRET_PURPOSE})`;
  return undefined;
}
const FUNCTION_NAMES: string[] = FUNCTIONS.map((f) => f.name);

/** A test-only confidential-client secret (never a real one). */
const TEST_CLIENT_SECRET = 'grants-test-client-secret-0123456789abcdef';

const log = new AccessLog();
let env: EnvironmentsStack;
let standard: { op: TestOidcProvider; stack: TestStack; call: Call; stop(): void };
let call: Call;
/** Another instance whose data-key cache holds a key for one use only (a rotation then needs a new data key). */
let cold: Call;
/** Another instance six minutes later (past the sliding idle timeout's write interval). */
let later: Call;
let stopRecording: () => void;
let apiKey: string;

beforeAll(async () => {
  const factories = await loadRouteFactories();
  // No DYNAMICS_URL: a connection without an environment goes through the chooser.
  env = await startEnvironmentsStack();
  const secret = { clientSecret: async () => TEST_CLIENT_SECRET };
  const invokers = [
    recordingInvoker(env.stack, factories, log, secret),
    recordingInvoker(env.stack, factories, log, { ...secret, overrides: { dataKeyCache: { maxUses: 1 } } }),
    recordingInvoker(env.stack, factories, log, { ...secret, overrides: { now: () => Date.now() + 6 * 60_000 } }),
  ];
  [call, cold, later] = invokers.map((i) => i.call) as [Call, Call, Call];
  stopRecording = () => invokers.forEach((i) => i.stop());
  const generated = generateApiKey('grants backend', Date.now());
  await env.stack.services.apiKeys.create(generated.record);
  apiKey = generated.key;
  // A provider that offers RFC 7009 revocation (Entra does not): logout then opens and revokes the token.
  const op = await startOidcProvider({
    clients: [
      {
        clientId: 'dynamics-auth',
        clientSecret: TEST_CLIENT_SECRET,
        tokenEndpointAuthMethod: 'client_secret_post',
        redirectUris: [`${PUBLIC_BASE}/auth/callback`],
        postLogoutRedirectUris: [`${RETURN_ORIGIN}/signed-out`],
      },
    ],
  });
  const stack = await startTestStack({
    env: {
      ENTRA_AUTHORITY: op.issuer,
      CLIENT_ID: 'dynamics-auth',
      IDP_PROFILE: 'standard',
      POST_LOGOUT_REDIRECT_URI: `${RETURN_ORIGIN}/signed-out`,
    },
  });
  const recorder = recordingInvoker(stack, factories, log, { clientSecret: async () => TEST_CLIENT_SECRET });
  standard = { op, stack, ...recorder };
}, 180_000);

afterAll(async () => {
  stopRecording?.();
  standard?.stop();
  await standard?.stack.stop();
  await standard?.op.stop();
  await env?.stop();
});

const returnTo = `${RETURN_ORIGIN}/app`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const asBackend = (connectionId?: string) => ({
  ...bearer(apiKey),
  ...(connectionId ? { 'connection-id': connectionId } : {}),
});
const csrf = { 'x-csrf': '1' };

function expectStatus(answer: { statusCode: number; body?: string }, status: number): void {
  expect(answer.statusCode, answer.body).toBe(status);
}

/** login → the dev IdP's authorize → callback, as a browser; returns the session token. */
async function signIn(invoke: Call = call, authorize: (url: URL) => Promise<URL> = followDevIdp): Promise<string> {
  const login = await invoke('login', { path: '/auth/login', query: `returnTo=${encodeURIComponent(returnTo)}` });
  expectStatus(login, 302);
  const back = await authorize(new URL(login.headers.Location!));
  const callback = await invoke('callback', {
    path: '/auth/callback',
    query: back.search.slice(1),
    cookies: [cookiePair(login.cookies, LOGIN_COOKIE)!],
  });
  expectStatus(callback, 302);
  return cookiePair(callback.cookies, SESSION_COOKIE)!.split('=')[1]!;
}

async function followDevIdp(authorizationUrl: URL): Promise<URL> {
  const answer = await fetch(authorizationUrl, { redirect: 'manual' });
  return new URL(answer.headers.get('location')!);
}

/** The backend creates a connect link; the user signs in through it. Returns where the callback sends the browser. */
async function connect(connectionId: string, extra: Record<string, unknown> = {}): Promise<URL> {
  const created = await call('connect', {
    method: 'POST',
    path: '/connect/sessions',
    headers: { ...asBackend(), 'content-type': 'application/json' },
    body: JSON.stringify({ connectionId, returnTo, ...extra }),
  });
  expectStatus(created, 201);
  const token = new URL(jsonBody(created).connectUrl as string).searchParams.get('token')!;
  const start = await call('connect-start', { path: '/connect/start', query: `token=${token}` });
  expectStatus(start, 302);
  const back = await followDevIdp(new URL(start.headers.Location!));
  const callback = await call('callback', {
    path: '/auth/callback',
    query: back.search.slice(1),
    cookies: [cookiePair(start.cookies, LOGIN_COOKIE)!],
  });
  expectStatus(callback, 302);
  return new URL(callback.headers.Location!);
}

/** Runs `action` while the IdP answers every refresh with a revoked grant (Entra's AADSTS50173). */
async function whileGrantsRevoked<T>(action: () => Promise<T>): Promise<T> {
  const restore = failRefreshGrants(env.stack.idp.server, 400, {
    error: 'invalid_grant',
    error_description: 'AADSTS50173: The grant was revoked.',
  });
  try {
    return await action();
  } finally {
    restore();
  }
}

const chooserForm = (token: string, environment: string): EventInit => ({
  method: 'POST',
  path: '/connect/environment',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ token, environment }).toString(),
});

/**
 * Each function's scenarios: its main path and its usual failures. Keyed by function name as a plain
 * string, so a function added to shared/http/routes.ts without a scenario fails below by name.
 */
const SCENARIOS: Record<string, () => Promise<void>> = {
  login: async () => {
    expectStatus(await call('login', { path: '/auth/login', query: `returnTo=${encodeURIComponent(returnTo)}` }), 302);
    expectStatus(await call('login', { path: '/auth/login', query: 'returnTo=https%3A%2F%2Fevil.example%2F' }), 400);
  },
  callback: async () => {
    await signIn();
    // An unknown state (no pending login) and a missing binding cookie: refused, nothing stored.
    expectStatus(
      await call('callback', {
        path: '/auth/callback',
        query: `code=x&state=${'a'.repeat(43)}`,
        cookies: [`${LOGIN_COOKIE}=${'b'.repeat(43)}`],
      }),
      400,
    );
    expectStatus(await call('callback', { path: '/auth/callback', query: 'error=access_denied&state=x' }), 400);
  },
  'admin-consent': async () => {
    const start = await call('admin-consent', {
      path: '/auth/admin-consent',
      query: 'tenant=72f988bf-86f1-41af-91ab-2d7cd011db47',
    });
    expectStatus(start, 302);
    const state = new URL(start.headers.Location!).searchParams.get('state')!;
    const query = `admin_consent=True&tenant=72f988bf-86f1-41af-91ab-2d7cd011db47&state=${state}`;
    expectStatus(await call('admin-consent', { path: '/auth/admin-consent/callback', query }), 200);
    expectStatus(await call('admin-consent', { path: '/auth/admin-consent/callback', query }), 400);
    expectStatus(await call('admin-consent', { path: '/auth/admin-consent', query: 'tenant=..%2Fevil' }), 400);
  },
  refresh: async () => {
    const session = await signIn();
    expectStatus(
      await call('refresh', { method: 'POST', path: '/auth/refresh', headers: { ...bearer(session) } }),
      200,
    );
    expectStatus(
      await call('refresh', { method: 'POST', path: '/auth/refresh', headers: bearer('c'.repeat(43)) }),
      401,
    );
    // On an instance without the session's data key cached, the rotated tokens get a new data key.
    expectStatus(
      await cold('refresh', { method: 'POST', path: '/auth/refresh', headers: bearer(await signIn()) }),
      200,
    );
    // A revoked grant is terminal: the session is deleted.
    const revoked = await signIn();
    expectStatus(
      await whileGrantsRevoked(() =>
        call('refresh', { method: 'POST', path: '/auth/refresh', headers: bearer(revoked) }),
      ),
      401,
    );
  },
  proxy: async () => {
    const session = await signIn();
    expectStatus(
      await call('proxy', { path: `/orgs/${hostOf(env.envA)}/api/data/v9.2/WhoAmI`, headers: bearer(session) }),
      200,
    );
    // Another of the user's environments: a token for it is redeemed from the refresh token and stored.
    expectStatus(
      await call('proxy', { path: `/orgs/${hostOf(env.envB)}/api/data/v9.2/WhoAmI`, headers: bearer(session) }),
      200,
    );
    // A connection, called by its backend with the API key.
    await connect('proxy-connection', { environment: env.envA.url });
    expectStatus(await call('proxy', { path: '/api/data/v9.2/WhoAmI', headers: asBackend('proxy-connection') }), 200);
    expectStatus(await call('proxy', { path: '/api/data/v9.2/WhoAmI', headers: bearer('c'.repeat(43)) }), 401);
    expectStatus(
      await cold('proxy', { path: `/orgs/${hostOf(env.envB)}/api/data/v9.2/WhoAmI`, headers: bearer(await signIn()) }),
      200,
    );
    // A revoked grant while a token for another environment is needed: 401 login_required, session deleted.
    const revoked = await signIn();
    const answer = await whileGrantsRevoked(() =>
      call('proxy', { path: `/orgs/${hostOf(env.envB)}/api/data/v9.2/WhoAmI`, headers: bearer(revoked) }),
    );
    expectStatus(answer, 401);
  },
  session: async () => {
    const session = await signIn();
    expectStatus(await call('session', { path: '/auth/session', headers: bearer(session) }), 200);
    expectStatus(await call('session', { path: '/auth/session', headers: bearer('c'.repeat(43)) }), 401);
    // Minutes later: the sliding idle timeout records the activity.
    expectStatus(await later('session', { path: '/auth/session', headers: bearer(session) }), 200);
  },
  logout: async () => {
    // Entra (the dev IdP's profile): the session is read and deleted.
    const session = await signIn();
    expectStatus(await call('logout', { method: 'POST', path: '/auth/logout', headers: bearer(session) }), 200);
    expectStatus(await call('session', { path: '/auth/session', headers: bearer(session) }), 401);
    expectStatus(await call('logout', { method: 'POST', path: '/auth/logout', headers: bearer('c'.repeat(43)) }), 200);
    expectStatus(
      await call('logout', { method: 'POST', path: '/auth/logout', cookies: [`${SESSION_COOKIE}=${session}`] }),
      403,
    );
    // A provider with RFC 7009 revocation: the refresh token is decrypted and revoked with client authentication.
    const revocable = await signIn(standard.call, (url) => standard.op.authorize(url));
    expectStatus(
      await standard.call('logout', {
        method: 'POST',
        path: '/auth/logout',
        headers: { ...bearer(revocable), ...csrf },
      }),
      200,
    );
  },
  token: async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const nativeReturn = 'http://127.0.0.1:49152/callback';
    const login = await call('login', {
      path: '/auth/login',
      query: `returnTo=${encodeURIComponent(nativeReturn)}&client_challenge=${challenge}`,
    });
    expectStatus(login, 302);
    const back = await followDevIdp(new URL(login.headers.Location!));
    const callback = await call('callback', {
      path: '/auth/callback',
      query: back.search.slice(1),
      cookies: [cookiePair(login.cookies, LOGIN_COOKIE)!],
    });
    expectStatus(callback, 302);
    const handoff = new URL(callback.headers.Location!).searchParams.get('handoff')!;
    const redeem = (body: unknown) =>
      call('token', {
        method: 'POST',
        path: '/auth/token',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expectStatus(await redeem({ handoff, client_verifier: verifier }), 200);
    expectStatus(await redeem({ handoff, client_verifier: verifier }), 400);
    expectStatus(await redeem({}), 400);
  },
  connect: async () => {
    await connect('connect-connection');
    const post = (headers: Record<string, string>, body: string) =>
      call('connect', {
        method: 'POST',
        path: '/connect/sessions',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
      });
    expectStatus(await post(bearer(`dak_unknownkey12_${'a'.repeat(43)}`), '{"connectionId":"x"}'), 401);
    expectStatus(await post(asBackend(), '{"connectionId":""}'), 400);
  },
  'connect-start': async () => {
    await connect('start-connection', { environment: env.envA.url });
    expectStatus(await call('connect-start', { path: '/connect/start', query: `token=${'d'.repeat(43)}` }), 400);
    expectStatus(await call('connect-start', { path: '/connect/start' }), 400);
  },
  'connect-environment': async () => {
    const landed = await connect('chooser-connection');
    expect(landed.pathname).toBe('/connect/environment');
    const token = landed.searchParams.get('token')!;
    expectStatus(await call('connect-environment', { path: '/connect/environment', query: `token=${token}` }), 200);
    expectStatus(await call('connect-environment', chooserForm(token, env.envC.url)), 403);
    expectStatus(await call('connect-environment', chooserForm(token, env.envB.url)), 303);
    expectStatus(await call('connect-environment', chooserForm(token, env.envB.url)), 400);
    expectStatus(
      await call('connect-environment', { path: '/connect/environment', query: `token=${'e'.repeat(43)}` }),
      400,
    );
  },
  connections: async () => {
    await connect('listed-connection', { environment: env.envA.url });
    expectStatus(await call('connections', { path: '/connections/listed-connection', headers: asBackend() }), 200);
    expectStatus(
      await call('connections', { path: '/connections/listed-connection/token', headers: asBackend() }),
      200,
    );
    expectStatus(
      await call('connections', {
        path: '/connections/listed-connection/token',
        query: `environment=${encodeURIComponent(env.envB.url)}`,
        headers: asBackend(),
      }),
      200,
    );
    await connect('cold-connection', { environment: env.envA.url });
    expectStatus(
      await cold('connections', {
        path: '/connections/cold-connection/token',
        query: `environment=${encodeURIComponent(env.envB.url)}`,
        headers: asBackend(),
      }),
      200,
    );
    expectStatus(
      await call('connections', { method: 'DELETE', path: '/connections/listed-connection', headers: asBackend() }),
      204,
    );
    expectStatus(await call('connections', { path: '/connections/listed-connection', headers: asBackend() }), 404);
    expectStatus(
      await call('connections', {
        path: '/connections/listed-connection',
        headers: bearer(`dak_unknownkey12_${'a'.repeat(43)}`),
      }),
      401,
    );
  },
  environments: async () => {
    const session = await signIn();
    expectStatus(await call('environments', { path: '/auth/environments', headers: bearer(session) }), 200);
    const choose = (environment: string) =>
      call('environments', {
        method: 'POST',
        path: '/auth/environment',
        headers: { ...bearer(session), 'content-type': 'application/json' },
        body: JSON.stringify({ environment }),
      });
    expectStatus(await choose(env.envB.url), 200);
    expectStatus(await choose(env.envC.url), 403);
    // A backend's connection (API key + Connection-Id) lists the environments of its user.
    await connect('environments-connection', { environment: env.envA.url });
    expectStatus(
      await call('environments', { path: '/auth/environments', headers: asBackend('environments-connection') }),
      200,
    );
    // The same on an instance without the connection's data key cached: the rotated tokens get a new one.
    await connect('environments-cold', { environment: env.envA.url });
    expectStatus(
      await cold('environments', { path: '/auth/environments', headers: asBackend('environments-cold') }),
      200,
    );
    expectStatus(await call('environments', { path: '/auth/environments', headers: bearer('c'.repeat(43)) }), 401);
  },
  webhooks: async () => {
    const json = { ...asBackend(), 'content-type': 'application/json' };
    const created = await call('webhooks', {
      method: 'POST',
      path: '/webhooks',
      headers: json,
      body: JSON.stringify({ url: 'https://hooks.example.com/dynamics' }),
    });
    expectStatus(created, 201);
    const { id } = JSON.parse(created.body!) as { id: string };
    expectStatus(await call('webhooks', { path: '/webhooks', headers: asBackend() }), 200);
    expectStatus(
      await call('webhooks', { method: 'POST', path: `/webhooks/${id}/rotate-secret`, headers: json, body: '{}' }),
      200,
    );
    expectStatus(
      await call('webhooks', {
        method: 'POST',
        path: '/webhooks',
        headers: json,
        body: JSON.stringify({ url: 'http://hooks.example.com/' }),
      }),
      400,
    );
    expectStatus(await call('webhooks', { method: 'DELETE', path: `/webhooks/${id}`, headers: asBackend() }), 204);
    expectStatus(await call('webhooks', { method: 'DELETE', path: `/webhooks/${id}`, headers: asBackend() }), 404);
    expectStatus(
      await call('webhooks', { path: '/webhooks', headers: bearer(`dak_unknownkey12_${'a'.repeat(43)}`) }),
      401,
    );
  },
  openapi: async () => {
    expectStatus(await call('openapi', { path: '/openapi.json' }), 200);
  },
};

/** `<action> on <pendingLogins|sessions|apiKeys|key>` each role allows, and whether it may read the client secret. */
interface Grants {
  actions: Set<Access>;
  /** KMS actions of the key policy statement that names the role, with the same condition. */
  keyPolicy: Set<string>;
}

let grants: Map<string, Grants>;

function synthesizedGrants(): Map<string, Grants> {
  const app = newApp(NO_BUNDLING);
  const stack = new DynamicsAuthStack(app, 'GrantsTest', {
    service: {
      clientId: '11111111-2222-3333-4444-555555555555',
      dynamicsUrl: 'https://org.crm4.dynamics.com/',
      allowedReturnUrls: [`${RETURN_ORIGIN}/app`],
      clientSecret: SECRET_NAME,
      nativeRedirectSchemes: ['com.contoso.crmcli'],
    },
  });
  const template = Template.fromStack(stack);
  const byId: Record<string, string> = {
    [stack.resolve(stack.service.tables.pendingLogins.tableName).Ref]: 'pendingLogins',
    [stack.resolve(stack.service.tables.sessions.tableName).Ref]: 'sessions',
    [stack.resolve(stack.service.tables.apiKeys.tableName).Ref]: 'apiKeys',
  };
  const keyId = refId(stack.resolve(stack.service.key.keyArn))!;
  byId[keyId] = 'key';
  const keyPolicy = resourcesOf(template, 'AWS::KMS::Key')[keyId]!.Properties.KeyPolicy.Statement as Json[];
  const out = new Map<string, Grants>();
  for (const name of FUNCTION_NAMES) {
    const fnId = refId(
      stack.resolve((stack.service.functions as Record<string, { functionArn: string }>)[name]!.functionArn),
    )!;
    const roleId = roleOf(template, fnId);
    const actions = new Set<Access>();
    for (const s of roleStatements(template, roleId)) {
      for (const action of asArray(s.Action)) {
        if (/^(dynamodb|kms):/.test(action)) {
          // KMS only with one of the service's encryption contexts: an unconditioned grant counts for nothing.
          const use = action.startsWith('kms:') ? keyUseOf(s.Condition) : '';
          if (use === undefined) continue;
          for (const resource of asArray(s.Resource))
            actions.add(`${action} on ${byId[refId(resource) ?? ''] ?? JSON.stringify(resource)}${use}`);
        } else if (
          action === 'secretsmanager:GetSecretValue' &&
          JSON.stringify(s.Resource).includes(`:secret:${SECRET_NAME}-`)
        ) {
          actions.add(CLIENT_CREDENTIAL);
        }
      }
    }
    const keyActions = new Set<string>();
    for (const s of keyPolicy) {
      if (refId(s.Principal?.AWS) !== roleId) continue;
      const use = keyUseOf(s.Condition);
      if (use === undefined) continue;
      for (const action of asArray(s.Action as string | string[])) keyActions.add(`${action} on key${use}`);
    }
    out.set(name, { actions, keyPolicy: keyActions });
  }
  return out;
}

describe('IAM grants match what each function does', () => {
  beforeAll(() => {
    grants = synthesizedGrants();
  });

  it.each(FUNCTION_NAMES)(
    '%s: its scenarios run (main path and usual failures), recording what it touches',
    async (name) => {
      const scenario = SCENARIOS[name];
      if (!scenario) throw new Error(`no scenario for function ${name}`);
      await scenario();
    },
    60_000,
  );

  it.each(FUNCTION_NAMES)('%s: the role (and the key policy) allows every recorded access', (name) => {
    if (!SCENARIOS[name]) throw new Error(`no scenario for function ${name}`);
    expect(log.invocations(name), `${name}'s scenario never invoked it`).toBeGreaterThan(0);
    const recorded = log.of(name);
    const granted = grants.get(name)!;
    const missing = recorded.filter(
      (a) => !granted.actions.has(a) || (a.startsWith('kms:') && !granted.keyPolicy.has(a)),
    );
    expect(missing, `${name} does what its role does not allow`).toEqual([]);
  });

  it('lists grants no scenario exercised (least privilege)', () => {
    const unused: string[] = [];
    for (const name of FUNCTION_NAMES) {
      const recorded = new Set(log.of(name));
      for (const g of grants.get(name)!.actions) if (!recorded.has(g)) unused.push(`${name}: ${g}`);
    }
    if (unused.length > 0) console.warn(`Granted but never exercised:\n  ${unused.join('\n  ')}`);
    // Every grant is in a function's role, so there is a role for every function to compare with.
    expect(grants.size).toBe(FUNCTION_NAMES.length);
  });
});
