import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandIn, type StandInHarness } from '../support/dataverse.ts';

let h: StandInHarness;
beforeAll(async () => {
  h = await startStandIn();
});
afterAll(async () => h?.stop());

const CHUNK = 4 * 1024 * 1024;
const newAccount = async () => h.dataverse.insert('accounts', { name: `Files ${Math.random()}` }).id;

/** Dataverse's chunked upload: start with x-ms-transfer-mode, then PATCH each chunk to Location. */
async function uploadInChunks(id: string, bytes: Buffer, fileName: string, chunkSize?: number) {
  const start = await h.call('PATCH', `accounts(${id})/sample_document`, {
    headers: { 'x-ms-transfer-mode': 'chunked', 'x-ms-file-name': fileName },
  });
  expect(start.status).toBe(200);
  const size = chunkSize ?? Number(start.headers.get('x-ms-chunk-size'));
  const location = start.headers.get('location')!;
  const statuses: number[] = [];
  for (let first = 0; first < bytes.length; first += size) {
    const chunk = bytes.subarray(first, first + size);
    const answer = await h.call('PATCH', location, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `bytes ${first}-${first + chunk.length - 1}/${bytes.length}`,
        'x-ms-file-name': fileName,
      },
      body: chunk,
    });
    statuses.push(answer.status);
  }
  return { start, location, statuses };
}

describe('Dataverse stand-in: file columns', () => {
  it('starts a chunked upload with x-ms-chunk-size and a Location at its own origin carrying a sessiontoken', async () => {
    const id = await newAccount();
    const { start, location } = await uploadInChunks(id, Buffer.from('tiny'), 'tiny.txt');
    expect(start.headers.get('x-ms-chunk-size')).toBe(String(CHUNK));
    const url = new URL(location);
    expect(url.origin).toBe(h.dataverse.url);
    expect(url.pathname).toBe(`/api/data/v9.2/accounts(${id})/sample_document`);
    expect(url.searchParams.get('sessiontoken')).toMatch(/^[\w-]{20,}$/);
  });

  it('uploads in chunks (206 until the last, then 204) and downloads by Range with Dataverse’s headers', async () => {
    const id = await newAccount();
    const bytes = randomBytes(CHUNK + 1234);
    const { statuses } = await uploadInChunks(id, bytes, 'report.pdf');
    expect(statuses).toEqual([206, 204]);
    const record = (await h.call('GET', `accounts(${id})?$select=sample_document,sample_document_name`)).json();
    expect(record).toMatchObject({
      sample_document: expect.stringMatching(/^[0-9a-f-]{36}$/),
      sample_document_name: 'report.pdf',
    });

    const parts: Buffer[] = [];
    for (let first = 0; first < bytes.length; first += CHUNK) {
      const answer = await h.call('GET', `accounts(${id})/sample_document/$value?size=full`, {
        headers: { range: `bytes=${first}-${first + CHUNK - 1}` },
      });
      expect(answer.status).toBe(206);
      expect(answer.headers.get('x-ms-file-name')).toBe('report.pdf');
      expect(answer.headers.get('x-ms-file-size')).toBe(String(bytes.length));
      expect(answer.headers.get('x-ms-chunk-size')).toBe(String(CHUNK));
      expect(answer.headers.get('mimetype')).toBe('application/pdf');
      expect(answer.headers.get('content-range')).toBe(
        `bytes ${first}-${Math.min(first + CHUNK, bytes.length) - 1}/${bytes.length}`,
      );
      parts.push(answer.bytes);
    }
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    const whole = await h.call('GET', `accounts(${id})/sample_document/$value`);
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(bytes)).toBe(true);
  });

  it('refuses chunks that skip bytes, exceed the chunk size, misstate their range or are not octet-stream, storing nothing', async () => {
    const id = await newAccount();
    const start = await h.call('PATCH', `accounts(${id})/sample_document`, {
      headers: { 'x-ms-transfer-mode': 'chunked', 'x-ms-file-name': 'a.bin' },
    });
    const location = start.headers.get('location')!;
    const send = (range: string, body: Buffer, type = 'application/octet-stream') =>
      h.call('PATCH', location, { headers: { 'content-type': type, 'content-range': range }, body });
    const cases: [string, Buffer, string?][] = [
      ['bytes 10-19/20', Buffer.alloc(10)],
      ['bytes 0-9/20', Buffer.alloc(5)],
      [`bytes 0-${CHUNK}/${CHUNK + 10}`, Buffer.alloc(CHUNK + 1)],
      ['bytes 0-9/20', Buffer.alloc(10), 'application/json'],
      ['0-9/20', Buffer.alloc(10)],
    ];
    for (const [range, body, type] of cases) {
      const answer = await send(range, body, type);
      expect(answer.status, range).toBe(400);
      expect(answer.json()).toMatchObject({ error: { code: '0x80040203' } });
    }
    expect((await h.call('GET', `accounts(${id})/sample_document/$value`)).status).toBe(404);
    const forged = await h.call('PATCH', location.replace(/sessiontoken=[^&]+/, 'sessiontoken=forged'), {
      headers: { 'content-type': 'application/octet-stream', 'content-range': 'bytes 0-1/2' },
      body: Buffer.alloc(2),
    });
    expect(forged.status).toBe(400);
  });

  it('refuses an upload without x-ms-file-name, stores a single-request upload, and answers ranges raw or base64 in JSON', async () => {
    const id = await newAccount();
    expect(
      (await h.call('PATCH', `accounts(${id})/sample_document`, { headers: { 'x-ms-transfer-mode': 'chunked' } }))
        .status,
    ).toBe(400);
    const single = await h.call('PATCH', `accounts(${id})/sample_document`, {
      headers: { 'content-type': 'application/octet-stream', 'x-ms-file-name': 'notes.txt' },
      body: Buffer.from('hello'),
    });
    expect(single.status).toBe(204);
    const answer = await h.call('GET', `accounts(${id})/sample_document/$value`, { headers: { range: 'bytes=1-3' } });
    expect([answer.status, answer.text, answer.headers.get('mimetype')]).toEqual([206, 'ell', 'text/plain']);
    expect(answer.headers.get('content-disposition')).toBe('attachment; filename="notes.txt"');
    const asJson = await h.call('GET', `accounts(${id})/sample_document?size=full`, {
      headers: { range: 'bytes=0-1' },
    });
    expect([asJson.status, Buffer.from(asJson.json().value as string, 'base64').toString()]).toEqual([206, 'he']);
    expect((await h.call('DELETE', `accounts(${id})/sample_document`)).status).toBe(204);
    expect((await h.call('GET', `accounts(${id})/sample_document/$value`)).status).toBe(404);
  });
});
