import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandIn, type StandInHarness } from '../support/dataverse.ts';

let h: StandInHarness;
beforeAll(async () => {
  h = await startStandIn();
});
afterAll(async () => h?.stop());

interface Part {
  headers?: Record<string, string>;
  line: string;
  requestHeaders?: Record<string, string>;
  body?: string;
}

/** One `application/http` part, CRLF-framed as OData 4.0 §11.7 and Dataverse's docs show. */
function httpPart({ headers = {}, line, requestHeaders = {}, body }: Part): string {
  const mime = Object.entries({ 'Content-Type': 'application/http', 'Content-Transfer-Encoding': 'binary', ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const request = Object.entries(requestHeaders)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `${mime}\r\n${line}\r\n${request}\r\n${body ?? ''}`;
}

function multipart(boundary: string, parts: string[]): string {
  return `${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\n`;
}

function changeset(boundary: string, parts: string[]): string {
  return `Content-Type: multipart/mixed; boundary=${boundary}\r\n\r\n${multipart(boundary, parts)}`;
}

const json = { 'Content-Type': 'application/json' };

async function batch(body: string, headers: Record<string, string> = {}) {
  return h.call('POST', '$batch', {
    headers: { 'content-type': 'multipart/mixed; boundary=batch_A', ...headers },
    body,
  });
}

/** The status lines of a multipart answer, in order. */
const statuses = (text: string) => [...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
const count = async (set: string) => Number((await h.call('GET', `${set}/$count`)).text);

describe('Dataverse stand-in: $batch', () => {
  it('runs a changeset with Content-ID references (in a URL and in @odata.bind) and a GET, answering in framed multipart', async () => {
    const body = multipart('batch_A', [
      changeset('changeset_B', [
        httpPart({
          headers: { 'Content-ID': '1' },
          line: `POST ${h.root}accounts HTTP/1.1`,
          requestHeaders: json,
          body: '{"name":"Batch parent"}',
        }),
        httpPart({
          headers: { 'Content-ID': '2' },
          line: 'POST $1/contact_customer_accounts HTTP/1.1',
          requestHeaders: json,
          body: '{"lastname":"Batch child"}',
        }),
        httpPart({
          headers: { 'Content-ID': '3' },
          line: 'PATCH $1 HTTP/1.1',
          requestHeaders: json,
          body: '{"primarycontactid@odata.bind":"$2"}',
        }),
      ]),
      httpPart({
        line: `GET ${h.root}accounts?$select=name&$filter=${encodeURIComponent("name eq 'Batch parent'")}&$expand=primarycontactid($select=lastname) HTTP/1.1`,
        requestHeaders: { Accept: 'application/json' },
      }),
    ]);
    const answer = await batch(body);
    expect(answer.status).toBe(200);
    const outer = /^multipart\/mixed; boundary=(batchresponse_[\w-]+)$/.exec(answer.headers.get('content-type')!)![1]!;
    expect(answer.text.startsWith(`--${outer}\r\nContent-Type: multipart/mixed; boundary=changesetresponse_`)).toBe(
      true,
    );
    expect(answer.text.endsWith(`--${outer}--\r\n`)).toBe(true);
    const inner = /boundary=(changesetresponse_[\w-]+)/.exec(answer.text)![1]!;
    expect(answer.text.split(`--${inner}\r\n`)).toHaveLength(4);
    expect(answer.text).toContain(`--${inner}--`);
    expect(statuses(answer.text)).toEqual([204, 204, 204, 200]);
    for (const id of ['1', '2', '3'])
      expect(answer.text).toMatch(new RegExp(`Content-ID: ${id}\\r\\n\\r\\nHTTP/1\\.1 204 No Content\\r\\n`));
    expect(answer.text).toMatch(
      new RegExp(`odata-entityid: ${h.root.replace(/[.$]/g, '\\$&')}accounts\\([0-9a-f-]{36}\\)\\r\\n`),
    );
    const result = JSON.parse(
      answer.text.slice(answer.text.indexOf('{"@odata.context"'), answer.text.lastIndexOf('}') + 1),
    ) as { value: Record<string, unknown>[] };
    expect(result.value).toEqual([
      expect.objectContaining({
        name: 'Batch parent',
        primarycontactid: expect.objectContaining({ lastname: 'Batch child' }),
      }),
    ]);
  });

  it('rolls the whole changeset back when one of its requests fails, and answers with that request’s error', async () => {
    const [accounts, contacts] = [await count('accounts'), await count('contacts')];
    const body = multipart('batch_A', [
      changeset('changeset_C', [
        httpPart({
          headers: { 'Content-ID': '1' },
          line: `POST ${h.root}accounts HTTP/1.1`,
          requestHeaders: json,
          body: '{"name":"Rolled back"}',
        }),
        httpPart({
          headers: { 'Content-ID': '2' },
          line: `POST ${h.root}contacts HTTP/1.1`,
          requestHeaders: json,
          body: '{"lastname":"Rolled back","parentcustomerid_account@odata.bind":"$1"}',
        }),
        httpPart({
          headers: { 'Content-ID': '3' },
          line: `POST ${h.root}accounts HTTP/1.1`,
          requestHeaders: json,
          body: '{"name":"Bad","nosuchcolumn":1}',
        }),
      ]),
    ]);
    const answer = await batch(body);
    expect(answer.status).toBe(200);
    expect(statuses(answer.text)).toEqual([400]);
    expect(answer.text).toContain('Content-ID: 3\r\n');
    expect(answer.text).toContain('"code":"0x80048d19"');
    expect([await count('accounts'), await count('contacts')]).toEqual([accounts, contacts]);
    const named = await h.call('GET', `accounts?$filter=${encodeURIComponent("name eq 'Rolled back'")}`);
    expect(named.json().value).toEqual([]);
  });

  it('refuses a part whose absolute URL is at another origin, and stops the batch there', async () => {
    const before = await count('accounts');
    const body = multipart('batch_A', [
      httpPart({
        line: 'POST http://localhost:3000/api/data/v9.2/accounts HTTP/1.1',
        requestHeaders: json,
        body: '{"name":"Elsewhere"}',
      }),
      httpPart({ line: `POST ${h.root}accounts HTTP/1.1`, requestHeaders: json, body: '{"name":"After the failure"}' }),
    ]);
    const answer = await batch(body);
    expect(statuses(answer.text)).toEqual([400]);
    expect(answer.text).toContain('is not valid because it is not based on');
    expect(await count('accounts')).toBe(before);
  });

  it('goes on after a failure with Prefer: odata.continue-on-error', async () => {
    const before = await count('accounts');
    const body = multipart('batch_A', [
      httpPart({ line: `GET ${h.root}accounts(00000000-0000-4000-8000-000000000000) HTTP/1.1` }),
      httpPart({
        line: 'POST /api/data/v9.2/accounts HTTP/1.1',
        requestHeaders: json,
        body: '{"name":"Relative path"}',
      }),
    ]);
    const answer = await batch(body, { prefer: 'odata.continue-on-error' });
    expect(answer.headers.get('preference-applied')).toBe('odata.continue-on-error');
    expect(statuses(answer.text)).toEqual([404, 204]);
    expect(await count('accounts')).toBe(before + 1);
  });

  it('refuses GET inside a changeset, a Content-ID reference to nothing, and a body that is not multipart', async () => {
    const get = multipart('batch_A', [
      changeset('changeset_D', [httpPart({ headers: { 'Content-ID': '1' }, line: `GET ${h.root}accounts HTTP/1.1` })]),
    ]);
    expect(statuses((await batch(get)).text)).toEqual([400]);
    const dangling = multipart('batch_A', [
      changeset('changeset_E', [
        httpPart({
          headers: { 'Content-ID': '1' },
          line: 'PATCH $9 HTTP/1.1',
          requestHeaders: json,
          body: '{"name":"x"}',
        }),
      ]),
    ]);
    expect(statuses((await batch(dangling)).text)).toEqual([400]);
    const plain = await h.call('POST', '$batch', { headers: json, body: '{}' });
    expect(plain.status).toBe(400);
    expect(plain.json()).toMatchObject({ error: { code: '0x80048d19' } });
  });

  it('accepts the framing dynamics-web-api writes (no space before boundary, blank line before the request line)', async () => {
    const body = [
      '\r\n--dwa_batch_1',
      'Content-Type: multipart/mixed;boundary=changeset_1',
      '\r\n--changeset_1',
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      'Content-ID: 100001',
      `\r\nPOST ${h.root}accounts HTTP/1.1`,
      'Content-Type: application/json',
      '\r\n{"name":"From the library"}',
      '\r\n--changeset_1--',
      '\r\n--dwa_batch_1--\r\n',
    ].join('\r\n');
    const answer = await h.call('POST', '$batch', {
      headers: { 'content-type': 'multipart/mixed;boundary=dwa_batch_1' },
      body,
    });
    expect(statuses(answer.text)).toEqual([204]);
    expect(answer.text).toContain('Content-ID: 100001');
  });
});
