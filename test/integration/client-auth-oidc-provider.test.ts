import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.ts';
import { createSelfSignedCertificate } from '../../shared/crypto/certificate.ts';
import { LocalKeyProvider } from '../../shared/crypto/local-key-provider.ts';
import { LocalRsaSigner } from '../../shared/crypto/signer.ts';
import { LOGIN_BINDING_COOKIE, SESSION_COOKIE } from '../../shared/http/cookies.ts';
import { KeyServiceUnavailableError } from '../../shared/crypto/key-provider.ts';
import { createServices, type ServiceOverrides } from '../../shared/runtime.ts';
import { CookieJar } from '../support/cookie-jar.ts';
import {
  cookiePair,
  jsonBody,
  PUBLIC_BASE,
  RETURN_ORIGIN,
  startTestStack,
  type Routes,
  type TestStack,
} from '../support/stack.ts';

/**
 * Sign-in and refresh through the service's routes against oidc-provider (a certified OpenID
 * Provider) that enforces each client's registered token_endpoint_auth_method, requires PKCE and
 * rotates refresh tokens.
 */
const REDIRECT_URI = `${PUBLIC_BASE}/auth/callback`;
const DYNAMICS_URL = 'https://contoso.crm.dynamics.com';
const DATAVERSE_SCOPE = `${DYNAMICS_URL}/user_impersonation`;
const SECRETS = { basic: randomBytes(24).toString('base64url'), post: randomBytes(24).toString('base64url') };

const assertionKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const dir = mkdtempSync(join(tmpdir(), 'client-auth-'));
const assertionKeyFile = join(dir, 'assertion-key.pem');
writeFileSync(assertionKeyFile, assertionKey.export({ type: 'pkcs8', format: 'pem' }));

let stack: TestStack;
// One envelope key for every service instance here, so that instances share sessions.
const sessionKeys = new LocalKeyProvider(randomBytes(32));
let issuer: string;
let server: ReturnType<Provider['listen']>;
let certificateThumbprint: string;

function clientMetadata(clientId: string, method: string, extra: Record<string, unknown> = {}) {
  return {
    client_id: clientId,
    token_endpoint_auth_method: method,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...extra,
  };
}

type KoaContext = {
  method: string;
  path: string;
  querystring: string;
  req: NodeJS.ReadableStream & { body?: string };
  get(name: string): string;
  status: number;
  body: unknown;
};
type Next = () => Promise<void>;

/**
 * oidc-provider treats client_secret_basic and client_secret_post alike (lib/shared/client_auth.js
 * accepts either for a client registered with one); the provider in front of it here holds each
 * client to the one method it registered, as a strict provider may (OIDC Registration §2).
 */
/** What each token request used, as the provider received it (refresh tokens by hash only). */
const tokenRequests: { clientId: string; method: string; grantType: string; refreshTokenHash?: string }[] = [];

function strictClientAuthentication(registered: Map<string, string>) {
  return async (ctx: KoaContext, next: Next) => {
    if (ctx.method !== 'POST' || ctx.path !== '/token') return next();
    let raw = '';
    for await (const chunk of ctx.req) raw += chunk.toString();
    ctx.req.body = raw;
    const form = new URLSearchParams(raw);
    const basic = /^basic (.+)$/i.exec(ctx.get('authorization'))?.[1];
    const basicClient = basic ? decodeURIComponent(Buffer.from(basic, 'base64').toString().split(':')[0]!) : undefined;
    const used = basic
      ? 'client_secret_basic'
      : form.has('client_secret')
        ? 'client_secret_post'
        : form.has('client_assertion')
          ? 'private_key_jwt'
          : 'none';
    const clientId = basicClient ?? form.get('client_id') ?? '';
    const refreshToken = form.get('refresh_token');
    tokenRequests.push({
      clientId,
      method: used,
      grantType: form.get('grant_type') ?? '',
      refreshTokenHash: refreshToken ? createHash('sha256').update(refreshToken).digest('hex') : undefined,
    });
    const expected = registered.get(clientId);
    if (expected && expected !== used) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: `this client authenticates with ${expected}` };
      return;
    }
    return next();
  };
}

/**
 * OIDC Core §11: without prompt=consent a conformant provider drops offline_access and issues no
 * refresh token. The service's authorization request does not ask for consent yet, so here the
 * provider sees prompt=consent added to it.
 */
async function consentPrompt(ctx: KoaContext, next: Next) {
  if (ctx.method === 'GET' && ctx.path === '/auth') {
    const query = new URLSearchParams(ctx.querystring);
    if (!query.has('prompt')) query.set('prompt', 'consent');
    ctx.querystring = query.toString();
  }
  return next();
}

async function startProvider(clients: Record<string, unknown>[], clientAuthMethods?: string[]) {
  const instance = new Provider('http://127.0.0.1/', {
    clients,
    jwks: {
      keys: [
        {
          ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
          alg: 'RS256',
          use: 'sig',
          kid: 'idp',
        },
      ],
    },
    clientAuthMethods: clientAuthMethods ?? ['private_key_jwt', 'client_secret_basic', 'client_secret_post', 'none'],
    enabledJWA: { clientAuthSigningAlgValues: ['PS256', 'RS256'] },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    scopes: ['openid', 'offline_access', 'profile', DATAVERSE_SCOPE],
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, name: 'Olivia Provider' }) }),
  });
  instance.use(
    strictClientAuthentication(
      new Map(clients.map((c) => [String(c.client_id), String(c.token_endpoint_auth_method)])),
    ),
  );
  instance.use(consentPrompt);
  const listening = instance.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => listening.once('listening', () => resolve()));
  const port = (listening.address() as AddressInfo).port;
  // The issuer is known only once the port is: oidc-provider reads it from the instance.
  const url = `http://127.0.0.1:${port}/`;
  instance.issuer = url;
  return { instance, listening, url };
}

beforeAll(async () => {
  stack = await startTestStack();
  const certificate = await createSelfSignedCertificate(new LocalRsaSigner(assertionKey), {
    subject: 'CN=dynamics-auth-test',
    days: 30,
  });
  certificateThumbprint = certificate.thumbprintS256;
  // The client's registered credential is the public key of the certificate `admin cert create` made.
  const jwk = new X509Certificate(certificate.pem).publicKey.export({ format: 'jwk' });
  ({ listening: server, url: issuer } = await startProvider([
    clientMetadata('jwt-client', 'private_key_jwt', {
      jwks: { keys: [{ ...jwk, use: 'sig' }] },
      token_endpoint_auth_signing_alg: 'PS256',
    }),
    clientMetadata('basic-client', 'client_secret_basic', { client_secret: SECRETS.basic }),
    clientMetadata('post-client', 'client_secret_post', { client_secret: SECRETS.post }),
    clientMetadata('public-client', 'none'),
  ]));
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function serviceFor(
  env: Record<string, string>,
  providerUrl = issuer,
  now = Date.now,
  overrides: ServiceOverrides = {},
): Routes {
  const config = loadConfig({
    ENTRA_AUTHORITY: providerUrl,
    DYNAMICS_URL,
    PUBLIC_BASE_URL: PUBLIC_BASE,
    ALLOWED_RETURN_URLS: RETURN_ORIGIN,
    ...env,
  });
  const services = createServices(config, { keyProvider: sessionKeys, dynamo: stack.dynamoClient, now, ...overrides });
  return stack.routes(services);
}

/** Drives oidc-provider's development interactions (login, then consent) as a browser would; bounded. */
async function authorizeAtProvider(authorizationUrl: string): Promise<URL> {
  const jar = new CookieJar();
  let next = authorizationUrl;
  for (let step = 0; step < 12; step++) {
    const answer = await jar.fetch(next);
    const location = answer.headers.get('location');
    if (location) {
      const target = new URL(location, next);
      if (target.href.startsWith(REDIRECT_URI)) return target;
      next = target.href;
      continue;
    }
    const html = await answer.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
    if (answer.status !== 200 || !action || !prompt)
      throw new Error(`unexpected provider answer ${answer.status}: ${html.slice(0, 300)}`);
    const form: Record<string, string> =
      prompt === 'login' ? { prompt, login: 'user-42', password: 'any' } : { prompt };
    const submitted = await jar.fetch(new URL(action, next).href, { method: 'POST', body: new URLSearchParams(form) });
    next = new URL(submitted.headers.get('location') ?? '', next).href;
  }
  throw new Error('the provider did not redirect back within 12 steps');
}

async function signInThrough(routes: Routes) {
  const login = await routes.login({
    path: '/auth/login',
    query: `returnTo=${encodeURIComponent(`${RETURN_ORIGIN}/app`)}`,
  });
  if (login.statusCode !== 302) return { login };
  const back = await authorizeAtProvider(login.headers.Location!);
  const callback = await routes.callback({
    path: '/auth/callback',
    query: back.search.slice(1),
    cookies: [cookiePair(login.cookies, LOGIN_BINDING_COOKIE)!],
  });
  return { login, callback, sessionCookie: cookiePair(callback.cookies, SESSION_COOKIE) };
}

const METHODS = [
  {
    method: 'private_key_jwt',
    clientId: 'jwt-client',
    env: () => ({
      CLIENT_ASSERTION_KEY_FILE: assertionKeyFile,
      CLIENT_CERTIFICATE_THUMBPRINT_S256: certificateThumbprint,
    }),
  },
  { method: 'client_secret_basic', clientId: 'basic-client', env: () => ({ CLIENT_SECRET: SECRETS.basic }) },
  // The explicit setting picks post although the provider also offers basic.
  {
    method: 'client_secret_post',
    clientId: 'post-client',
    env: () => ({ CLIENT_SECRET: SECRETS.post, TOKEN_ENDPOINT_AUTH_METHOD: 'client_secret_post' }),
  },
  { method: 'none', clientId: 'public-client', env: () => ({}) },
] as const;

describe.each(METHODS)('token endpoint client authentication: $method', ({ method, clientId, env }) => {
  it('signs in (code + PKCE) and refreshes with rotation through the service, authenticating with that method', async () => {
    // The refresh route answers a second call within seconds with the rotation just made; step past that.
    let later = 0;
    const routes = serviceFor({ CLIENT_ID: clientId, ...env() }, issuer, () => Date.now() + later);
    const { login, callback, sessionCookie } = await signInThrough(routes);
    expect(login.statusCode).toBe(302);
    expect(new URL(login.headers.Location!).searchParams.get('code_challenge_method')).toBe('S256');
    expect(callback?.statusCode).toBe(302);
    expect(sessionCookie).toBeDefined();
    for (let i = 0; i < 2; i++) {
      later += 10_000;
      const refreshed = await routes.refresh({
        method: 'POST',
        path: '/auth/refresh',
        cookies: [sessionCookie!],
        headers: { 'x-csrf': '1' },
      });
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      expect(jsonBody(refreshed).expiresAt).toEqual(expect.any(String));
    }
    const mine = tokenRequests.filter((r) => r.clientId === clientId);
    expect(mine.map((r) => [r.grantType, r.method])).toEqual([
      ['authorization_code', method],
      ['refresh_token', method],
      ['refresh_token', method],
    ]);
    // Rotation: the second refresh presented the token the first one returned.
    expect(mine[1]!.refreshTokenHash).toBeDefined();
    expect(mine[2]!.refreshTokenHash).not.toBe(mine[1]!.refreshTokenHash);
  });
});

/** A direct token request with the given client authentication: what the provider says of it. */
async function tokenRequestWith(clientId: string, auth: oauth.ClientAuth) {
  const as = await oauth.processDiscoveryResponse(
    new URL(issuer),
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the test provider listens on plain-http 127.0.0.1; oauth4webapi asks this flag for that case.
    await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }),
  );
  const response = await oauth.refreshTokenGrantRequest(as, { client_id: clientId }, auth, 'not-a-refresh-token', {
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the test provider listens on plain-http 127.0.0.1; oauth4webapi asks this flag for that case.
    [oauth.allowInsecureRequests]: true,
  });
  return { status: response.status, body: (await response.json()) as { error: string } };
}

describe('the provider enforces each client registration', () => {
  it.each([
    ['basic-client', 'client_secret_post', () => oauth.ClientSecretPost(SECRETS.basic)],
    ['post-client', 'client_secret_basic', () => oauth.ClientSecretBasic(SECRETS.post)],
    ['jwt-client', 'a client secret', () => oauth.ClientSecretPost('guess')],
    ['jwt-client', 'no authentication', () => oauth.None()],
    ['public-client', 'client_secret_basic', () => oauth.ClientSecretBasic('anything')],
  ])('%s refuses %s', async (clientId, _what, auth) => {
    const { status, body } = await tokenRequestWith(clientId, auth());
    expect(status).toBe(401);
    expect(body.error).toBe('invalid_client');
  });

  it("refuses an assertion signed by a key other than the certificate's", async () => {
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const { privateKeyJwt } = await import('../../shared/oauth/client-auth.ts');
    const { status, body } = await tokenRequestWith(
      'jwt-client',
      privateKeyJwt(new LocalRsaSigner(otherKey), { certificateThumbprintS256: certificateThumbprint }),
    );
    expect(status).toBe(401);
    expect(body.error).toBe('invalid_client');
  });

  it('fails the sign-in with a clear upstream error when the service uses a method the client is not registered for', async () => {
    const routes = serviceFor({
      CLIENT_ID: 'basic-client',
      CLIENT_SECRET: SECRETS.basic,
      TOKEN_ENDPOINT_AUTH_METHOD: 'client_secret_post',
    });
    const { callback } = await signInThrough(routes);
    expect(callback?.statusCode).toBe(502);
    expect(jsonBody(callback!).error).toBe('upstream_error');
    expect(callback!.body).not.toContain(SECRETS.basic);
  });
});

describe('when KMS cannot sign the client assertion', () => {
  it('answers 503 without calling the token endpoint, and the session still refreshes once KMS is back', async () => {
    let later = 0;
    const now = () => Date.now() + later;
    const env = {
      CLIENT_ID: 'jwt-client',
      CLIENT_ASSERTION_KEY_FILE: assertionKeyFile,
      CLIENT_CERTIFICATE_THUMBPRINT_S256: certificateThumbprint,
    };
    const { sessionCookie } = await signInThrough(serviceFor(env, issuer, now));
    const throttled = {
      sign: async () => Promise.reject(new KeyServiceUnavailableError('KMS unavailable (ThrottlingException)')),
      publicKey: async () => Promise.reject(new Error('unused')),
    };
    const sent = tokenRequests.length;
    later += 10_000;
    const refresh = { method: 'POST', path: '/auth/refresh', cookies: [sessionCookie!], headers: { 'x-csrf': '1' } };
    const failed = await serviceFor(env, issuer, now, { clientAssertionSigner: throttled }).refresh(refresh);
    expect(failed.statusCode).toBe(503);
    expect(jsonBody(failed).error).toBe('temporarily_unavailable');
    expect(tokenRequests.length).toBe(sent);
    const recovered = await serviceFor(env, issuer, now).refresh(refresh);
    expect(recovered.statusCode, recovered.body).toBe(200);
  });
});

describe('a provider that does not support the configured method', () => {
  it('refuses to start a sign-in, naming the setting and what the provider supports', async () => {
    const basicOnly = await startProvider(
      [clientMetadata('jwt-client', 'client_secret_basic', { client_secret: SECRETS.basic })],
      ['client_secret_basic'],
    );
    try {
      const routes = serviceFor(
        {
          CLIENT_ID: 'jwt-client',
          CLIENT_ASSERTION_KEY_FILE: assertionKeyFile,
          CLIENT_CERTIFICATE_THUMBPRINT_S256: certificateThumbprint,
        },
        basicOnly.url,
      );
      const login = await routes.login({
        path: '/auth/login',
        query: `returnTo=${encodeURIComponent(`${RETURN_ORIGIN}/app`)}`,
      });
      expect(login.statusCode).toBe(500);
      expect(jsonBody(login).error).toBe('misconfigured');
      expect(login.headers.Location).toBeUndefined();
    } finally {
      await new Promise((resolve) => basicOnly.listening.close(resolve));
    }
  });
});
