/**
 * dynamics-web-api (the most used JavaScript Dataverse client, Node transport) pointed at the service
 * over real HTTP: `serverUrl` is the local server, the session token its bearer token. Every request
 * goes through the proxy to the Dataverse stand-in, which refuses what Dataverse refuses (URLs at
 * another origin, unknown columns, users without the impersonation privilege).
 */
import { randomBytes } from 'node:crypto';
import { DynamicsWebApi } from 'dynamics-web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { createDynamoClient, DynamoApiKeyStore } from '../../shared/stores/dynamodb.ts';
import { CookieJar } from '../support/cookie-jar.ts';
import { AVERY, DANA } from '../support/dataverse.ts';
import { signInOverHttp } from '../support/local-session.ts';

let stack: LocalStack;
let api: DynamicsWebApi;
beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0' } });
  const sessionToken = (await signInOverHttp(stack)).get('__Host-dyn-session')!;
  api = clientFor(sessionToken);
});
afterAll(async () => stack?.stop());
beforeEach(() => {
  stack.dataverse!.requests.length = 0;
});

const clientFor = (token: string, extra: Partial<ConstructorParameters<typeof DynamicsWebApi>[0]> = {}) =>
  new DynamicsWebApi({
    serverUrl: stack.url,
    dataApi: { version: '9.2' },
    onTokenRefresh: async () => token,
    ...extra,
  });

/** The error a call rejects with, as the client shows it. */
const failureOf = async (call: Promise<unknown>) => {
  try {
    await call;
  } catch (err) {
    return err as { status?: number; code?: string; message?: string };
  }
  throw new Error('the call did not fail');
};

/** Dataverse's file chunk size (x-ms-chunk-size): 4 MB. */
const CHUNK = 4 * 1024 * 1024;

/** What reached Dataverse: method and path of each request, in order. */
const upstream = () => stack.dataverse!.requests.map((r) => `${r.method} ${r.path}`);

describe('dynamics-web-api through the proxy', () => {
  it('retrieveAll follows @odata.nextLink through the service over three pages', async () => {
    const names = Array.from({ length: 5 }, (_, i) => `Paged via proxy ${i}`);
    for (const name of names) stack.dataverse!.insert('accounts', { name });
    const all = await api.retrieveAll<{ name: string }>({
      collection: 'accounts',
      select: ['name'],
      filter: "startswith(name,'Paged via proxy')",
      maxPageSize: 2,
    });
    expect(all.value.map((a) => a.name).sort()).toEqual(names);
    // Three pages, each fetched by Dataverse at its own origin with the skip token it handed out.
    const pages = stack.dataverse!.requests.filter((r) => r.path === '/api/data/v9.2/accounts');
    expect(pages.map((r) => new URLSearchParams(r.query).get('$skiptoken'))).toEqual([null, '2', '4']);
  });

  it('creates, updates, upserts (by alternate key) and deletes, each read back', async () => {
    const id = await api.create<{ name: string; revenue: number }, string>({
      collection: 'accounts',
      data: { name: 'Created via proxy', revenue: 1200.5 },
    });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await api.retrieve({ collection: 'accounts', key: id, select: ['name', 'revenue'] })).toMatchObject({
      name: 'Created via proxy',
      revenue: 1200.5,
    });

    await api.update({ collection: 'accounts', key: id, data: { name: 'Updated via proxy' } });
    expect(await api.retrieve({ collection: 'accounts', key: id, select: ['name'] })).toMatchObject({
      name: 'Updated via proxy',
    });

    // An upsert creates the record its alternate key names, then updates the same record.
    const key = `accountnumber='${encodeURIComponent('UP + 1 @ Proxy')}'`;
    await api.upsert({ collection: 'accounts', key, data: { name: 'Upserted once' } });
    const upserted = await api.retrieve<{ accountid: string; name: string; accountnumber: string }>({
      collection: 'accounts',
      key,
      select: ['name', 'accountnumber'],
    });
    expect(upserted).toMatchObject({ name: 'Upserted once', accountnumber: 'UP + 1 @ Proxy' });
    await api.upsert({ collection: 'accounts', key, data: { name: 'Upserted twice' } });
    expect(await api.retrieve({ collection: 'accounts', key, select: ['accountid', 'name'] })).toMatchObject({
      accountid: upserted.accountid,
      name: 'Upserted twice',
    });

    await api.deleteRecord({ collection: 'accounts', key: id });
    expect(await failureOf(api.retrieve({ collection: 'accounts', key: id }))).toMatchObject({
      status: 404,
      message: expect.stringContaining('Does Not Exist'),
    });
  });

  it('sends a $batch changeset whose second part binds to the first by Content-ID', async () => {
    api.startBatch();
    await api.create({ collection: 'accounts', data: { name: 'Batched via proxy' }, contentId: '1' });
    await api.create({
      collection: 'contacts',
      data: { lastname: 'Batched contact', 'parentcustomerid_account@odata.bind': '$1' },
    });
    const results = await api.executeBatch();
    expect(results).toHaveLength(2);
    // The parts named the service (the client builds them from serverUrl); Dataverse saw its own origin.
    const sent = stack.dataverse!.requests.find((r) => r.path === '/api/data/v9.2/$batch')!.body.toString('utf8');
    expect(sent).toContain(`POST ${stack.dataverse!.url}/api/data/v9.2/accounts HTTP/1.1`);
    expect(sent).not.toContain(stack.url);

    const [account] = (
      await api.retrieveMultiple<{ accountid: string; contact_customer_accounts: { lastname: string }[] }>({
        collection: 'accounts',
        filter: "name eq 'Batched via proxy'",
        select: ['accountid'],
        expand: [{ property: 'contact_customer_accounts', select: ['lastname'] }],
      })
    ).value;
    expect(account!.contact_customer_accounts.map((c) => c.lastname)).toEqual(['Batched contact']);
    expect(results[0]).toBe(account!.accountid);
  });

  it('uploads a file column in chunks, and downloads it with Range requests', async () => {
    const id = stack.dataverse!.insert('accounts', { name: 'With a large file' }).id;
    const data = randomBytes(5 * 1024 * 1024);
    await api.uploadFile({ collection: 'accounts', key: id, property: 'sample_document', fileName: 'large.bin', data });
    // Two chunks (Dataverse's x-ms-chunk-size is 4 MB) sent to the upload session the proxy's mapped Location named.
    const chunks = stack.dataverse!.requests.filter((r) => r.headers['content-range']);
    expect(chunks.map((r) => r.headers['content-range'])).toEqual([
      `bytes 0-${CHUNK - 1}/${data.length}`,
      `bytes ${CHUNK}-${data.length - 1}/${data.length}`,
    ]);
    expect(chunks.every((r) => new URLSearchParams(r.query).has('sessiontoken'))).toBe(true);

    // dynamics-web-api downloads in 4 MB chunks whose base64 JSON form exceeds what a Lambda response
    // carries (docs/proxy.md, "Compression and size limits"): the large file is read back from $value in ranges.
    const jar = await signInOverHttp(stack);
    const parts: Buffer[] = [];
    for (let first = 0; first < data.length; first += CHUNK) {
      const range = await jar.fetch(`${stack.url}/api/data/v9.2/accounts(${id})/sample_document/$value`, {
        headers: { range: `bytes=${first}-${first + CHUNK - 1}` },
      });
      expect(range.status).toBe(206);
      expect(range.headers.get('x-ms-file-name')).toBe('large.bin');
      expect(range.headers.get('x-ms-file-size')).toBe(String(data.length));
      parts.push(Buffer.from(await range.arrayBuffer()));
    }
    expect(parts).toHaveLength(2);
    expect(Buffer.concat(parts).equals(data)).toBe(true);

    // A file that fits one download chunk goes both ways through the client.
    const small = randomBytes(2 * 1024 * 1024);
    await api.uploadFile({
      collection: 'accounts',
      key: id,
      property: 'sample_document',
      fileName: 'small.bin',
      data: small,
    });
    const downloaded = await api.downloadFile({ collection: 'accounts', key: id, property: 'sample_document' });
    expect(downloaded).toMatchObject({ fileName: 'small.bin', fileSize: small.length });
    expect(Buffer.from(downloaded.data as Uint8Array).equals(small)).toBe(true);
    expect(stack.dataverse!.requests.at(-1)!.headers.range).toBe(`bytes=0-${CHUNK - 1}`);
  });

  it('impersonates a user with impersonate (MSCRMCallerID) and impersonateAAD (CallerObjectId); WhoAmI names the caller', async () => {
    expect(await api.callFunction<{ UserId: string }>('WhoAmI')).toMatchObject({ UserId: DANA.systemuserid });
    expect(
      await api.callFunction<{ UserId: string }>({ name: 'WhoAmI', impersonate: AVERY.systemuserid }),
    ).toMatchObject({ UserId: AVERY.systemuserid });
    expect(stack.dataverse!.requests.at(-1)!.headers.mscrmcallerid).toBe(AVERY.systemuserid);

    // A record created while impersonating is Avery's.
    const asAvery = await api.create<{ name: string }, string>({
      collection: 'accounts',
      data: { name: 'Created as Avery' },
      impersonateAAD: AVERY.azureactivedirectoryobjectid,
    });
    expect(stack.dataverse!.requests.at(-1)!.headers.callerobjectid).toBe(AVERY.azureactivedirectoryobjectid);
    expect(await api.retrieve({ collection: 'accounts', key: asAvery, select: ['_createdby_value'] })).toMatchObject({
      _createdby_value: AVERY.systemuserid,
    });
  });

  it('shows Dataverse’s error code and message, passed through the proxy', async () => {
    const failure = await failureOf(api.retrieveMultiple({ collection: 'accounts', filter: 'nosuchcolumn eq 1' }));
    expect(failure).toMatchObject({
      status: 400,
      code: '0x80060888',
      message: expect.stringContaining("Could not find a property named 'nosuchcolumn'"),
    });
    expect(upstream()).toEqual(['GET /api/data/v9.2/accounts']);
  });
});

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

describe('an OData client shows the service’s own errors', () => {
  it('reads error.code and error.message of a 401 from the proxy', async () => {
    const failure = await failureOf(clientFor('not-a-session-token').callFunction('WhoAmI'));
    expect(failure).toMatchObject({
      status: 401,
      code: 'unauthenticated',
      message: 'No valid session: sign in at /auth/login.',
    });
  });

  it('impersonates through an API key created for it, and shows the refusal for one that was not', async () => {
    const plain = await connectedKey(false);
    const accounts = { collection: 'accounts', top: 1 };
    const refused = await failureOf(
      clientFor(plain, {
        headers: { 'Connection-Id': 'customer-1' },
        impersonateAAD: AVERY.azureactivedirectoryobjectid,
      }).retrieveMultiple(accounts),
    );
    expect(refused).toMatchObject({ status: 403, code: 'impersonation_not_allowed' });
    expect(refused.message).toMatch(/may not impersonate/);

    const delegate = await connectedKey(true);
    const before = stack.dataverse!.requests.length;
    const impersonating = clientFor(delegate, {
      headers: { 'Connection-Id': 'customer-1' },
      impersonateAAD: AVERY.azureactivedirectoryobjectid,
    });
    const page = await impersonating.retrieveMultiple(accounts);
    expect(page.value).toHaveLength(1);
    expect(stack.dataverse!.requests.length).toBe(before + 1);
    expect(stack.dataverse!.requests.at(-1)!.headers.callerobjectid).toBe(AVERY.azureactivedirectoryobjectid);
    // Dataverse ran the request as the impersonated user.
    expect(await impersonating.callFunction<{ UserId: string }>('WhoAmI')).toMatchObject({
      UserId: AVERY.systemuserid,
    });
  });
});
