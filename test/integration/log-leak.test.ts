import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Log everything (the logger reads its level at start-up and restores it on every invocation).
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
});
import { LOGIN_BINDING_COOKIE } from '../../shared/http/cookies.ts';
import { cookiePair, RETURN_ORIGIN, startTestStack, type TestStack } from '../support/stack.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';

const CLIENT_SECRET = 'cs~Very-Secret-Client-Value-0123456789';

let stack: TestStack;
const captured: string[] = [];
const secrets = new Set<string>();
let restore: () => void;

beforeAll(async () => {
  stack = await startTestStack({ env: { CLIENT_SECRET } });
  secrets.add(CLIENT_SECRET);
  stack.idp.server.service.on(
    'beforeResponse',
    (res: { body: Record<string, unknown> }, req: { body: Record<string, string> }) => {
      for (const key of ['access_token', 'refresh_token', 'id_token'])
        if (typeof res.body[key] === 'string') secrets.add(res.body[key]);
      for (const key of ['code', 'code_verifier', 'refresh_token', 'client_secret'])
        if (req.body[key]) secrets.add(req.body[key]);
    },
  );
  // Capture every line written to stdout/stderr by anything in this process while the flow runs.
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab = (chunk: unknown) => {
    captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  process.stdout.write = grab;
  process.stderr.write = grab;
  restore = () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };
});
afterAll(async () => {
  restore?.();
  await stack?.stop();
});

describe('logs of a whole flow', () => {
  it('contain no token, code, verifier, state, nonce, session token, cookie or client secret', async () => {
    const routes = stack.routes();
    // Login (plus a rejected returnTo), IdP, callback.
    await routes.login({ path: '/auth/login', query: 'returnTo=https%3A%2F%2Fevil.example' });
    const login = await routes.login({ path: '/auth/login', query: `returnTo=${encodeURIComponent(RETURN_ORIGIN)}` });
    const authorize = new URL(login.headers.Location!);
    secrets.add(authorize.searchParams.get('state')!).add(authorize.searchParams.get('nonce')!);
    secrets.add(authorize.searchParams.get('code_challenge')!);
    const binding = cookiePair(login.cookies, LOGIN_BINDING_COOKIE)!;
    secrets.add(binding.split('=')[1]!);
    const back = new URL((await fetch(authorize, { redirect: 'manual' })).headers.get('location')!);
    const callback = await routes.callback({ path: '/auth/callback', query: back.search.slice(1), cookies: [binding] });
    expect(callback.statusCode).toBe(302);
    // A replayed callback (error path).
    await routes.callback({ path: '/auth/callback', query: back.search.slice(1), cookies: [binding] });
    const sessionCookie = cookiePair(callback.cookies, '__Host-dyn-session')!;
    const sessionToken = sessionCookie.split('=')[1]!;
    secrets.add(sessionToken);

    // Proxy, a 401 → refresh, an explicit refresh, a CSRF rejection, an upstream failure.
    await routes.session({ path: '/auth/session', cookies: [sessionCookie] });
    await routes.proxy({
      path: '/api/data/v9.2/accounts',
      query: '$top=1',
      headers: { authorization: `Bearer ${sessionToken}` },
    });
    stack.dataverse.failNext(401);
    await routes.proxy({ path: '/api/data/v9.2/WhoAmI', cookies: [sessionCookie] });
    await routes.refresh({
      method: 'POST',
      path: '/auth/refresh',
      cookies: [sessionCookie],
      headers: { 'x-csrf': '1' },
    });
    await routes.proxy({ method: 'POST', path: '/api/data/v9.2/accounts', cookies: [sessionCookie], body: '{}' });
    stack.dataverse.resetNext();
    await routes.proxy({ path: '/api/data/v9.2/WhoAmI', headers: { authorization: `Bearer ${sessionToken}` } });
    await routes.proxy({ path: '/api/data/v9.2/WhoAmI', headers: { authorization: `Bearer ${'x'.repeat(43)}` } });
    // invalid_grant on the next refresh, which ends the session; then logout.
    const restoreIdp = failRefreshGrants(stack.idp.server, 400, {
      error: 'invalid_grant',
      error_description: 'AADSTS50173: revoked',
    });
    stack.dataverse.failNext(401);
    await routes.proxy({ path: '/api/data/v9.2/WhoAmI', headers: { authorization: `Bearer ${sessionToken}` } });
    restoreIdp();
    await routes.logout({ method: 'POST', path: '/auth/logout', cookies: [sessionCookie], headers: { 'x-csrf': '1' } });

    const logs = captured.join('');
    if (process.env.SHOW_LOGS) console.error(logs);
    // The capture is real: the flow logged, at every level we use.
    for (const message of [
      'login started',
      'session created',
      'session tokens rotated',
      'request rejected',
      'refresh grant ended',
      'dataverse answered',
      'request failed',
    ]) {
      expect(logs, message).toContain(message);
    }
    expect(secrets.size).toBeGreaterThanOrEqual(12);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(logs.includes(secret), `a secret (${secret.slice(0, 4)}…) appears in the logs`).toBe(false);
    }
  });
});
