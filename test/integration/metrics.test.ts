import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../shared/crypto/random.ts';
import { DIMENSION_VALUES, OTHER, RecordingMetrics, type DimensionName } from '../../shared/observability/metrics.ts';
import type { Services } from '../../shared/runtime.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';
import { cookiePair, LOGIN_COOKIE, signIn, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let metrics: RecordingMetrics;
let services: Services;
beforeAll(async () => {
  stack = await startTestStack();
  metrics = new RecordingMetrics();
  services = stack.newInstance({ metrics });
});
afterAll(async () => stack?.stop());

const API = '/api/data/v9.2';
const routes = () => stack.routes(services);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('metrics the core records', () => {
  it('counts a sign-in that completes as ok and records the token-endpoint latency', async () => {
    const before = metrics.sum('SignIn', { outcome: 'ok' });
    const latencies = metrics.named('TokenEndpointLatency').length;
    await signIn(stack, routes());
    expect(metrics.sum('SignIn', { outcome: 'ok' }) - before).toBe(1);
    expect(metrics.named('TokenEndpointLatency').length).toBe(latencies + 1);
    expect(metrics.named('TokenEndpointLatency').at(-1)!.unit).toBe('Milliseconds');
  });

  it('counts a replayed callback as a failed sign-in with reason invalid_state', async () => {
    const r = routes();
    const login = await r.login({ path: '/auth/login', query: '' });
    const binding = cookiePair(login.cookies, LOGIN_COOKIE)!;
    const idpAnswer = await fetch(new URL(login.headers.Location!), { redirect: 'manual' });
    const query = new URL(idpAnswer.headers.get('location')!).search.slice(1);
    expect((await r.callback({ path: '/auth/callback', query, cookies: [binding] })).statusCode).toBe(302);
    const before = metrics.sum('SignIn', { outcome: 'failed', reason: 'invalid_state' });
    expect((await r.callback({ path: '/auth/callback', query, cookies: [binding] })).statusCode).toBe(400);
    expect(metrics.sum('SignIn', { outcome: 'failed', reason: 'invalid_state' }) - before).toBe(1);
  });

  it("counts an identity provider error code it does not know under the service's own code, never the upstream one", async () => {
    const r = routes();
    const login = await r.login({ path: '/auth/login', query: '' });
    const binding = cookiePair(login.cookies, LOGIN_COOKIE)!;
    const state = new URL(login.headers.Location!).searchParams.get('state')!;
    const answer = await r.callback({
      path: '/auth/callback',
      query: `state=${state}&error=tenant_contoso_user_dana`,
      cookies: [binding],
    });
    expect(answer.statusCode).toBe(400);
    const last = metrics.named('SignIn').at(-1)!;
    // The callback answers its own authorization_failed (the catalogue); the IdP's code is never a dimension.
    expect(last.dimensions).toEqual({ outcome: 'failed', reason: 'authorization_failed' });
    expect(JSON.stringify(metrics.named('SignIn'))).not.toContain('tenant_contoso_user_dana');
  });

  it('counts an explicit refresh as ok, a revoked grant as terminal and an unreachable provider as failed', async () => {
    // A fresh session each time: refreshes within 5 s of a rotation share it and call nobody.
    const refresh = async () => {
      const { sessionToken } = await signIn(stack, routes());
      return routes().refresh({ method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) });
    };
    expect((await refresh()).statusCode).toBe(200);
    expect(metrics.sum('Refresh', { outcome: 'ok', trigger: 'explicit' })).toBeGreaterThanOrEqual(1);

    const failed = metrics.sum('Refresh', { outcome: 'failed', trigger: 'explicit' });
    let restore = failRefreshGrants(stack.idp.server, 503, { error: 'temporarily_unavailable' });
    try {
      expect((await refresh()).statusCode).toBe(503);
    } finally {
      restore();
    }
    expect(metrics.sum('Refresh', { outcome: 'failed', trigger: 'explicit' }) - failed).toBe(1);

    const terminal = metrics.sum('Refresh', { outcome: 'terminal', trigger: 'explicit' });
    restore = failRefreshGrants(stack.idp.server, 400, {
      error: 'invalid_grant',
      error_description: 'AADSTS50173: revoked',
    });
    try {
      expect((await refresh()).statusCode).toBe(401);
    } finally {
      restore();
    }
    expect(metrics.sum('Refresh', { outcome: 'terminal', trigger: 'explicit' }) - terminal).toBe(1);
  });

  it('counts proxy calls by status class, a 401-triggered refresh, and Dataverse throttling with its Retry-After', async () => {
    const { sessionToken } = await signIn(stack, routes());
    const ok = metrics.sum('ProxyCall', { statusClass: '2xx' });
    expect((await routes().proxy({ path: `${API}/WhoAmI`, headers: bearer(sessionToken) })).statusCode).toBe(200);
    expect(metrics.sum('ProxyCall', { statusClass: '2xx' }) - ok).toBe(1);
    expect(metrics.named('ProxyLatency').length).toBeGreaterThan(0);

    const after401 = metrics.sum('Refresh', { outcome: 'ok', trigger: '401' });
    stack.dataverse.failNext(401);
    expect((await routes().proxy({ path: `${API}/WhoAmI`, headers: bearer(sessionToken) })).statusCode).toBe(200);
    expect(metrics.sum('Refresh', { outcome: 'ok', trigger: '401' }) - after401).toBe(1);

    const throttled = metrics.sum('DataverseThrottled');
    const clientErrors = metrics.sum('ProxyCall', { statusClass: '4xx' });
    stack.dataverse.throttleNext(300);
    expect((await routes().proxy({ path: `${API}/WhoAmI`, headers: bearer(sessionToken) })).statusCode).toBe(429);
    expect(metrics.sum('DataverseThrottled') - throttled).toBe(1);
    expect(metrics.named('DataverseRetryAfter').at(-1)).toMatchObject({ value: 300, unit: 'Seconds' });
    expect(metrics.sum('ProxyCall', { statusClass: '4xx' }) - clientErrors).toBe(1);

    // The service's own error (no session) is a proxy call too.
    expect((await routes().proxy({ path: `${API}/WhoAmI`, headers: bearer('not-a-session') })).statusCode).toBe(401);
    expect(metrics.sum('ProxyCall', { statusClass: '4xx' }) - clientErrors).toBe(2);
  });

  it('counts the waits of instances that find another one holding the refresh lease', async () => {
    const { sessionToken } = await signIn(stack, routes());
    const waits = metrics.sum('RefreshLeaseWait');
    const instances = Array.from({ length: 4 }, () => stack.routes(stack.newInstance({ metrics })));
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        instances[i % 4]!.refresh({ method: 'POST', path: '/auth/refresh', headers: bearer(sessionToken) }),
      ),
    );
    expect(answers.every((a) => a.statusCode === 200)).toBe(true);
    expect(metrics.sum('RefreshLeaseWait') - waits).toBeGreaterThan(0);
  });

  it('never uses a user, tenant, token, session or host as a dimension value', async () => {
    const { sessionToken, sessionCookie } = await signIn(stack, routes());
    await routes().proxy({ path: `${API}/WhoAmI`, cookies: [sessionCookie] });
    const session = (await stack.services.sessions.get(sha256(sessionToken), Math.floor(Date.now() / 1000)))!;
    const forbidden = [
      session.user.oid,
      session.user.tid,
      session.user.username,
      sessionToken,
      sha256(sessionToken),
      new URL(stack.config.dynamicsUrl!).host,
      new URL(stack.config.entraAuthority).host,
    ].filter((v): v is string => Boolean(v));
    expect(metrics.recorded.length).toBeGreaterThan(10);
    for (const m of metrics.recorded) {
      for (const [name, value] of Object.entries(m.dimensions)) {
        expect(Object.keys(DIMENSION_VALUES)).toContain(name);
        expect([...DIMENSION_VALUES[name as DimensionName], OTHER]).toContain(value);
        for (const secret of forbidden) expect(value.toLowerCase()).not.toContain(secret.toLowerCase());
      }
    }
  });
});
