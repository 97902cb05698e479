import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../shared/config/config.ts';
import { sha256 } from '../../shared/crypto/random.ts';
import { SESSION_COOKIE } from '../../shared/http/cookies.ts';
import type { HttpResponse } from '../../shared/http/response.ts';
import type { Fetch } from '../../shared/oauth/client.ts';
import { createServices, type Services } from '../../shared/runtime.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';
import {
  cookiePair,
  jsonBody,
  LOGIN_COOKIE,
  PUBLIC_BASE,
  RETURN_ORIGIN,
  startTestStack,
  type Routes,
  type TestStack,
} from '../support/stack.ts';

const CLIENT_ID = 'dynamics-auth';
const CLIENT_SECRET = 'a-test-client-secret-of-sufficient-length-0123456789';
const POST_LOGOUT = `${RETURN_ORIGIN}/signed-out`;
const LOGIN_HINT = 'O.opaque-login-hint';

let op: TestOidcProvider;
let stack: TestStack;

beforeAll(async () => {
  op = await startOidcProvider({
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        tokenEndpointAuthMethod: 'client_secret_post',
        redirectUris: [`${PUBLIC_BASE}/auth/callback`],
        postLogoutRedirectUris: [POST_LOGOUT],
      },
    ],
    account: { sub: 'user-1', name: 'Test User', preferred_username: 'user@example.com', login_hint: LOGIN_HINT },
  });
  stack = await startTestStack({
    env: {
      ENTRA_AUTHORITY: op.issuer,
      CLIENT_ID,
      CLIENT_SECRET,
      IDP_PROFILE: 'standard',
      POST_LOGOUT_REDIRECT_URI: POST_LOGOUT,
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await op?.stop();
});

/** Another instance on the same stores and keys, with a different configuration or IdP fetch. */
function instance(config: Partial<Config> = {}, idpFetch?: Fetch): Services {
  return createServices(
    { ...stack.config, ...config },
    { keyProvider: stack.keyProvider, dynamo: stack.dynamoClient, idpFetch },
  );
}

/** login → the provider's authorize (login + consent auto-completed) → callback. */
async function signInAtProvider(routes: Routes): Promise<{ callback: HttpResponse; authorizationUrl: URL }> {
  const login = await routes.login({
    path: '/auth/login',
    query: `returnTo=${encodeURIComponent(`${RETURN_ORIGIN}/app`)}`,
  });
  expect(login.statusCode).toBe(302);
  const authorizationUrl = new URL(login.headers.Location!);
  const back = await op.authorize(authorizationUrl);
  const binding = cookiePair(login.cookies, LOGIN_COOKIE)!;
  const callback = await routes.callback({ path: '/auth/callback', query: back.search.slice(1), cookies: [binding] });
  return { callback, authorizationUrl };
}

async function signedIn(): Promise<{ sessionCookie: string; sessionId: string }> {
  const { callback } = await signInAtProvider(stack.routes());
  expect(callback.statusCode, callback.body).toBe(302);
  const sessionCookie = cookiePair(callback.cookies, SESSION_COOKIE)!;
  return { sessionCookie, sessionId: sha256(sessionCookie.split('=')[1]!) };
}

/** The session's refresh token as stored (decrypted), to try it at the provider directly. */
async function storedRefreshToken(sessionId: string): Promise<string> {
  const session = await stack.services.sessions.get(sessionId, Math.floor(Date.now() / 1000));
  if (!session) throw new Error('no session');
  const vault = await stack.services.vault();
  return vault.open(session.id, session.dataKey, 'refresh_token', session.refreshToken);
}

/** Redeems a refresh token at the provider directly; returns the OAuth error code, or 'ok'. */
async function redeemAtProvider(refreshToken: string): Promise<string> {
  const as = await oauth.processDiscoveryResponse(
    new URL(op.issuer),
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the test provider listens on plain-http 127.0.0.1; oauth4webapi asks this flag for that case.
    await oauth.discoveryRequest(new URL(op.issuer), { [oauth.allowInsecureRequests]: true }),
  );
  const response = await oauth.refreshTokenGrantRequest(
    as,
    { client_id: CLIENT_ID },
    oauth.ClientSecretPost(CLIENT_SECRET),
    refreshToken,
    {
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- the test provider listens on plain-http 127.0.0.1; oauth4webapi asks this flag for that case.
      [oauth.allowInsecureRequests]: true,
    },
  );
  try {
    await oauth.processRefreshTokenResponse(as, { client_id: CLIENT_ID }, response);
    return 'ok';
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) return err.error;
    throw err;
  }
}

const refresh = (routes: Routes, sessionCookie: string) =>
  routes.refresh({ method: 'POST', path: '/auth/refresh', cookies: [sessionCookie], headers: { 'x-csrf': '1' } });
const session = (routes: Routes, sessionCookie: string) =>
  routes.session({ path: '/auth/session', cookies: [sessionCookie] });

describe('sign-in at a standard OpenID Provider (oidc-provider: PKCE, rotation, reuse detection)', () => {
  it('asks for prompt=consent with the standard profile and gets a refresh token', async () => {
    const { callback, authorizationUrl } = await signInAtProvider(stack.routes());
    expect(authorizationUrl.searchParams.get('prompt')).toBe('consent');
    expect(authorizationUrl.searchParams.get('scope')).toContain('offline_access');
    expect(callback.statusCode, callback.body).toBe(302);
    expect(cookiePair(callback.cookies, SESSION_COOKIE)).toBeDefined();
    const codeExchange = op.tokenRequests.at(-1)!;
    expect(codeExchange.grant_type).toBe('authorization_code');
  });

  it('without prompt=consent the provider drops offline_access: the callback answers no_refresh_token and creates no session', async () => {
    const { callback, authorizationUrl } = await signInAtProvider(stack.routes(instance({ idpProfile: 'entra' })));
    expect(authorizationUrl.searchParams.get('prompt')).toBeNull();
    expect(callback.statusCode).toBe(502);
    expect(jsonBody(callback).error).toBe('no_refresh_token');
    expect(cookiePair(callback.cookies, SESSION_COOKIE)).toBeUndefined();
  });
});

describe('refresh at a standard OpenID Provider', () => {
  it('sends no scope, rotates the refresh token, and the provider refuses the spent one (reuse detection)', async () => {
    const { sessionCookie, sessionId } = await signedIn();
    const before = await storedRefreshToken(sessionId);
    const answer = await refresh(stack.routes(), sessionCookie);
    expect(answer.statusCode, answer.body).toBe(200);
    const request = op.tokenRequests.at(-1)!;
    expect(request.grant_type).toBe('refresh_token');
    expect(request).not.toHaveProperty('scope');
    const after = await storedRefreshToken(sessionId);
    expect(after).not.toBe(before);
    // The spent token presented again: the provider refuses it and revokes the grant.
    expect(await redeemAtProvider(before)).toBe('invalid_grant');
    expect(await redeemAtProvider(after)).toBe('invalid_grant');
  });

  it('invalid_scope from the provider ends the session: 401 login_required, then 401 again (no 502 loop)', async () => {
    const { sessionCookie } = await signedIn();
    // The Entra profile re-sends the Dataverse scope, which this grant does not hold.
    const entraProfile = stack.routes(instance({ idpProfile: 'entra' }));
    const first = await refresh(entraProfile, sessionCookie);
    expect(op.tokenRequests.at(-1)!.scope).toContain('/user_impersonation');
    expect(first.statusCode, first.body).toBe(401);
    expect(jsonBody(first).error).toBe('login_required');
    const again = await refresh(entraProfile, sessionCookie);
    expect(again.statusCode).toBe(401);
    expect((await session(stack.routes(), sessionCookie)).statusCode).toBe(401);
  });

  it("invalid_client (the service's own credential) answers 502 client_rejected and keeps the session", async () => {
    const { sessionCookie } = await signedIn();
    const wrongSecret = createServices(
      { ...stack.config, clientSecret: 'not-the-registered-secret-0123456789abcdefghij' },
      { keyProvider: stack.keyProvider, dynamo: stack.dynamoClient },
    );
    const answer = await refresh(stack.routes(wrongSecret), sessionCookie);
    expect(answer.statusCode, answer.body).toBe(502);
    expect(jsonBody(answer).error).toBe('client_rejected');
    expect((await session(stack.routes(), sessionCookie)).statusCode).toBe(200);
    expect((await refresh(stack.routes(), sessionCookie)).statusCode).toBe(200);
  });
});

describe('logout at a standard OpenID Provider', () => {
  const logout = (routes: Routes, sessionCookie: string) =>
    routes.logout({ method: 'POST', path: '/auth/logout', cookies: [sessionCookie], headers: { 'x-csrf': '1' } });

  it('builds the end-session URL with post_logout_redirect_uri and logout_hint, which the provider accepts', async () => {
    const { sessionCookie } = await signedIn();
    // Kept with the session for logout, but personal data: never shown to clients.
    const who = await session(stack.routes(), sessionCookie);
    expect(who.statusCode).toBe(200);
    expect(who.body).not.toContain(LOGIN_HINT);
    const answer = await logout(stack.routes(), sessionCookie);
    expect(answer.statusCode).toBe(200);
    const logoutUrl = new URL(jsonBody(answer).logoutUrl as string);
    expect(logoutUrl.origin).toBe(op.issuer);
    expect(Object.fromEntries(logoutUrl.searchParams)).toEqual({
      client_id: CLIENT_ID,
      post_logout_redirect_uri: POST_LOGOUT,
      logout_hint: LOGIN_HINT,
    });
    // The provider checks post_logout_redirect_uri against the registration: 200 (its confirmation
    // page) here, 400 for one it does not know.
    expect((await fetch(logoutUrl, { redirect: 'manual' })).status).toBe(200);
    const unknown = new URL(logoutUrl);
    unknown.searchParams.set('post_logout_redirect_uri', `${RETURN_ORIGIN}/elsewhere`);
    expect((await fetch(unknown, { redirect: 'manual' })).status).toBe(400);
  });

  it('revokes the refresh token at the provider (RFC 7009): it no longer works there', async () => {
    const { sessionCookie, sessionId } = await signedIn();
    const refreshToken = await storedRefreshToken(sessionId);
    const answer = await logout(stack.routes(), sessionCookie);
    expect(answer.statusCode).toBe(200);
    expect((await session(stack.routes(), sessionCookie)).statusCode).toBe(401);
    expect(await redeemAtProvider(refreshToken)).toBe('invalid_grant');
  });

  it('a failed revocation does not block logout: the session is deleted all the same', async () => {
    const { sessionCookie, sessionId } = await signedIn();
    const refreshToken = await storedRefreshToken(sessionId);
    let revocationCalls = 0;
    const failingRevocation: Fetch = (input, init) => {
      if (new URL(input).pathname.includes('revocation')) {
        revocationCalls++;
        return Promise.resolve(
          new Response('{"error":"server_error"}', { status: 503, headers: { 'content-type': 'application/json' } }),
        );
      }
      return fetch(input, init);
    };
    const answer = await logout(stack.routes(instance({}, failingRevocation)), sessionCookie);
    expect(revocationCalls).toBe(1);
    expect(answer.statusCode).toBe(200);
    expect(jsonBody(answer).logoutUrl).toContain('post_logout_redirect_uri=');
    expect((await session(stack.routes(), sessionCookie)).statusCode).toBe(401);
    // Not revoked at the provider (its endpoint failed), but no session holds it any more.
    expect(await redeemAtProvider(refreshToken)).toBe('ok');
  });
});
