import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { CookieJar } from '../support/cookie-jar.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0', NATIVE_REDIRECT_SCHEMES: 'com.example.crmapp' } });
});
afterAll(async () => stack?.stop());

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/** Drives the browser part of a native sign-in and returns where the service sent the browser. */
async function browserSignIn(loginUrl: string): Promise<URL> {
  const jar = new CookieJar();
  const login = await jar.fetch(loginUrl);
  expect(login.status).toBe(302);
  const authorize = await jar.fetch(login.headers.get('location')!);
  const callback = await jar.fetch(authorize.headers.get('location')!);
  expect(callback.status).toBe(302);
  expect(jar.get('__Host-dyn-session')).toBeUndefined(); // a native client gets no cookie
  return new URL(callback.headers.get('location')!);
}

const redeem = (body: unknown) =>
  fetch(`${stack.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('native and CLI clients (RFC 8252)', () => {
  it('redirects a loopback client with a one-time handoff, which redeems once for a bearer session token', async () => {
    const { verifier, challenge } = pkce();
    const returnTo = 'http://127.0.0.1:49152/callback?state=cli-1';
    const back = await browserSignIn(
      `${stack.url}/auth/login?returnTo=${encodeURIComponent(returnTo)}&client_challenge=${challenge}`,
    );
    expect(`${back.origin}${back.pathname}`).toBe('http://127.0.0.1:49152/callback');
    expect(back.searchParams.get('state')).toBe('cli-1');
    const handoff = back.searchParams.get('handoff')!;
    expect(handoff).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const first = await redeem({ handoff, client_verifier: verifier });
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const { session_token, expires_at } = (await first.json()) as { session_token: string; expires_at: string };
    expect(session_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(expires_at)).toBeGreaterThan(Date.now());

    const who = await fetch(`${stack.url}/api/data/v9.2/WhoAmI`, {
      headers: { authorization: `Bearer ${session_token}` },
    });
    expect(who.status).toBe(200);
    const session = await fetch(`${stack.url}/auth/session`, { headers: { authorization: `Bearer ${session_token}` } });
    expect(session.status).toBe(200);

    const replay = await redeem({ handoff, client_verifier: verifier });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a wrong verifier, and the handoff is then spent', async () => {
    const { verifier, challenge } = pkce();
    const back = await browserSignIn(
      `${stack.url}/auth/login?returnTo=${encodeURIComponent('http://[::1]:50000/cb')}&client_challenge=${challenge}`,
    );
    const handoff = back.searchParams.get('handoff')!;
    const wrong = await redeem({ handoff, client_verifier: pkce().verifier });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_grant' });
    const right = await redeem({ handoff, client_verifier: verifier });
    expect(right.status).toBe(400);
  });

  it('accepts a configured app scheme and refuses loopback without a challenge, localhost names, or other schemes', async () => {
    const { challenge } = pkce();
    const scheme = await fetch(
      `${stack.url}/auth/login?returnTo=${encodeURIComponent('com.example.crmapp:/oauth')}&client_challenge=${challenge}`,
      { redirect: 'manual' },
    );
    expect(scheme.status).toBe(302);
    for (const [returnTo, extra, code] of [
      ['http://127.0.0.1:49152/cb', '', 'invalid_request'],
      ['http://localhost:49152/cb', `&client_challenge=${challenge}`, 'invalid_return_to'],
      ['com.evil.app:/x', `&client_challenge=${challenge}`, 'invalid_return_to'],
      ['http://127.0.0.1:49152/cb', '&client_challenge=short', 'invalid_request'],
    ] as const) {
      const answer = await fetch(`${stack.url}/auth/login?returnTo=${encodeURIComponent(returnTo)}${extra}`, {
        redirect: 'manual',
      });
      expect(answer.status, returnTo + extra).toBe(400);
      expect(await answer.json()).toMatchObject({ error: code });
    }
  });

  it('refuses malformed token requests with 400 invalid_request', async () => {
    for (const body of ['not json', '{}', '{"handoff": 1, "client_verifier": "x"}']) {
      const answer = await fetch(`${stack.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject({ error: 'invalid_request' });
    }
  });

  it(
    'the example CLI signs in over loopback, then calls WhoAmI and lists accounts with its bearer token',
    { timeout: 60_000 },
    async () => {
      const sessionFile = join(mkdtempSync(join(tmpdir(), 'dyn-cli-')), 'session.json');
      const env = { ...process.env, DYNAMICS_AUTH_URL: stack.url, DYNAMICS_AUTH_CLI_SESSION: sessionFile };
      const run = (args: string[]) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cli.ts', ...args], {
            env,
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            const url = /Open this URL to sign in:\n(\S+)/.exec(out)?.[1];
            if (url && !out.includes('#driven')) {
              out += '#driven';
              // The user's browser: sign in, then follow the redirect to the CLI's loopback listener.
              void browserSignIn(url).then((back) => fetch(back));
            }
          });
          child.stderr.on('data', (d: Buffer) => (out += d.toString()));
          child.on('exit', (code) => resolve({ code, out }));
        });

      const login = await run(['login', '--no-open']);
      expect(login.code, login.out).toBe(0);
      expect(login.out).toContain('Signed in until');
      expect(statSync(sessionFile).mode & 0o777).toBe(0o600);
      const whoami = await run(['whoami']);
      expect(whoami.code, whoami.out).toBe(0);
      expect(whoami.out).toContain('"UserId"');
      const accounts = await run(['get', 'accounts', '--top', '2']);
      expect(accounts.code, accounts.out).toBe(0);
      expect((JSON.parse(accounts.out) as { value: unknown[] }).value).toHaveLength(2);
      const logout = await run(['logout']);
      expect(logout.code).toBe(0);
      const after = await run(['whoami']);
      expect(after.code).toBe(1);
    },
  );
});
