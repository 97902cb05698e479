import { chromium, type Browser } from 'playwright-core';
import { inject } from 'vitest';
import type { ChromiumSetup } from './chromium.ts';

/**
 * Starts the headless Chromium that the e2e project's global setup found or installed
 * (test/support/chromium-setup.ts); without one, fails the calling test with the reason and the fix.
 */
export async function launchChromium(setup: ChromiumSetup | undefined = inject('chromium')): Promise<Browser> {
  if (setup === undefined)
    throw new Error(
      'No browser set up: browser tests run in the e2e project (npm run test:e2e), whose global setup finds Chromium.',
    );
  if ('problem' in setup) throw new Error(setup.problem);
  return chromium.launch({
    executablePath: setup.executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-quic',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}
