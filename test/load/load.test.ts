import { describe, expect, it } from 'vitest';
import { runLoad } from './load.ts';

describe('load (short form; `npm run load` runs 50 sessions for 30 s)', () => {
  it(
    '50 concurrent sessions of mixed proxy traffic with expiring tokens: no 5xx, no lost session',
    { timeout: 90_000 },
    async () => {
      const result = await runLoad({ sessions: 50, durationMs: 6_000, accessTokenTtlSeconds: 4, expireEveryMs: 2_500 });
      console.log(
        `load: ${result.requests} requests, ${result.requestsPerSecond}/s, p99 ${result.latencyMs.p99} ms, ` +
          `${result.tokenRefreshes} refreshes, statuses ${JSON.stringify(result.statuses)}, heap +${result.heapUsedMb.growth} MB`,
      );
      expect(result.requests).toBeGreaterThan(500);
      expect(result.tokenRefreshes).toBeGreaterThanOrEqual(50);
      expect(result.serverErrors).toBe(0);
      expect(result.lostSessions).toBe(0);
      expect(Object.keys(result.statuses).every((s) => ['200', '204'].includes(s))).toBe(true);
    },
  );
});
