import { runLoad } from './load.ts';

/** `npm run load`: the full load test (50 sessions, 30 seconds) with its figures. */
const sessions = Number(process.env.LOAD_SESSIONS ?? 50);
const seconds = Number(process.env.LOAD_SECONDS ?? 30);
const result = await runLoad({ sessions, durationMs: seconds * 1000, accessTokenTtlSeconds: 8, expireEveryMs: 7_000 });
console.log(JSON.stringify(result, null, 2));
const ok = result.serverErrors === 0 && result.lostSessions === 0;
console.log(ok ? 'load: PASS (no 5xx, no lost session)' : 'load: FAIL');
process.exit(ok ? 0 : 1);
