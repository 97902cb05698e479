import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.ts';
import { parseRetryAfter } from '../../shared/dataverse/proxy.ts';
import { EntraClient, type Fetch } from '../../shared/oauth/client.ts';
import type { MetricsPort } from '../../shared/observability/metrics.ts';

const AUTHORITY = 'https://idp.example.com/realms/crm';
/** A time far from the machine's own, so a reading of the system clock cannot pass for the injected one. */
const FIXED_MS = Date.UTC(2031, 0, 2, 3, 4, 5);

/** Discovery and a token endpoint for a public client; nothing leaves the process. */
const providerFetch: Fetch = async (input) => {
  const url = new URL(input);
  if (url.pathname === '/realms/crm/.well-known/openid-configuration') {
    return Response.json({
      issuer: AUTHORITY,
      authorization_endpoint: `${AUTHORITY}/authorize`,
      token_endpoint: `${AUTHORITY}/token`,
      token_endpoint_auth_methods_supported: ['none'],
    });
  }
  if (url.pathname === '/realms/crm/token') {
    return Response.json({ access_token: 'access', token_type: 'Bearer', expires_in: 600, refresh_token: 'rotated' });
  }
  return new Response('not found', { status: 404 });
};

function client(now: () => number, metrics?: MetricsPort) {
  const config = loadConfig({
    ENTRA_AUTHORITY: AUTHORITY,
    CLIENT_ID: 'client',
    DYNAMICS_URL: 'https://contoso.crm.dynamics.com',
    PUBLIC_BASE_URL: 'https://auth.example.com',
    ALLOWED_RETURN_URLS: 'https://app.example.com',
    TOKEN_ENDPOINT_AUTH_METHOD: 'none',
  });
  return new EntraClient(config, { fetch: providerFetch, now, metrics });
}

describe('the injected clock', () => {
  it('dates a refreshed access token from the injected clock, not the system time', async () => {
    const tokens = await client(() => FIXED_MS).refresh('refresh', 'https://contoso.crm.dynamics.com');
    expect(tokens.accessTokenLifetimeSeconds).toBe(600);
    expect(tokens.accessTokenExpiresAtMs).toBe(FIXED_MS + 600_000);
  });

  it('times the token endpoint with the injected clock', async () => {
    let ticks = 0;
    // Each reading moves the clock on by 250 ms: the request spans exactly one step.
    const stepped = () => FIXED_MS + 250 * ticks++;
    const latencies: number[] = [];
    const metrics: MetricsPort = {
      add: (name, value) => (name === 'TokenEndpointLatency' ? latencies.push(value) : undefined),
      flush: () => undefined,
    };
    await client(stepped, metrics).refresh('refresh', 'https://contoso.crm.dynamics.com');
    expect(latencies).toEqual([250]);
  });

  it('reads an HTTP-date Retry-After against the given time', () => {
    const at = new Date(FIXED_MS + 7_000).toUTCString();
    expect(parseRetryAfter(at, FIXED_MS)).toBe(7_000);
    expect(parseRetryAfter(at, FIXED_MS + 60_000)).toBe(0);
    expect(parseRetryAfter('12', FIXED_MS)).toBe(12_000);
    expect(parseRetryAfter('not a date', FIXED_MS)).toBeUndefined();
  });
});

describe('the core reads the time only through the clock', () => {
  const shared = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
    );

  it.each(['auth', 'oauth', 'dataverse', 'crypto', 'config'])(
    'shared/%s calls neither Date.now() nor new Date() without a time',
    (area) => {
      const readers = files(join(shared, area)).flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .map((line, index) => ({ line, where: `${relative(shared, file)}:${index + 1}` }))
          .filter(({ line }) => /\bDate\.now\b|\bnew Date\(\s*\)/.test(line))
          .map(({ where }) => where),
      );
      expect(readers).toEqual([]);
    },
  );
});
