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

describe('two environments through the real local stack', () => {
  it('Dana signs in, the picker lists her environments from the service, and accounts come from each environment in turn', async () => {
    const [contoso, sandbox, fabrikam] = stack.environments!;
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${stack.url}/`);
    await page.click('#signin');
    await page.waitForURL(`${stack.url}/`);
    await expect.poll(() => page.textContent('#status')).toContain('Signed in');
    await expect.poll(() => page.isVisible('#environment-picker')).toBe(true);
    const contosoHost = new URL(contoso!.dataverse.url).host;
    const sandboxHost = new URL(sandbox!.dataverse.url).host;
    const options = await page.locator('#environment option').allTextContents();
    expect(options).toContain(`Contoso (${contosoHost})`);
    expect(options).toContain(`Contoso Sandbox (${sandboxHost})`);
    // Fabrikam is another tenant's: not Dana's.
    expect(options.join()).not.toContain(new URL(fabrikam!.dataverse.url).host);

    for (const [host, seeded] of [
      [sandboxHost, 1],
      [contosoHost, 3],
    ] as const) {
      await page.selectOption('#environment', host);
      await page.click('#list');
      await expect
        .poll(() => page.textContent('#response-status'))
        .toBe(`GET /orgs/${host}/api/data/v9.2/accounts?$select=name&$top=20 → 200`);
      await expect.poll(() => page.locator('#accounts li').count()).toBeGreaterThanOrEqual(seeded);
      expect(await page.locator('#accounts li').count()).toBe(seeded);
    }
    await context.close();
  });
});
