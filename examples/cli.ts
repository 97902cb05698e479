/**
 * Example CLI client (RFC 8252 loopback flow):
 *   npm run cli -- login [--no-open]   sign in through the browser; keeps a session token
 *   npm run cli -- whoami [--env E]    GET /api/data/v9.2/WhoAmI
 *   npm run cli -- get <entitySet> [--top N] [--env E]
 *   npm run cli -- environments        GET /auth/environments: the environments you can reach
 *   npm run cli -- logout
 * --env <host or URL> calls that environment (`/orgs/<host>/api/data/…`) instead of the default one.
 * DYNAMICS_AUTH_URL names the service; without it, the one `npm start` runs on this machine (whatever
 * its PORT: it writes its URL to .local/service.json), else http://localhost:3000. The session token is kept
 * in DYNAMICS_AUTH_CLI_SESSION (default ~/.config/dynamics-auth-cli/session.json, mode 0600).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { readServiceFile, serviceFilePath } from '../local/service-file.ts';
import { withoutTrailingSlash } from '../shared/config/urls.ts';

const service = withoutTrailingSlash(
  process.env.DYNAMICS_AUTH_URL ?? readServiceFile(serviceFilePath())?.url ?? 'http://localhost:3000',
);
const sessionFile =
  process.env.DYNAMICS_AUTH_CLI_SESSION ?? join(homedir(), '.config', 'dynamics-auth-cli', 'session.json');
const LOGIN_TIMEOUT_MS = 5 * 60_000;

function readSession(): { session_token: string; expires_at: string } {
  if (!existsSync(sessionFile)) throw new Error('Not signed in: run "login" first.');
  return JSON.parse(readFileSync(sessionFile, 'utf8')) as { session_token: string; expires_at: string };
}

function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'cmd' : 'xdg-open';
  const args = process.platform === 'win32' ? ['/c', 'start', '', url] : [url];
  spawn(command, args, { stdio: 'ignore', detached: true })
    .on('error', () => undefined)
    .unref();
}

/** Waits on the loopback interface for the service's redirect carrying the one-time handoff. */
async function login(open: boolean): Promise<void> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  let finish!: (handoff: string) => void;
  let fail!: (err: Error) => void;
  const handoffReceived = new Promise<string>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const handoff = url.pathname === '/callback' ? url.searchParams.get('handoff') : null;
    res.writeHead(handoff ? 200 : 400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(handoff ? 'Signed in. You can close this tab and return to the terminal.\n' : 'Unexpected request.\n');
    if (handoff) finish(handoff);
    else if (url.searchParams.get('error')) fail(new Error(`Sign-in failed: ${url.searchParams.get('error')}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const loginUrl = new URL(`${service}/auth/login`);
  loginUrl.searchParams.set('returnTo', `http://127.0.0.1:${port}/callback`);
  loginUrl.searchParams.set('client_challenge', challenge);
  console.log(`Open this URL to sign in:\n${loginUrl.href}`);
  if (open) openBrowser(loginUrl.href);
  const timer = setTimeout(() => fail(new Error('Timed out waiting for the sign-in.')), LOGIN_TIMEOUT_MS);
  try {
    const handoff = await handoffReceived;
    const response = await fetch(`${service}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ handoff, client_verifier: verifier }),
    });
    const body = (await response.json()) as Record<string, string>;
    if (!response.ok) throw new Error(`Token exchange failed: ${response.status} ${body.error ?? ''}`);
    mkdirSync(dirname(sessionFile), { recursive: true });
    writeFileSync(sessionFile, JSON.stringify({ session_token: body.session_token, expires_at: body.expires_at }), {
      mode: 0o600,
    });
    chmodSync(sessionFile, 0o600);
    console.log(`Signed in until ${body.expires_at}.`);
  } finally {
    clearTimeout(timer);
    server.closeAllConnections();
    server.close();
  }
}

async function call(method: string, path: string): Promise<unknown> {
  const { session_token } = readSession();
  const response = await fetch(`${service}${path}`, {
    method,
    headers: { authorization: `Bearer ${session_token}`, accept: 'application/json' },
  });
  const text = await response.text();
  const body = text ? (JSON.parse(text) as unknown) : null;
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/** The Web API base: `/orgs/<host>/api/data/v9.2` for `--env <host or URL>`, else the default environment's. */
function apiBase(args: string[]): string {
  const index = args.indexOf('--env');
  if (index < 0) return '/api/data/v9.2';
  const value = args[index + 1] ?? '';
  const host = (value.includes('://') ? URL.parse(value)?.host : value)?.toLowerCase();
  if (!host || !/^[a-z0-9.-]+(:\d+)?$/.test(host))
    throw new Error('usage: --env <host or URL>, e.g. --env contoso.crm.dynamics.com');
  return `/orgs/${host}/api/data/v9.2`;
}

async function main([command, ...args]: string[]): Promise<number> {
  switch (command) {
    case 'login':
      await login(!args.includes('--no-open'));
      return 0;
    case 'whoami':
      console.log(JSON.stringify(await call('GET', `${apiBase(args)}/WhoAmI`), null, 2));
      return 0;
    case 'get': {
      const entitySet = args[0];
      if (!entitySet || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(entitySet))
        throw new Error('usage: get <entitySet> [--top N] [--env E]');
      const topIndex = args.indexOf('--top');
      const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 10;
      console.log(JSON.stringify(await call('GET', `${apiBase(args)}/${entitySet}?$top=${top}`), null, 2));
      return 0;
    }
    case 'environments':
      console.log(JSON.stringify(await call('GET', '/auth/environments'), null, 2));
      return 0;
    case 'logout':
      if (existsSync(sessionFile)) {
        await call('POST', '/auth/logout').catch(() => undefined);
        rmSync(sessionFile);
      }
      console.log('Signed out.');
      return 0;
    default:
      console.error(
        'usage: cli login [--no-open] | whoami [--env E] | get <entitySet> [--top N] [--env E] | environments | logout',
      );
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}
