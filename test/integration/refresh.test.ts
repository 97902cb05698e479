import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../shared/crypto/random.ts';
import { TokenVault } from '../../shared/crypto/envelope.ts';
import { jsonBody, signIn, startTestStack, type TestStack } from '../support/stack.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => stack?.stop());

const refreshCalls = () => stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').length;
const now = () => Math.floor(Date.now() / 1000);

async function storedRefreshToken(sessionId: string): Promise<string> {
  const session = (await stack.services.sessions.get(sessionId, now()))!;
  const vault = new TokenVault(stack.keyProvider);
  return vault.open(sessionId, session.dataKey, 'refresh_token', session.refreshToken);
}

describe('refresh', () => {
  it('refreshes now, persists the rotated refresh token and bumps the version', async () => {
    const { sessionCookie, sessionToken } = await signIn(stack);
    const id = sha256(sessionToken);
    const oldRefreshToken = await storedRefreshToken(id);
    const before = refreshCalls();
    const answer = await stack
      .routes()
      .refresh({ method: 'POST', path: '/auth/refresh', cookies: [sessionCookie], headers: { 'x-csrf': '1' } });
    expect(answer.statusCode).toBe(200);
    const body = jsonBody(answer);
    expect(Object.keys(body)).toEqual(['expiresAt']);
    expect(Date.parse(body.expiresAt as string)).toBeGreaterThan(Date.now());
    expect(refreshCalls() - before).toBe(1);
    expect(stack.tokenRequests.at(-1)!.refresh_token).toBe(oldRefreshToken);
    const session = (await stack.services.sessions.get(id, now()))!;
    expect(session.version).toBe(2);
    const newRefreshToken = await storedRefreshToken(id);
    expect(newRefreshToken).not.toBe(oldRefreshToken);
  });

  it('keeps the old refresh token when the response carries none', async () => {
    const { sessionToken } = await signIn(stack);
    const id = sha256(sessionToken);
    const oldRefreshToken = await storedRefreshToken(id);
    const strip = (res: { body: Record<string, unknown> }, req: { body: Record<string, string> }) => {
      if (req.body.grant_type === 'refresh_token') delete res.body.refresh_token;
    };
    stack.idp.server.service.on('beforeResponse', strip);
    try {
      const answer = await stack
        .routes()
        .refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } });
      expect(answer.statusCode).toBe(200);
    } finally {
      stack.idp.server.service.off('beforeResponse', strip);
    }
    expect(await storedRefreshToken(id)).toBe(oldRefreshToken);
    expect((await stack.services.sessions.get(id, now()))!.version).toBe(2);
  });

  it('20 concurrent refreshes of one session make one token-endpoint call and all succeed', async () => {
    const { sessionToken } = await signIn(stack);
    const before = refreshCalls();
    const routes = stack.routes();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        routes.refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
    expect(refreshCalls() - before).toBe(1);
  });

  it('20 concurrent refreshes spread over four independent instances make one token-endpoint call', async () => {
    const { sessionToken } = await signIn(stack);
    const before = refreshCalls();
    const instances = Array.from({ length: 4 }, () => stack.routes(stack.newInstance()));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        instances[i % 4]!.refresh({
          method: 'POST',
          path: '/auth/refresh',
          headers: { authorization: `Bearer ${sessionToken}` },
        }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
    expect(refreshCalls() - before).toBe(1);
    expect((await stack.services.sessions.get(sha256(sessionToken), now()))!.version).toBe(2);
  });

  it('20 concurrent proxied requests whose access token just expired, on four instances: one refresh, 20 successes', async () => {
    const { sessionToken } = await signIn(stack);
    await stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', headers: { authorization: `Bearer ${sessionToken}` } }); // the token is now in use
    stack.dataverse.expireIssuedTokens();
    const before = refreshCalls();
    const instances = Array.from({ length: 4 }, () => stack.routes(stack.newInstance()));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        instances[i % 4]!.proxy({
          path: '/api/data/v9.2/WhoAmI',
          headers: { authorization: `Bearer ${sessionToken}` },
        }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
    expect(refreshCalls() - before).toBe(1);
  });

  it('answers 503 and keeps the stored tokens when the token endpoint fails transiently', async () => {
    const { sessionToken } = await signIn(stack);
    const id = sha256(sessionToken);
    const before = await stack.dynamoClient.send(new ScanCommand({ TableName: 'Sessions' }));
    const itemBefore = before.Items!.find((i) => i.id!.S === id)!;
    const restoreIdp = failRefreshGrants(stack.idp.server, 503, { error: 'temporarily_unavailable' });
    try {
      const answer = await stack
        .routes()
        .refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } });
      expect(answer.statusCode).toBe(503);
      expect(jsonBody(answer)).toMatchObject({ error: 'temporarily_unavailable' });
    } finally {
      restoreIdp();
    }
    const after = await stack.dynamoClient.send(new ScanCommand({ TableName: 'Sessions' }));
    const itemAfter = after.Items!.find((i) => i.id!.S === id)!;
    expect(itemAfter.refreshToken).toEqual(itemBefore.refreshToken);
    expect(itemAfter.version).toEqual(itemBefore.version);
    expect(itemAfter.leaseId).toBeUndefined();
    const retry = await stack
      .routes()
      .refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } });
    expect(retry.statusCode).toBe(200);
  });

  it.each(['interaction_required', 'consent_required', 'invalid_grant'])(
    'ends the session on %s with 401 login_required',
    async (error) => {
      const { sessionToken } = await signIn(stack);
      const restoreIdp = failRefreshGrants(stack.idp.server, 400, { error });
      try {
        const answer = await stack
          .routes()
          .refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } });
        expect(answer.statusCode).toBe(401);
        expect(jsonBody(answer)).toMatchObject({ error: 'login_required' });
      } finally {
        restoreIdp();
      }
      expect(await stack.services.sessions.get(sha256(sessionToken), now())).toBeUndefined();
    },
  );

  it('requires X-CSRF on a cookie-authenticated refresh', async () => {
    const { sessionCookie } = await signIn(stack);
    const answer = await stack.routes().refresh({ method: 'POST', path: '/auth/refresh', cookies: [sessionCookie] });
    expect(answer.statusCode).toBe(403);
  });
});

describe('logout', () => {
  it('deletes the session, clears the cookie and returns the end-session URL', async () => {
    const { sessionCookie, sessionToken } = await signIn(stack);
    const answer = await stack
      .routes()
      .logout({ method: 'POST', path: '/auth/logout', cookies: [sessionCookie], headers: { 'x-csrf': '1' } });
    expect(answer.statusCode).toBe(200);
    expect(jsonBody(answer).logoutUrl).toMatch(new RegExp(`^${stack.idp.issuer}/endsession\\?client_id=test-client`));
    expect(answer.cookies).toContain('__Host-dyn-session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax');
    expect(await stack.services.sessions.get(sha256(sessionToken), now())).toBeUndefined();
    const after = await stack.routes().session({ path: '/auth/session', cookies: [sessionCookie] });
    expect(after.statusCode).toBe(401);
    const asBearer = await stack
      .routes()
      .proxy({ path: '/api/data/v9.2/WhoAmI', headers: { authorization: `Bearer ${sessionToken}` } });
    expect(asBearer.statusCode).toBe(401);
  });

  it('a bearer logout ends the session for cookie use too', async () => {
    const { sessionCookie, sessionToken } = await signIn(stack);
    const answer = await stack
      .routes()
      .logout({ method: 'POST', path: '/auth/logout', headers: { authorization: `Bearer ${sessionToken}` } });
    expect(answer.statusCode).toBe(200);
    const viaCookie = await stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', cookies: [sessionCookie] });
    expect(viaCookie.statusCode).toBe(401);
  });

  it('refuses a cookie logout without X-CSRF (a cross-site form cannot sign the user out)', async () => {
    const { sessionCookie, sessionToken } = await signIn(stack);
    const answer = await stack.routes().logout({ method: 'POST', path: '/auth/logout', cookies: [sessionCookie] });
    expect(answer.statusCode).toBe(403);
    expect(await stack.services.sessions.get(sha256(sessionToken), now())).toBeDefined();
  });
});
