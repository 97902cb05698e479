import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A stand-in for the service that records the paths the CLI calls and answers each with JSON. */
let service: Server;
let url = '';
const paths: string[] = [];
const sessionFile = join(mkdtempSync(join(tmpdir(), 'dyn-cli-env-')), 'session.json');

beforeAll(async () => {
  service = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      req.url === '/auth/environments'
        ? '{"environments":[{"url":"https://contoso.crm.dynamics.com"}]}'
        : '{"value":[]}',
    );
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
  writeFileSync(
    sessionFile,
    JSON.stringify({ session_token: 'not-a-real-session', expires_at: '2099-01-01T00:00:00Z' }),
    { mode: 0o600 },
  );
});
afterAll(() => new Promise<void>((resolve) => service.close(() => resolve())));

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, DYNAMICS_AUTH_URL: url, DYNAMICS_AUTH_CLI_SESSION: sessionFile };
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cli.ts', ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('example CLI: environments', () => {
  it(
    '--env <host or URL> calls /orgs/<host>/api/data/…; without it the default environment; `environments` lists them',
    { timeout: 60_000 },
    async () => {
      const results = [
        await run(['whoami', '--env', 'contoso.crm4.dynamics.com']),
        await run(['get', 'accounts', '--top', '2', '--env', 'https://Fabrikam.crm.dynamics.com/']),
        await run(['whoami', '--env', 'http://127.0.0.1:4711']),
        await run(['whoami']),
        await run(['environments']),
      ];
      for (const r of results) expect(r.code, r.out).toBe(0);
      expect(paths).toEqual([
        '/orgs/contoso.crm4.dynamics.com/api/data/v9.2/WhoAmI',
        '/orgs/fabrikam.crm.dynamics.com/api/data/v9.2/accounts?$top=2',
        '/orgs/127.0.0.1:4711/api/data/v9.2/WhoAmI',
        '/api/data/v9.2/WhoAmI',
        '/auth/environments',
      ]);
      expect(results[4]!.out).toContain('contoso.crm.dynamics.com');
    },
  );

  it('refuses an --env that is no host, without calling the service', { timeout: 30_000 }, async () => {
    const before = paths.length;
    for (const value of ['', 'contoso.crm.dynamics.com/x?y', 'not a host']) {
      const r = await run(['whoami', '--env', value]);
      expect(r.code).toBe(1);
      expect(r.out).toContain('usage: --env <host or URL>');
    }
    expect(paths.length).toBe(before);
  });
});
