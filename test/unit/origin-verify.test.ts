/**
 * The origin check every handler runs when a CloudFront distribution (with AWS WAF rate-based rules)
 * sits in front of the API: requests without CloudFront's secret header are refused before any route
 * code runs, so nobody can skip the WAF by calling the execute-api endpoint directly.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openapiRoute } from '../../functions/openapi/handler.ts';
import { createHandler, type RouteHandler } from '../../shared/http/middleware.ts';
import {
  ORIGIN_SECRET_REREAD_MS,
  ORIGIN_VERIFY_HEADER,
  originHeaderMatches,
  originVerifier,
} from '../../shared/http/origin-verify.ts';
import { apiEvent, lambdaContext } from '../support/events.ts';

const ORIGIN_SECRET = 'c2VjcmV0LW9yaWdpbi1oZWFkZXItdmFsdWUtZm9yLXRlc3Rz';
const sm = mockClient(SecretsManagerClient);

async function call(route: RouteHandler, headers: Record<string, string> = {}) {
  const handler = createHandler(route);
  return await handler(apiEvent({ path: '/openapi.json', headers }), lambdaContext());
}

describe('origin check (ORIGIN_VERIFY_SECRET_ID set)', () => {
  beforeEach(() => {
    sm.reset();
    sm.on(GetSecretValueCommand, { SecretId: 'dynamics-auth/origin-secret' }).resolves({
      SecretString: `${ORIGIN_SECRET}\n`,
    });
    vi.stubEnv('ORIGIN_VERIFY_SECRET_ID', 'dynamics-auth/origin-secret');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('refuses a request without the origin header with 403 JSON, before the route runs', async () => {
    const route = vi.fn(openapiRoute());
    const res = await call(route);
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body!)).toEqual({
      error: 'origin_not_verified',
      message: 'Requests must come through the service’s CloudFront distribution.',
    });
    expect(route).not.toHaveBeenCalled();
  });

  it('refuses a wrong origin header value (also a prefix of the right one) with 403 JSON', async () => {
    const route = vi.fn(openapiRoute());
    for (const wrong of ['', 'nope', ORIGIN_SECRET.slice(0, -1), `${ORIGIN_SECRET}x`]) {
      const res = await call(route, { [ORIGIN_VERIFY_HEADER]: wrong });
      expect(res.statusCode, wrong).toBe(403);
      expect(JSON.parse(res.body!).error).toBe('origin_not_verified');
      // The expected value never appears in the answer.
      expect(res.body).not.toContain(ORIGIN_SECRET);
    }
    expect(route).not.toHaveBeenCalled();
  });

  it('lets a request with the right header through to the route (the secret is read once per instance)', async () => {
    const handler = createHandler(openapiRoute());
    for (let i = 0; i < 3; i++) {
      const res = await handler(
        apiEvent({ path: '/openapi.json', headers: { 'X-Origin-Verify': ORIGIN_SECRET } }),
        lambdaContext(),
      );
      expect(res.statusCode).toBe(200);
    }
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({
      SecretId: 'dynamics-auth/origin-secret',
    });
  });

  it('answers 503 JSON (not a bare 500) when the secret cannot be read', async () => {
    sm.reset();
    sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const res = await call(openapiRoute(), { [ORIGIN_VERIFY_HEADER]: ORIGIN_SECRET });
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body!).error).toBe('temporarily_unavailable');
  });
});

describe('origin check not configured', () => {
  it('checks nothing and reads no secret when ORIGIN_VERIFY_SECRET_ID is unset', async () => {
    sm.reset();
    vi.stubEnv('ORIGIN_VERIFY_SECRET_ID', '');
    const res = await call(openapiRoute());
    vi.unstubAllEnvs();
    expect(res.statusCode).toBe(200);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });
});

describe('originHeaderMatches / originVerifier', () => {
  it('compares whole values only', () => {
    expect(originHeaderMatches('abc', 'abc')).toBe(true);
    expect(originHeaderMatches('abcd', 'abc')).toBe(false);
    expect(originHeaderMatches('ab', 'abc')).toBe(false);
    expect(originHeaderMatches(undefined, 'abc')).toBe(false);
    expect(originHeaderMatches('', '')).toBe(false);
  });

  it('re-reads a rotated secret after a mismatch, at most once per interval', async () => {
    let now = 0;
    let value = 'old';
    const read = vi.fn(async () => value);
    let cached: Promise<string> | undefined;
    const verify = originVerifier({ read: () => (cached ??= read()), forget: () => (cached = undefined) }, () => now)!;
    const event = (v: string) => apiEvent({ path: '/auth/login', headers: { [ORIGIN_VERIFY_HEADER]: v } });
    await verify(event('old'));
    value = 'new';
    await expect(verify(event('new'))).rejects.toMatchObject({ status: 403 });
    now += ORIGIN_SECRET_REREAD_MS;
    await verify(event('new'));
    await expect(verify(event('old'))).rejects.toMatchObject({ status: 403 });
    expect(read).toHaveBeenCalledTimes(2);
  });
});
