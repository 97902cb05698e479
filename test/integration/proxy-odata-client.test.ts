/**
 * A real OData client (dynamics-web-api, Node transport) pointed at the local server: it pages by
 * following the @odata.nextLink the proxy hands out, which must point at the service.
 */
import { DynamicsWebApi } from 'dynamics-web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { CookieJar } from '../support/cookie-jar.ts';

let stack: LocalStack;
let sessionToken: string;
beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0' } });
  const jar = new CookieJar();
  const login = await jar.fetch(`${stack.url}/auth/login?returnTo=${encodeURIComponent(`${stack.url}/`)}`);
  const authorize = await jar.fetch(login.headers.get('location')!);
  await jar.fetch(authorize.headers.get('location')!);
  sessionToken = jar.get('__Host-dyn-session')!;
});
afterAll(async () => stack?.stop());

describe('dynamics-web-api through the proxy', () => {
  it('retrieveAll follows @odata.nextLink through the service over three pages', async () => {
    for (let i = 0; i < 3; i++) stack.dataverse!.insert('accounts', { name: `Client page ${i}` });
    const client = new DynamicsWebApi({ serverUrl: stack.url, dataApi: { version: '9.2' }, onTokenRefresh: async () => sessionToken });
    stack.dataverse!.requests.length = 0;
    const all = await client.retrieveAll<{ name: string }>({ collection: 'accounts', select: ['name'], maxPageSize: 2 });
    expect(all.value).toHaveLength(6);
    expect(all.value.map((a) => a.name)).toContain('Client page 2');
    const pages = stack.dataverse!.requests.filter((r) => r.path === '/api/data/v9.2/accounts');
    expect(pages).toHaveLength(3);
  });
});
