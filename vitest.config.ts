import { defineConfig } from 'vitest/config';

/** One project per kind of test (`npm run test:<name>` runs one); `npm test` runs them all. */
const project = (name: string, { groupOrder = 0, globalSetup = [] as string[], timeouts = {} } = {}) => ({
  extends: true as const,
  test: { name, include: [`test/${name}/**/*.test.ts`], sequence: { groupOrder }, globalSetup, ...timeouts },
});

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    env: {
      // Tests run on Node 20 here; the SDK's reminder that it will need Node 22 is noise in test output.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
    projects: [
      project('unit'),
      project('integration'),
      // Synthesizing (and bundling) whole stacks takes seconds each and more on a busy machine; a limit
      // is there to stop a hang, not to time the synth.
      project('infra', { timeouts: { testTimeout: 120_000, hookTimeout: 400_000 } }),
      // Finds Debian's Chromium, installing it when missing (and allowed), before any browser test starts.
      project('e2e', { globalSetup: ['test/support/chromium-setup.ts'] }),
      // The load test measures throughput: it runs alone, after the others, so they do not share its CPU.
      project('load', { groupOrder: 1 }),
    ],
  },
});
