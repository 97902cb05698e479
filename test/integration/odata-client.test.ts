import { DynamicsWebApi } from 'dynamics-web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { createDynamoClient, DynamoApiKeyStore } from '../../shared/stores/dynamodb.ts';
import { CookieJar } from '../support/cookie-jar.ts';
import { AVERY } from '../support/dataverse.ts';

/** dynamics-web-api (the most used JavaScript Dataverse client), pointed at the service over real HTTP. */
let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0' } });
});
afterAll(async () => stack?.stop());

/** Another user of the environment, named by Entra object id (CallerObjectId). */
const OTHER_USER = AVERY.azureactivedirectoryobjectid;

/** An API key (as `npm run admin -- keys create` stores it) with one connected user. */
async function connectedKey(allowImpersonation: boolean): Promise<string> {
  const client = createDynamoClient({ endpoint: stack.dynamodbEndpoint });
  const { key, record } = generateApiKey(allowImpersonation ? 'delegate' : 'plain', Date.now(), { allowImpersonation });
  await new DynamoApiKeyStore(client, 'ApiKeys').create(record);
  client.destroy();
  const created = await fetch(`${stack.url}/connect/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ connectionId: 'customer-1', returnTo: `${stack.url}/` }),
  });
  expect(created.status).toBe(201);
  const jar = new CookieJar();
  let next = ((await created.json()) as { connectUrl: string }).connectUrl;
  for (let hop = 0; hop < 4 && next.startsWith('http') && !next.startsWith(`${stack.url}/?`); hop++) {
    next = (await jar.fetch(next)).headers.get('location') ?? '';
  }
  expect(new URL(next).searchParams.get('status')).toBe('connected');
  return key;
}

const clientFor = (token: string, extra: Partial<ConstructorParameters<typeof DynamicsWebApi>[0]> = {}) =>
  new DynamicsWebApi({ serverUrl: stack.url, dataApi: { version: '9.2' }, onTokenRefresh: async () => token, ...extra });

const failureOf = async (call: Promise<unknown>) => {
  try {
    await call;
  } catch (err) {
    return err as { status?: number; code?: string; message?: string };
  }
  throw new Error('the call did not fail');
};

describe('an OData client shows the service’s own errors', () => {
  it('reads error.code and error.message of a 401 from the proxy', async () => {
    const failure = await failureOf(clientFor('not-a-session-token').callFunction('WhoAmI'));
    expect(failure).toMatchObject({ status: 401, code: 'unauthenticated', message: 'No valid session: sign in at /auth/login.' });
  });

  it('impersonates through an API key created for it, and shows the refusal for one that was not', async () => {
    const plain = await connectedKey(false);
    const accounts = { collection: 'accounts', top: 1 };
    const refused = await failureOf(clientFor(plain, { headers: { 'Connection-Id': 'customer-1' }, impersonateAAD: OTHER_USER }).retrieveMultiple(accounts));
    expect(refused).toMatchObject({ status: 403, code: 'impersonation_not_allowed' });
    expect(refused.message).toMatch(/may not impersonate/);

    const delegate = await connectedKey(true);
    const before = stack.dataverse!.requests.length;
    const impersonating = clientFor(delegate, { headers: { 'Connection-Id': 'customer-1' }, impersonateAAD: OTHER_USER });
    const page = await impersonating.retrieveMultiple(accounts);
    expect(page.value).toHaveLength(1);
    expect(stack.dataverse!.requests.length).toBe(before + 1);
    expect(stack.dataverse!.requests.at(-1)!.headers.callerobjectid).toBe(OTHER_USER);
    // Dataverse ran the request as the impersonated user.
    expect(await impersonating.callFunction<{ UserId: string }>('WhoAmI')).toMatchObject({ UserId: AVERY.systemuserid });
  });
});
