import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeServiceFile, type LocalServiceInfo } from '../../local/service-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'dyn-local-service-'));
const sessionFile = join(dir, 'session.json');
writeFileSync(sessionFile, JSON.stringify({ session_token: 'x'.repeat(43), expires_at: '2099-01-01T00:00:00Z' }), {
  mode: 0o600,
});

/** Runs a script with the given environment (DYNAMICS_AUTH_URL removed), collecting its output. */
function start(
  script: string,
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const { DYNAMICS_AUTH_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function runCli(args: string[], serviceFile: string): Promise<{ code: number | null; out: string }> {
  const cli = start('examples/cli.ts', args, {
    DYNAMICS_AUTH_LOCAL_SERVICE: serviceFile,
    DYNAMICS_AUTH_CLI_SESSION: sessionFile,
  });
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), 30_000);
  const code = await cli.exited;
  clearTimeout(timer);
  return { code, out: cli.output() };
}

describe('the CLI finds the local service whatever its port', () => {
  it(
    'npm start with PORT=0 writes the URL it chose to the service file, the CLI calls that URL, and stopping removes the file',
    { timeout: 90_000 },
    async () => {
      const serviceFile = join(dir, 'started.json');
      const service = start('local/start.ts', [], { PORT: '0', DYNAMICS_AUTH_LOCAL_SERVICE: serviceFile });
      try {
        for (let i = 0; i < 600 && !existsSync(serviceFile); i++) await new Promise((r) => setTimeout(r, 100));
        expect(existsSync(serviceFile), service.output()).toBe(true);
        const info = JSON.parse(readFileSync(serviceFile, 'utf8')) as LocalServiceInfo;
        expect(info.pid).toBe(service.child.pid);
        expect(info.url).toMatch(/^http:\/\/localhost:\d+$/);
        expect(info.url).not.toBe('http://localhost:3000');
        expect(Object.keys(info.environments ?? {})).toEqual(['contoso', 'contoso-sandbox', 'fabrikam']);
        expect(service.output()).toContain(`Open ${info.url}/`);
        expect((await fetch(`${info.url}/auth/session`)).status).toBe(401);

        // No DYNAMICS_AUTH_URL: the CLI reaches this service (its 401 to an unknown session), not port 3000.
        const cli = await runCli(['whoami'], serviceFile);
        expect(cli.code).toBe(1);
        expect(cli.out).toContain('GET /api/data/v9.2/WhoAmI → 401');
        expect(cli.out).toContain('unauthenticated');
      } finally {
        service.child.kill('SIGTERM');
        await service.exited;
      }
      expect(existsSync(serviceFile)).toBe(false);
    },
  );

  it('ignores a service file whose process has ended', { timeout: 60_000 }, async () => {
    const paths: string[] = [];
    const standIn = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
    try {
      const live = join(dir, 'live.json');
      writeServiceFile({ url, dynamodb: 'http://127.0.0.1:1', pid: process.pid }, live);
      expect((await runCli(['whoami'], live)).code).toBe(0);
      expect(paths).toEqual(['/api/data/v9.2/WhoAmI']);

      const ended = start('examples/cli.ts', ['--help'], {});
      await ended.exited;
      const stale = join(dir, 'stale.json');
      writeServiceFile({ url, dynamodb: 'http://127.0.0.1:1', pid: ended.child.pid! }, stale);
      await runCli(['whoami'], stale);
      expect(paths).toEqual(['/api/data/v9.2/WhoAmI']);
    } finally {
      await new Promise<void>((resolve) => standIn.close(() => resolve()));
    }
  });
});
