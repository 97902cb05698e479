import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonBody, LOGIN_COOKIE, RETURN_ORIGIN, startTestStack, cookiePair, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => stack?.stop());

type Token = { header: Record<string, unknown>; payload: Record<string, unknown> };
type TokenResponse = { body: Record<string, unknown>; statusCode: number };

/** Runs login → authorize → callback with a hook that changes what the IdP issues. */
async function callbackWith(hooks: { signing?: (t: Token) => void; response?: (r: TokenResponse) => void }) {
  const routes = stack.routes();
  const login = await routes.login({ path: '/auth/login', query: `returnTo=${encodeURIComponent(RETURN_ORIGIN)}` });
  const binding = cookiePair(login.cookies, LOGIN_COOKIE)!;
  const idpAnswer = await fetch(login.headers.Location!, { redirect: 'manual' });
  const query = new URL(idpAnswer.headers.get('location')!).search.slice(1);
  const signing = (t: Token) => {
    if (!('scope' in t.payload)) hooks.signing?.(t); // the id_token, not the access token
  };
  const response = (r: TokenResponse) => hooks.response?.(r);
  stack.idp.server.service.on('beforeTokenSigning', signing);
  stack.idp.server.service.on('beforeResponse', response);
  try {
    return await routes.callback({ path: '/auth/callback', query, cookies: [binding] });
  } finally {
    stack.idp.server.service.off('beforeTokenSigning', signing);
    stack.idp.server.service.off('beforeResponse', response);
  }
}

describe('id_token validation at the callback', () => {
  it('accepts an untouched id_token (control)', async () => {
    const answer = await callbackWith({});
    expect(answer.statusCode).toBe(302);
  });

  it.each([
    ['a wrong nonce', (t: Token) => void (t.payload.nonce = 'not-the-nonce')],
    [
      'a missing nonce',
      (t: Token) => {
        delete t.payload.nonce;
      },
    ],
    ['a wrong audience', (t: Token) => void (t.payload.aud = 'another-client')],
    ['a wrong issuer', (t: Token) => void (t.payload.iss = 'https://evil.example/v2.0')],
    ['an expired token', (t: Token) => void (t.payload.exp = Math.floor(Date.now() / 1000) - 600)],
  ])('rejects an id_token with %s', async (_name, signing) => {
    const answer = await callbackWith({ signing });
    expect(answer.statusCode).toBe(400);
    expect(jsonBody(answer)).toMatchObject({ error: 'invalid_id_token' });
    expect(answer.cookies ?? []).toHaveLength(0);
  });

  it('rejects an id_token whose signature does not verify against the JWKS', async () => {
    const answer = await callbackWith({
      response: (r) => {
        const [h, p, sig] = String(r.body.id_token).split('.');
        const flipped = (sig![0] === 'A' ? 'B' : 'A') + sig!.slice(1);
        r.body.id_token = [h, p, flipped].join('.');
      },
    });
    expect(answer.statusCode).toBe(400);
    expect(jsonBody(answer)).toMatchObject({ error: 'invalid_id_token' });
  });

  it('rejects a token response without an id_token', async () => {
    const answer = await callbackWith({
      response: (r) => {
        delete r.body.id_token;
      },
    });
    expect(answer.statusCode).toBeGreaterThanOrEqual(400);
    expect(answer.cookies ?? []).toHaveLength(0);
  });
});
