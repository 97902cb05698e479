/**
 * The proxy maps URLs between Dataverse's origin and the service's: every link a client sees points
 * at the service, every service URL a client sends reaches Dataverse as a Dataverse URL, and record
 * data passes byte for byte.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jsonBody, PUBLIC_BASE, signIn, startTestStack, type TestStack } from '../support/stack.ts';
import type { HttpResponse } from '../../shared/http/response.ts';

let stack: TestStack;
let auth: Record<string, string>;
beforeAll(async () => {
  stack = await startTestStack();
  const { sessionToken } = await signIn(stack);
  auth = { authorization: `Bearer ${sessionToken}` };
});
afterAll(async () => stack?.stop());
beforeEach(() => {
  stack.dataverse.requests.length = 0;
});

const API = '/api/data/v9.2';
const bodyText = (r: HttpResponse) =>
  (r.isBase64Encoded ? Buffer.from(r.body ?? '', 'base64') : Buffer.from(r.body ?? '')).toString('utf8');

/** Calls an absolute URL the proxy handed out, as a client following it would. */
async function follow(link: string, headers: Record<string, string>): Promise<HttpResponse> {
  expect(link.startsWith(`${PUBLIC_BASE}/api/data/`)).toBe(true);
  const url = new URL(link);
  return stack.routes().proxy({ path: url.pathname, query: url.search.slice(1), headers });
}

describe('proxy URL mapping', () => {
  it('a client following @odata.nextLink from the proxy’s answers gets every page (three pages), all links at the service', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `Paged ${i}`);
    for (const name of names) stack.dataverse.insert('accounts', { name });
    const headers = { ...auth, prefer: 'odata.maxpagesize=2' };
    const seen: unknown[] = [];
    let answer = await stack.routes().proxy({ path: `${API}/accounts`, query: '$select=name&$top=6', headers });
    let pages = 1;
    for (;;) {
      expect(answer.statusCode).toBe(200);
      const page = jsonBody(answer) as { value: unknown[]; '@odata.context': string; '@odata.nextLink'?: string };
      // With $select, Dataverse names the selected columns in the context URL.
      expect(page['@odata.context']).toBe(`${PUBLIC_BASE}/api/data/v9.2/$metadata#accounts(name)`);
      seen.push(...page.value);
      if (!page['@odata.nextLink']) break;
      answer = await follow(page['@odata.nextLink'], headers);
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(6);
    // Dataverse itself saw its own origin every time, and the skip tokens it handed out.
    expect(stack.dataverse.requests.map((r) => new URLSearchParams(r.query).get('$skiptoken'))).toEqual([
      null,
      '2',
      '4',
    ]);
  });

  it('points OData-EntityId and Location at the service', async () => {
    const created = await stack.routes().proxy({
      method: 'POST',
      path: `${API}/accounts`,
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"name":"Linked"}',
    });
    expect(created.statusCode).toBe(204);
    expect(created.headers['odata-entityid']).toMatch(
      new RegExp(`^${PUBLIC_BASE}/api/data/v9\\.2/accounts\\([0-9a-f-]{36}\\)$`),
    );
    expect(created.headers.location).toBe(created.headers['odata-entityid']);
    const read = await follow(created.headers['odata-entityid']!, auth);
    expect(jsonBody(read)).toMatchObject({ name: 'Linked' });
  });

  it('sends @odata.bind and @odata.id with a service URL to Dataverse as a Dataverse URL; other values and bytes unchanged', async () => {
    const parent = stack.dataverse.insert('accounts', { name: 'Parent' });
    const atService = `${PUBLIC_BASE}/api/data/v9.2/accounts(${parent.id})`;
    // Columns of Dataverse's account; a JSON round trip would change the escaped slashes and the decimal's digits.
    const raw =
      `{"description":"${atService}",` +
      `"parentaccountid@odata.bind":"${atService}",` +
      `"@odata.id":"${atService.replaceAll('/', '\\/')}","revenue":1234567890.12000000000000000001}`;
    const answer = await stack.routes().proxy({
      method: 'POST',
      path: `${API}/accounts`,
      headers: { ...auth, 'content-type': 'application/json' },
      body: raw,
    });
    expect(answer.statusCode).toBe(204);
    const sent = stack.dataverse.requests.at(-1)!.body.toString('utf8');
    const E = stack.dataverse.url;
    expect(sent).toBe(
      raw
        .replace(`"parentaccountid@odata.bind":"${PUBLIC_BASE}`, `"parentaccountid@odata.bind":"${E}`)
        .replace(`"@odata.id":"${PUBLIC_BASE.replaceAll('/', '\\/')}`, `"@odata.id":"${E.replaceAll('/', '\\/')}`),
    );
    // Dataverse resolved the bind (it refuses URLs at any other origin); the text column kept the service URL.
    const read = await follow(answer.headers['odata-entityid']!, auth);
    expect(jsonBody(read)).toMatchObject({ _parentaccountid_value: parent.id, description: atService });
  });

  it('sends a $batch whose part request lines and Host name the service to Dataverse with its own origin, and maps the batch response back', async () => {
    const E = stack.dataverse.url;
    const service = new URL(PUBLIC_BASE);
    const batch = [
      '--batch_x',
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      '',
      `GET ${PUBLIC_BASE}/api/data/v9.2/accounts?$select=name HTTP/1.1`,
      `Host: ${service.host}`,
      '',
      '',
      '--batch_x',
      'Content-Type: multipart/mixed;boundary=changeset_y',
      '',
      '--changeset_y',
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      'Content-ID: 1',
      '',
      `POST ${PUBLIC_BASE}/api/data/v9.2/contacts HTTP/1.1`,
      'Content-Type: application/json',
      '',
      `{"lastname":"L","parentcustomerid_account@odata.bind":"${PUBLIC_BASE}/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)"}`,
      '--changeset_y--',
      '--batch_x--',
      '',
    ].join('\r\n');
    const answer = await stack.routes().proxy({
      method: 'POST',
      path: `${API}/$batch`,
      headers: { ...auth, 'content-type': 'multipart/mixed;boundary=batch_x' },
      body: Buffer.from(batch),
    });
    expect(answer.statusCode).toBe(200);
    const received = stack.dataverse.requests.at(-1)!.body.toString('utf8');
    expect(received).toBe(
      batch
        .replace(`GET ${PUBLIC_BASE}/api/data/`, `GET ${E}/api/data/`)
        .replace(`Host: ${service.host}`, `Host: ${new URL(E).host}`)
        .replace(`POST ${PUBLIC_BASE}/api/data/`, `POST ${E}/api/data/`)
        .replace(
          `"parentcustomerid_account@odata.bind":"${PUBLIC_BASE}`,
          `"parentcustomerid_account@odata.bind":"${E}`,
        ),
    );
    expect(received).not.toContain(PUBLIC_BASE);

    // A batch response as Dataverse writes it: part headers and JSON bodies at Dataverse's origin.
    const response = [
      '--batchresponse_z',
      'Content-Type: multipart/mixed; boundary=changesetresponse_w',
      '',
      '--changesetresponse_w',
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      'Content-ID: 1',
      '',
      'HTTP/1.1 204 No Content',
      `OData-EntityId: ${E}/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000002)`,
      `Location: ${E}/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000002)`,
      '',
      '',
      '--changesetresponse_w--',
      '--batchresponse_z',
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      '',
      'HTTP/1.1 200 OK',
      'Content-Type: application/json; odata.metadata=minimal',
      '',
      `{"@odata.context":"${E}/api/data/v9.2/$metadata#accounts(name)","value":[{"name":"${E}/api/data/v9.2/accounts","n":1.50}]}`,
      '--batchresponse_z--',
      '',
    ].join('\r\n');
    stack.dataverse.failNext(200, 1, { 'content-type': 'multipart/mixed; boundary=batchresponse_z' }, response);
    const mapped = await stack.routes().proxy({
      method: 'POST',
      path: `${API}/$batch`,
      headers: { ...auth, 'content-type': 'multipart/mixed;boundary=batch_x' },
      body: Buffer.from(batch),
    });
    expect(bodyText(mapped)).toBe(
      response
        .replace(`OData-EntityId: ${E}`, `OData-EntityId: ${PUBLIC_BASE}`)
        .replace(`Location: ${E}`, `Location: ${PUBLIC_BASE}`)
        .replace(`"@odata.context":"${E}`, `"@odata.context":"${PUBLIC_BASE}`),
    );
  });

  it('passes record data byte for byte: a text column holding a Dataverse URL, big integers and decimals', async () => {
    const E = stack.dataverse.url;
    const account = stack.dataverse.insert('accounts', {
      name: 'Data',
      description: `${E}/api/data/v9.2/accounts(x)`,
      websiteurl: `${E}/api/data/`,
    });
    const read = await stack.routes().proxy({ path: `${API}/accounts(${account.id})`, headers: auth });
    expect(jsonBody(read)).toMatchObject({
      description: `${E}/api/data/v9.2/accounts(x)`,
      websiteurl: `${E}/api/data/`,
    });

    // Dataverse writes decimals with their scale and integers beyond 2^53; a JSON round trip would change both.
    const page =
      `{"@odata.context":"${E}/api/data/v9.2/$metadata#accounts","value":[{"@odata.etag":"W/\\"1\\"","versionnumber":9007199254740993,` +
      `"revenue":1234567890.1200,"exchangerate":1.000000000000,"big":123456789012345678901234567890,"description":"${E}\\/api\\/data\\/v9.2\\/accounts","name":"Z\\u00fcrich 😀"}]}`;
    stack.dataverse.failNext(200, 1, { 'content-type': 'application/json; odata.metadata=minimal' }, page);
    const answer = await stack.routes().proxy({ path: `${API}/accounts`, headers: auth });
    expect(bodyText(answer)).toBe(page.replace(`{"@odata.context":"${E}`, `{"@odata.context":"${PUBLIC_BASE}`));
  });
});
