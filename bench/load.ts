/**
 * Part 5, the client side: spawns bench/local-throughput.ts (the local server in its own process),
 * signs in over HTTP with a cookie jar like a browser, then drives `GET /api/data/v9.2/WhoAmI`
 * through the proxy route with N concurrent clients for a fixed time.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { CookieJar } from '../test/support/cookie-jar.ts';
import { round, summarize, type Summary } from './stats.ts';

export interface LocalThroughputResult {
  path: string;
  clients: number;
  warmupSeconds: number;
  durationSeconds: number;
  requests: number;
  requestsPerSecond: number;
  latencyMs: Summary;
  non2xx: number;
  errors: number;
}

const READY_TIMEOUT_MS = 60_000;
/** Upper bound per client, so the loop is bounded even if time stood still. */
const MAX_REQUESTS_PER_CLIENT = 200_000;

async function signInOverHttp(base: string): Promise<CookieJar> {
  const jar = new CookieJar();
  const login = await jar.fetch(`${base}/auth/login?returnTo=${encodeURIComponent(`${base}/`)}`);
  if (login.status !== 302) throw new Error(`login answered ${login.status}`);
  const authorize = await jar.fetch(login.headers.get('location')!);
  if (authorize.status !== 302) throw new Error(`IdP authorize answered ${authorize.status}`);
  const callback = await jar.fetch(authorize.headers.get('location')!);
  if (callback.status !== 302) throw new Error(`callback answered ${callback.status}: ${await callback.text()}`);
  if (!jar.get('__Host-dyn-session')) throw new Error('no session cookie after sign-in');
  return jar;
}

async function drive(url: string, cookie: string, clients: number, seconds: number) {
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < MAX_REQUESTS_PER_CLIENT && performance.now() < deadline; i++) {
        const t = performance.now();
        try {
          const response = await fetch(url, { headers: { cookie, accept: 'application/json' } });
          await response.arrayBuffer();
          latencies.push(performance.now() - t);
          if (response.status < 200 || response.status >= 300) non2xx += 1;
        } catch {
          errors += 1;
        }
      }
    }),
  );
  return { latencies, non2xx, errors, elapsedMs: performance.now() - started };
}

export async function localThroughput(
  projectRoot: string,
  clients = 20,
  seconds = 10,
  warmupSeconds = 1,
): Promise<LocalThroughputResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/local-throughput.ts'], {
    cwd: projectRoot,
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`local server not ready in time: ${stderr}`)), READY_TIMEOUT_MS);
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        try {
          const msg = JSON.parse(line) as { ready?: boolean; url?: string };
          if (msg.ready && msg.url) {
            clearTimeout(timer);
            resolve(msg.url);
          }
        } catch {
          // not our protocol line; ignore
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`local server exited (${code}) before ready: ${stderr}`));
      });
    });
    const jar = await signInOverHttp(url);
    const target = `${url}/api/data/v9.2/WhoAmI`;
    const cookie = jar.header();
    await drive(target, cookie, clients, warmupSeconds);
    const run = await drive(target, cookie, clients, seconds);
    return {
      path: 'GET /api/data/v9.2/WhoAmI',
      clients,
      warmupSeconds,
      durationSeconds: round(run.elapsedMs / 1000, 2),
      requests: run.latencies.length + run.errors,
      requestsPerSecond: round((run.latencies.length + run.errors) / (run.elapsedMs / 1000), 1),
      latencyMs: summarize(run.latencies),
      non2xx: run.non2xx,
      errors: run.errors,
    };
  } finally {
    child.stdin.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  }
}
