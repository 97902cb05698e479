/**
 * Child process of `npm run bench` (part 5): starts the local server exactly as `npm start` does
 * (`startLocalStack`: dynalite, dev IdP, Dataverse stand-in, the six handlers) on 127.0.0.1 with
 * PORT=0. It runs in its own process because the local stack writes its configuration into
 * process.env and the handlers read it once per process.
 *
 * Protocol: prints one JSON line `{"ready":true,"url":"http://localhost:<port>"}` on stdout, then
 * serves until its stdin closes (or 120 s pass), stops everything and exits. The load generator is
 * the parent process, so client and server do not share one event loop.
 */
import './env.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../local/stack.ts';

const SAFETY_TIMEOUT_MS = 120_000;

const dir = await mkdtemp(join(tmpdir(), 'dyn-bench-local-'));
const stack = await startLocalStack({
  env: {
    PORT: '0',
    // A throw-away local master key, so the run never touches the repo's .local/ key file.
    LOCAL_KEY_FILE: join(dir, 'master.key'),
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  },
});

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearTimeout(safety);
  await stack.stop();
  await rm(dir, { recursive: true, force: true });
};
const safety = setTimeout(() => void stop(), SAFETY_TIMEOUT_MS);
process.stdin.on('end', () => void stop());
process.stdin.on('close', () => void stop());
process.stdin.resume();
process.stdout.write(`${JSON.stringify({ ready: true, url: stack.url })}\n`);
