import type { Browser, Page } from 'playwright-core';
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

/** The demo page, signed in, with `/auth/environments` answered by `answer` (the route's contract, whatever the service). */
async function signedInPage(answer: { status: number; body: unknown }): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  await page.route('**/auth/environments', (route) =>
    route.fulfill({ status: answer.status, contentType: 'application/json', body: JSON.stringify(answer.body) }),
  );
  await page.goto(`${stack.url}/`);
  await page.click('#signin');
  await page.waitForURL(`${stack.url}/`);
  await expect.poll(() => page.textContent('#status')).toContain('Signed in');
  return page;
}

describe('the demo page’s environment picker', () => {
  it('lists the user’s environments and sends Web API calls to /orgs/{host}/… for the chosen one', async () => {
    const [contoso, sandbox] = stack.environments!;
    const environments = [contoso!, sandbox!].map((e) => ({
      url: e.dataverse.url,
      friendlyName: e.friendlyName,
      uniqueName: e.uniqueName,
    }));
    const page = await signedInPage({ status: 200, body: { environments } });
    await expect.poll(() => page.isVisible('#environment-picker')).toBe(true);
    const sandboxHost = new URL(sandbox!.dataverse.url).host;
    expect(await page.locator('#environment option').allTextContents()).toEqual([
      'Default environment',
      `Contoso (${new URL(contoso!.dataverse.url).host})`,
      `Contoso Sandbox (${sandboxHost})`,
    ]);
    await page.selectOption('#environment', sandboxHost);
    await page.click('#whoami');
    await expect
      .poll(() => page.textContent('#response-status'))
      .toContain(`GET /orgs/${sandboxHost}/api/data/v9.2/WhoAmI →`);
    await page.selectOption('#environment', '');
    await page.click('#whoami');
    await expect.poll(() => page.textContent('#response-status')).toBe('GET /api/data/v9.2/WhoAmI → 200');
    await page.context().close();
  });

  for (const status of [404, 501]) {
    it(`hides the picker and keeps the default environment when /auth/environments answers ${status}`, async () => {
      const page = await signedInPage({ status, body: { error: 'not_found' } });
      await page.click('#list');
      await expect.poll(() => page.textContent('#response-status')).toContain('GET /api/data/v9.2/accounts');
      expect(await page.isHidden('#environment-picker')).toBe(true);
      expect(await page.textContent('#response-status')).toContain('→ 200');
      await page.context().close();
    });
  }
});
