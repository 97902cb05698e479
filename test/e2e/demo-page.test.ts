import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { launchChromium } from '../support/browser.ts';

let stack: LocalStack;
let browser: Browser;

beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0' } });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('the demo page in headless Chromium', () => {
  it('signs in, lists accounts, creates one and signs out; the session cookie is invisible to scripts', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);

    await page.goto(`${stack.url}/`);
    await expect.poll(() => page.textContent('#status')).toBe('Not signed in');

    await page.click('#signin');
    await page.waitForURL(`${stack.url}/`);
    await expect.poll(() => page.textContent('#status')).toContain('Signed in as Dana Developer');

    const cookies = await context.cookies(stack.url);
    const session = cookies.find((c) => c.name === '__Host-dyn-session');
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    expect(await page.evaluate(() => document.cookie)).not.toContain('__Host-dyn-session');

    await page.click('#list');
    await expect.poll(() => page.locator('#accounts li').count()).toBeGreaterThanOrEqual(3);
    expect(await page.textContent('#response-status')).toContain('→ 200');

    await page.fill('#account-name', 'Created in Chromium');
    await page.click('#create');
    await expect.poll(() => page.textContent('#response-status')).toContain('POST /api/data/v9.2/accounts → 204');
    await page.click('#list');
    await expect.poll(() => page.locator('#accounts li', { hasText: 'Created in Chromium' }).count()).toBe(1);

    await page.click('#refresh');
    await expect.poll(() => page.textContent('#response-status')).toContain('POST /auth/refresh → 200');

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/demo-signed-in.png', fullPage: true });

    await page.click('#signout');
    await expect.poll(() => page.textContent('#status')).toBe('Not signed in');
    expect((await context.cookies(stack.url)).find((c) => c.name === '__Host-dyn-session')).toBeUndefined();
    await context.close();
  });

  it('refuses a cross-site form POST to the proxy (no X-CSRF header)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/`);
    await page.click('#signin');
    await page.waitForURL(`${stack.url}/`);
    await expect.poll(() => page.textContent('#status')).toContain('Signed in');
    // Same browser, a request without the header a form cannot set: the service must refuse it.
    const status = await page.evaluate(async () => {
      const r = await fetch('/api/data/v9.2/accounts', { method: 'POST', body: '{"name":"x"}', headers: { 'content-type': 'application/json' } });
      return r.status;
    });
    expect(status).toBe(403);
    await context.close();
  });
});
