import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { createDynamoClient, DynamoApiKeyStore } from '../../shared/stores/dynamodb.ts';
import { launchChromium } from '../support/browser.ts';

let stack: LocalStack;
let browser: Browser;
const env: NodeJS.ProcessEnv = { PORT: '0' };

beforeAll(async () => {
  // A multi-environment deployment: no DYNAMICS_URL, so a connection without `environment` offers the chooser.
  stack = await startLocalStack({ env, defaultEnvironment: false });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('the connection environment chooser in a browser', () => {
  it('a connect link without environment → sign-in → chooser → choose → status=connected, and the connection uses the choice', async () => {
    const client = createDynamoClient({ endpoint: stack.dynamodbEndpoint });
    const { key, record } = generateApiKey('chooser e2e', Date.now());
    await new DynamoApiKeyStore(client, env.API_KEYS_TABLE ?? 'ApiKeys').create(record);
    client.destroy();
    const backend = { authorization: `Bearer ${key}` };
    const created = await fetch(`${stack.url}/connect/sessions`, {
      method: 'POST',
      headers: { ...backend, 'content-type': 'application/json' },
      body: JSON.stringify({ connectionId: 'browser-chooser', returnTo: `${stack.url}/` }),
    });
    expect(created.status).toBe(201);
    const { connectUrl } = (await created.json()) as { connectUrl: string };

    const [, sandbox] = stack.environments!;
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(connectUrl);
    await page.waitForURL(/\/connect\/environment\?token=/);
    expect(await page.locator('h1').textContent()).toBe('Choose an environment');
    // Accessible: every radio button has its label; the form works without script.
    await page.getByLabel(/Contoso Sandbox/).check();
    await page.getByRole('button', { name: 'Connect this environment' }).click();
    await page.waitForURL(/status=connected/);
    const landed = new URL(page.url());
    expect(landed.searchParams.get('connectionId')).toBe('browser-chooser');
    await context.close();

    const shown = (await (await fetch(`${stack.url}/connections/browser-chooser`, { headers: backend })).json()) as {
      environment: string;
    };
    expect(shown.environment).toBe(sandbox!.dataverse.url);
    const accounts = await fetch(`${stack.url}/api/data/v9.2/accounts?$select=name`, {
      headers: { ...backend, 'connection-id': 'browser-chooser' },
    });
    expect(accounts.status).toBe(200);
    expect(((await accounts.json()) as { value: unknown[] }).value).toHaveLength(1);
  });
});
