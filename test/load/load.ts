import { startLocalStack } from '../../local/stack.ts';
import { CookieJar } from '../support/cookie-jar.ts';

export interface LoadOptions {
  sessions: number;
  durationMs: number;
  /** Access-token lifetime the dev IdP issues: tokens expire (and are refreshed) during the run. */
  accessTokenTtlSeconds: number;
  /** Also revoke every issued access token at Dataverse this often, forcing the 401 → refresh path. */
  expireEveryMs: number;
}

export interface LoadResult {
  sessions: number;
  durationSeconds: number;
  requests: number;
  requestsPerSecond: number;
  statuses: Record<string, number>;
  serverErrors: number;
  latencyMs: { median: number; p99: number; max: number };
  tokenRefreshes: number;
  lostSessions: number;
  heapUsedMb: { afterWarmup: number; end: number; growth: number; every5s: number[] };
  rssMb: { afterWarmup: number; end: number };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/**
 * Bounded load against the local server on loopback: N signed-in sessions each send a mix of proxy
 * calls (read, create, delete), session checks and refreshes for a fixed time while access tokens
 * expire underneath them.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const stack = await startLocalStack({
    env: { PORT: '0', REFRESH_SKEW_SECONDS: '1' },
    accessTokenTtlSeconds: options.accessTokenTtlSeconds,
  });
  let tokenRefreshes = 0;
  stack.idp!.server.service.on('beforeResponse', (_res: unknown, req: { body: Record<string, string> }) => {
    if (req.body.grant_type === 'refresh_token') tokenRefreshes += 1;
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  try {
    const api = `${stack.url}/api/data/v9.2`;
    const jars: CookieJar[] = [];
    for (let i = 0; i < options.sessions; i++) {
      const jar = new CookieJar();
      const login = await jar.fetch(`${stack.url}/auth/login?returnTo=${encodeURIComponent(`${stack.url}/`)}`);
      const authorize = await jar.fetch(login.headers.get('location')!);
      const callback = await jar.fetch(authorize.headers.get('location')!);
      if (callback.status !== 302 || !jar.get('__Host-dyn-session'))
        throw new Error(`sign-in ${i} failed: ${callback.status}`);
      jars.push(jar);
    }
    const unsafe = { 'x-csrf': '1', origin: stack.url, 'content-type': 'application/json' };
    const statuses: Record<string, number> = {};
    const latencies: number[] = [];
    const timed = async (jar: CookieJar, url: string, init: RequestInit = {}) => {
      const started = performance.now();
      const response = await jar.fetch(url, init);
      await response.arrayBuffer();
      latencies.push(performance.now() - started);
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      return response;
    };

    gc?.();
    const heapStart = process.memoryUsage();
    const deadline = Date.now() + options.durationMs;
    const expiry = setInterval(() => stack.dataverse!.expireIssuedTokens(), options.expireEveryMs);
    const heapSamples: number[] = [];
    const sampler = setInterval(() => {
      gc?.();
      heapSamples.push(mb(process.memoryUsage().heapUsed));
    }, 5_000);
    const client = async (jar: CookieJar, seed: number) => {
      for (let n = seed; Date.now() < deadline; n++) {
        const pick = n % 20;
        if (pick < 9) await timed(jar, `${api}/WhoAmI`);
        else if (pick < 14) await timed(jar, `${api}/accounts?$select=name&$top=5`);
        else if (pick < 17) {
          const created = await timed(jar, `${api}/accounts`, {
            method: 'POST',
            headers: unsafe,
            body: JSON.stringify({ name: `load ${n}` }),
          });
          const id = /\(([0-9a-f-]{36})\)/.exec(created.headers.get('odata-entityid') ?? '')?.[1];
          if (id) await timed(jar, `${api}/accounts(${id})`, { method: 'DELETE', headers: unsafe });
        } else if (pick < 19) await timed(jar, `${stack.url}/auth/session`);
        else await timed(jar, `${stack.url}/auth/refresh`, { method: 'POST', headers: unsafe });
      }
    };
    await Promise.all(jars.map((jar, i) => client(jar, i)));
    clearInterval(expiry);
    clearInterval(sampler);
    gc?.();
    const heapEnd = process.memoryUsage();

    let lostSessions = 0;
    for (const jar of jars) {
      const check = await jar.fetch(`${stack.url}/auth/session`);
      if (check.status !== 200) lostSessions += 1;
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const requests = latencies.length;
    return {
      sessions: options.sessions,
      durationSeconds: options.durationMs / 1000,
      requests,
      requestsPerSecond: Math.round(requests / (options.durationMs / 1000)),
      statuses,
      serverErrors: Object.entries(statuses)
        .filter(([s]) => Number(s) >= 500)
        .reduce((sum, [, c]) => sum + c, 0),
      latencyMs: {
        median: Math.round(percentile(sorted, 50) * 10) / 10,
        p99: Math.round(percentile(sorted, 99) * 10) / 10,
        max: Math.round((sorted.at(-1) ?? 0) * 10) / 10,
      },
      tokenRefreshes,
      lostSessions,
      heapUsedMb: {
        afterWarmup: mb(heapStart.heapUsed),
        end: mb(heapEnd.heapUsed),
        growth: mb(heapEnd.heapUsed - heapStart.heapUsed),
        every5s: heapSamples,
      },
      rssMb: { afterWarmup: mb(heapStart.rss), end: mb(heapEnd.rss) },
    };
  } finally {
    await stack.stop();
  }
}
