import { createHash } from 'node:crypto';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOGIN_BINDING_COOKIE, SESSION_COOKIE } from '../../shared/http/cookies.ts';
import { sha256 } from '../../shared/crypto/random.ts';
import { cookiePair, jsonBody, RETURN_ORIGIN, signIn, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => stack?.stop());

async function startLogin(returnTo = `${RETURN_ORIGIN}/app`) {
  const routes = stack.routes();
  const login = await routes.login({ path: '/auth/login', query: `returnTo=${encodeURIComponent(returnTo)}` });
  const authorizationUrl = new URL(login.headers.Location!);
  const binding = cookiePair(login.cookies, LOGIN_BINDING_COOKIE)!;
  const idpAnswer = await fetch(authorizationUrl, { redirect: 'manual' });
  const callbackQuery = new URL(idpAnswer.headers.get('location')!).search.slice(1);
  return { routes, login, authorizationUrl, binding, callbackQuery };
}

describe('login and callback', () => {
  it('sends an authorization request with an S256 challenge, state, nonce and the Dataverse scopes', async () => {
    const { login, authorizationUrl } = await startLogin();
    expect(login.statusCode).toBe(302);
    const p = authorizationUrl.searchParams;
    expect(authorizationUrl.href.startsWith(`${stack.idp.issuer}/authorize`)).toBe(true);
    expect(p.get('response_type')).toBe('code');
    expect(p.get('client_id')).toBe('test-client');
    expect(p.get('redirect_uri')).toBe('http://localhost:3000/auth/callback');
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('scope')!.split(' ').sort()).toEqual(
      [`${stack.dataverse.url}/user_impersonation`, 'offline_access', 'openid', 'profile'].sort(),
    );
    const cookie = login.cookies!.find((c) => c.startsWith(`${LOGIN_BINDING_COOKIE}=`))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\//);
    expect(login.headers['Cache-Control']).toBe('no-store');
  });

  it('stores the pending login under the hash of state, with a 10-minute expiry and no raw state', async () => {
    const { authorizationUrl } = await startLogin();
    const state = authorizationUrl.searchParams.get('state')!;
    const out = await stack.dynamoClient.send(
      new GetItemCommand({ TableName: 'PendingLogins', Key: { id: { S: sha256(state) } } }),
    );
    const item = out.Item!;
    expect(item).toBeDefined();
    const ttl = Number(item.expiresAt!.N) - Math.floor(Date.now() / 1000);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    expect(JSON.stringify(item)).not.toContain(state);
  });

  it('exchanges the code with the code_verifier that matches the challenge', async () => {
    const before = stack.tokenRequests.length;
    const { routes, authorizationUrl, binding, callbackQuery } = await startLogin();
    const callback = await routes.callback({ path: '/auth/callback', query: callbackQuery, cookies: [binding] });
    expect(callback.statusCode).toBe(302);
    expect(callback.headers.Location).toBe(`${RETURN_ORIGIN}/app`);
    const request = stack.tokenRequests.slice(before).find((r) => r.grant_type === 'authorization_code')!;
    expect(request).toBeDefined();
    const challenge = createHash('sha256').update(request.code_verifier!).digest('base64url');
    expect(challenge).toBe(authorizationUrl.searchParams.get('code_challenge'));
    expect(request.redirect_uri).toBe('http://localhost:3000/auth/callback');
    expect(request.client_secret).toBeUndefined();
    const session = callback.cookies!.find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(session).toMatch(
      /^__Host-dyn-session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; Secure; SameSite=Lax$/,
    );
    expect(callback.cookies).toContain(`${LOGIN_BINDING_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax`);
  });

  it('rejects a second callback with the same state and creates no session', async () => {
    const { routes, binding, callbackQuery } = await startLogin();
    const first = await routes.callback({ path: '/auth/callback', query: callbackQuery, cookies: [binding] });
    expect(first.statusCode).toBe(302);
    const countBefore = (await stack.dynamoClient.send(new ScanCommand({ TableName: 'Sessions' }))).Count;
    const replay = await routes.callback({ path: '/auth/callback', query: callbackQuery, cookies: [binding] });
    expect(replay.statusCode).toBe(400);
    expect(jsonBody(replay)).toMatchObject({ error: 'invalid_state' });
    expect(replay.cookies ?? []).toHaveLength(0);
    const countAfter = (await stack.dynamoClient.send(new ScanCommand({ TableName: 'Sessions' }))).Count;
    expect(countAfter).toBe(countBefore);
  });

  it('rejects a callback whose pending login is past its expiry even though the item is still stored', async () => {
    const { binding, callbackQuery } = await startLogin();
    const late = stack.routes(stack.newInstance({ now: () => Date.now() + 601_000 }));
    const answer = await late.callback({ path: '/auth/callback', query: callbackQuery, cookies: [binding] });
    expect(answer.statusCode).toBe(400);
    expect(jsonBody(answer)).toMatchObject({ error: 'invalid_state' });
  });

  it('rejects a callback without the binding cookie, or with another browser’s', async () => {
    const a = await startLogin();
    const missing = await a.routes.callback({ path: '/auth/callback', query: a.callbackQuery });
    expect(missing.statusCode).toBe(400);
    const b = await startLogin();
    const other = await startLogin();
    const wrong = await b.routes.callback({ path: '/auth/callback', query: b.callbackQuery, cookies: [other.binding] });
    expect(wrong.statusCode).toBe(400);
    expect(jsonBody(wrong)).toMatchObject({ error: 'invalid_state' });
  });

  it('rejects returnTo outside the allowlist before storing anything', async () => {
    const routes = stack.routes();
    for (const returnTo of [
      'https://evil.example/app',
      'http://localhost:5174/',
      'https://app.example.com/portalx',
      'https://app.example.com/other',
      '//evil.example',
      'javascript:alert(1)',
      'http://user@localhost:5173/',
    ]) {
      const answer = await routes.login({ path: '/auth/login', query: `returnTo=${encodeURIComponent(returnTo)}` });
      expect(answer.statusCode, returnTo).toBe(400);
      expect(jsonBody(answer)).toMatchObject({ error: 'invalid_return_to' });
    }
    const ok = await routes.login({
      path: '/auth/login',
      query: `returnTo=${encodeURIComponent('https://app.example.com/portal/x')}`,
    });
    expect(ok.statusCode).toBe(302);
  });

  it('turns an IdP error (access_denied) into a clear 400', async () => {
    const { routes, authorizationUrl, binding } = await startLogin();
    const state = authorizationUrl.searchParams.get('state')!;
    const answer = await routes.callback({
      path: '/auth/callback',
      query: `error=access_denied&error_description=User+cancelled&state=${state}`,
      cookies: [binding],
    });
    expect(answer.statusCode).toBe(400);
    expect(jsonBody(answer)).toMatchObject({ error: 'sign_in_declined' });
    // The identity provider's own code is not the service's, not even in the message.
    expect(answer.body).not.toContain('access_denied');
  });

  it.each(['login_required', 'temporarily_unavailable', 'server_error', 'invalid_scope', 'interaction_required'])(
    'answers an IdP error (%s) with the service’s own authorization_failed, never the IdP’s code',
    async (idpCode) => {
      const { routes, authorizationUrl, binding } = await startLogin();
      const state = authorizationUrl.searchParams.get('state')!;
      const answer = await routes.callback({
        path: '/auth/callback',
        query: `error=${idpCode}&state=${state}`,
        cookies: [binding],
      });
      expect(answer.statusCode).toBe(400);
      expect(jsonBody(answer)).toEqual({
        error: 'authorization_failed',
        message: 'The identity provider did not complete the sign-in.',
      });
      expect(answer.body).not.toContain(idpCode);
    },
  );

  it('answers a code the token endpoint refuses (invalid_grant) with authorization_code_rejected, creating no session', async () => {
    const { routes, binding, callbackQuery } = await startLogin();
    type Hooked = { body: Record<string, unknown>; statusCode: number };
    const refuseCode = (res: Hooked, req: { body: Record<string, string> }) => {
      if (req.body.grant_type !== 'authorization_code') return;
      res.statusCode = 400;
      res.body = {
        error: 'invalid_grant',
        error_description: 'AADSTS54005: OAuth2 Authorization code was already redeemed.',
      };
    };
    stack.idp.server.service.on('beforeResponse', refuseCode);
    try {
      const answer = await routes.callback({ path: '/auth/callback', query: callbackQuery, cookies: [binding] });
      expect(answer.statusCode).toBe(400);
      expect(jsonBody(answer)).toMatchObject({ error: 'authorization_code_rejected' });
      expect(answer.body).not.toMatch(/invalid_grant|AADSTS/);
      expect(answer.cookies ?? []).toHaveLength(0);
    } finally {
      stack.idp.server.service.off('beforeResponse', refuseCode);
    }
  });

  it('signs in and reports the user on /auth/session', async () => {
    const { sessionCookie } = await signIn(stack);
    const answer = await stack.routes().session({ path: '/auth/session', cookies: [sessionCookie] });
    expect(answer.statusCode).toBe(200);
    expect(jsonBody(answer)).toMatchObject({
      authenticated: true,
      user: { name: 'Dana Developer', username: 'dana@contoso.example' },
    });
  });

  it('issues a fresh session token at the callback, ignoring any session cookie planted before sign-in', async () => {
    const planted = `${SESSION_COOKIE}=${'P'.repeat(43)}`;
    const { routes, binding, callbackQuery } = await startLogin();
    const callback = await routes.callback({
      path: '/auth/callback',
      query: callbackQuery,
      cookies: [binding, planted],
    });
    expect(callback.statusCode).toBe(302);
    const issued = cookiePair(callback.cookies, SESSION_COOKIE)!;
    expect(issued).not.toBe(planted);
    const withPlanted = await routes.session({ path: '/auth/session', cookies: [planted] });
    expect(withPlanted.statusCode).toBe(401);
  });

  it('sends the browser back to returnTo without code or state, with no Referer and no caching', async () => {
    const { routes, binding, callbackQuery } = await startLogin(`${RETURN_ORIGIN}/app?tab=1`);
    const callback = await routes.callback({ path: '/auth/callback', query: callbackQuery, cookies: [binding] });
    expect(callback.headers.Location).toBe(`${RETURN_ORIGIN}/app?tab=1`);
    expect(callback.headers['Referrer-Policy']).toBe('no-referrer');
    expect(callback.headers['Cache-Control']).toBe('no-store');
  });
});
