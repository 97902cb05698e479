import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { createDynamoClient, DynamoApiKeyStore } from '../../shared/stores/dynamodb.ts';
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
    await expect.poll(() => page.textContent('#response-status')).toContain('POST /api/data/v9.2/accounts → 201');
    // What was created is shown: its name and the id Dataverse gave it.
    await expect
      .poll(() => page.textContent('#created'))
      .toMatch(/^Created account “Created in Chromium” \([0-9a-f-]{36}\)$/);
    expect(await page.locator('#created').isVisible()).toBe(true);
    await page.click('#list');
    await expect.poll(() => page.locator('#accounts li', { hasText: 'Created in Chromium' }).count()).toBe(1);

    await page.click('#refresh');
    await expect.poll(() => page.textContent('#response-status')).toContain('POST /auth/refresh → 200');

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/demo-signed-in.png', fullPage: true });

    // Sign out goes on to the identity provider's end-session endpoint, which returns to the demo page.
    const endSession = page.waitForRequest((r) => r.url().startsWith(`${stack.idp!.issuer}/endsession?`));
    await page.click('#signout');
    const logout = new URL((await endSession).url());
    expect(logout.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.url}/`);
    await page.waitForURL(`${stack.url}/`);
    await expect.poll(() => page.textContent('#status')).toBe('Not signed in');
    expect((await context.cookies(stack.url)).find((c) => c.name === '__Host-dyn-session')).toBeUndefined();
    await context.close();
  });

  it('shows no empty box on first load, and disabled buttons keep a readable label (contrast ≥ 4.5:1)', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.url}/`);
    await expect.poll(() => page.textContent('#status')).toBe('Not signed in');
    for (const id of ['#output', '#accounts', '#created', '#notice'])
      expect(await page.locator(id).isVisible(), id).toBe(false);
    const ratios = await page.evaluate(() => {
      const luminance = (css: string) => {
        const [r, g, b] = css
          .match(/\d+(\.\d+)?/g)!
          .slice(0, 3)
          .map((v) => Number(v) / 255);
        const linear = (c: number) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
        return 0.2126 * linear(r!) + 0.7152 * linear(g!) + 0.0722 * linear(b!);
      };
      return [...document.querySelectorAll('button:disabled')].map((button) => {
        const style = getComputedStyle(button);
        const [a, b] = [luminance(style.color), luminance(style.backgroundColor)].sort((x, y) => y - x);
        return { id: button.id, ratio: (a! + 0.05) / (b! + 0.05) };
      });
    });
    expect(ratios.map((r) => r.id)).toEqual(['whoami', 'list', 'create', 'refresh', 'signout']);
    for (const { id, ratio } of ratios) expect(ratio, id).toBeGreaterThanOrEqual(4.5);
    await page.close();
  });

  it('shows status=connected when a managed connection completes and returns to the page', async () => {
    const client = createDynamoClient({ endpoint: stack.dynamodbEndpoint });
    const { key, record } = generateApiKey('demo page e2e', Date.now());
    await new DynamoApiKeyStore(client, process.env.API_KEYS_TABLE ?? 'ApiKeys').create(record);
    client.destroy();
    const created = await fetch(`${stack.url}/connect/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ connectionId: 'demo-page', returnTo: `${stack.url}/` }),
    });
    expect(created.status).toBe(201);
    const { connectUrl } = (await created.json()) as { connectUrl: string };
    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(connectUrl);
    await page.waitForURL(/status=connected/);
    await expect.poll(() => page.textContent('#notice')).toBe('Connection “demo-page” connected (status=connected).');
    expect(await page.locator('#notice').isVisible()).toBe(true);
    await page.close();
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
      const r = await fetch('/api/data/v9.2/accounts', {
        method: 'POST',
        body: '{"name":"x"}',
        headers: { 'content-type': 'application/json' },
      });
      return r.status;
    });
    expect(status).toBe(403);
    await context.close();
  });
});
