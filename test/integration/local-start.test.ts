import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';

/** `npm start` as a user runs it: prints the URL, serves, and exits cleanly on Ctrl-C. */
describe('npm start', () => {
  it('prints the URL to open, serves the demo page, and frees its port on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      while (!/Open (http:\/\/localhost:\d+)\//.test(output) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = /Open (http:\/\/localhost:\d+)\//.exec(output)?.[1];
      expect(url, output).toBeDefined();
      expect(output).toContain('Press Ctrl-C to stop.');
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);

      child.kill('SIGINT');
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))])).toBe(0);
      const port = Number(new URL(url!).port);
      const free = await new Promise<boolean>((resolve) => {
        const probe = createServer();
        probe.once('error', () => resolve(false));
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
      });
      expect(free).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
