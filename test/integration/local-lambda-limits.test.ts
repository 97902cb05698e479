/**
 * Lambda's limits in local mode. A synchronous invocation carries at most 6 MB each way (Lambda Invoke
 * API); the local server measures what Lambda measures (the event JSON, with the body base64-encoded,
 * and the result JSON) and answers as an HTTP API does: 413 {"message":"Request Entity Too Large"}
 * for an event over the limit, 500 {"message":"Internal Server Error"} for a result over it.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLocalServer,
  LAMBDA_MAX_EVENT_BYTES,
  LAMBDA_MAX_RESULT_BYTES,
  type LocalApp,
} from '../../local/server.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import type { CookieJar } from '../support/cookie-jar.ts';
import { signInOverHttp } from '../support/local-session.ts';

describe('the local server enforces Lambda’s 6 MB payload limits with the errors an HTTP API gives', () => {
  let server: Server;
  let base = '';
  let invocations = 0;
  /** `{"statusCode":200,"body":""}`: the result JSON around a text body. */
  const RESULT_OVERHEAD = JSON.stringify({ statusCode: 200, body: '' }).length;
  const BASE64_RESULT_OVERHEAD = JSON.stringify({ statusCode: 200, body: '', isBase64Encoded: true }).length;
  const app: LocalApp = {
    statics: [],
    routes: [
      {
        method: 'POST',
        path: /^\/echo-size$/,
        name: 'echo-size',
        timeoutMs: 5_000,
        handler: async (event) => {
          invocations += 1;
          return { statusCode: 200, body: String(Buffer.byteLength(JSON.stringify(event))) };
        },
      },
      {
        method: 'GET',
        path: /^\/sized\/\d+$/,
        name: 'sized',
        timeoutMs: 5_000,
        handler: async (event) => ({
          statusCode: 200,
          body: 'a'.repeat(Number(event.rawPath.split('/')[2]) - RESULT_OVERHEAD),
        }),
      },
      {
        method: 'GET',
        path: /^\/sized-base64\/\d+$/,
        name: 'sized-base64',
        timeoutMs: 5_000,
        handler: async (event) => ({
          statusCode: 200,
          body: 'A'.repeat(Number(event.rawPath.split('/')[2]) - BASE64_RESULT_OVERHEAD),
          isBase64Encoded: true,
        }),
      },
    ],
  };
  beforeAll(async () => {
    server = createLocalServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const post = (bytes: number) => fetch(`${base}/echo-size`, { method: 'POST', body: Buffer.alloc(bytes, 0x61) });

  it('invokes the function with an event just under 6291456 bytes, and answers 413 Request Entity Too Large for one at or just over it without invoking the function', async () => {
    // The event around the body (headers, request context) is the same for bodies with 7-digit lengths.
    const probe = 3_000_000;
    const overhead = Number(await (await post(probe)).text()) - (probe / 3) * 4;
    const room = LAMBDA_MAX_EVENT_BYTES - overhead;
    const under = 3 * Math.floor((room - 1) / 4);
    const over = under + 3;

    const fits = await post(under);
    expect(fits.status).toBe(200);
    const eventBytes = Number(await fits.text());
    expect(eventBytes).toBeLessThan(LAMBDA_MAX_EVENT_BYTES);
    expect(eventBytes).toBeGreaterThanOrEqual(LAMBDA_MAX_EVENT_BYTES - 4);

    const before = invocations;
    const refused = await post(over);
    expect(refused.status).toBe(413);
    expect(refused.headers.get('content-type')).toBe('application/json');
    expect(await refused.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(invocations).toBe(before);
  });

  it('returns a result of exactly 6291556 bytes, and answers 500 Internal Server Error for one a byte larger', async () => {
    const fits = await fetch(`${base}/sized/${LAMBDA_MAX_RESULT_BYTES}`);
    expect(fits.status).toBe(200);
    expect((await fits.text()).length).toBe(LAMBDA_MAX_RESULT_BYTES - RESULT_OVERHEAD);

    const failed = await fetch(`${base}/sized/${LAMBDA_MAX_RESULT_BYTES + 1}`);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ message: 'Internal Server Error' });
  });

  it('counts a base64 result (measured without copying it) the same way: at the limit it passes, a byte more fails', async () => {
    const fits = await fetch(`${base}/sized-base64/${LAMBDA_MAX_RESULT_BYTES}`);
    expect(fits.status).toBe(200);
    const sent = Buffer.from('A'.repeat(LAMBDA_MAX_RESULT_BYTES - BASE64_RESULT_OVERHEAD), 'base64');
    expect((await fits.arrayBuffer()).byteLength).toBe(sent.length);
    const failed = await fetch(`${base}/sized-base64/${LAMBDA_MAX_RESULT_BYTES + 1}`);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ message: 'Internal Server Error' });
  });
});

describe('the proxy in local mode fails a body Lambda cannot carry, as deployed', () => {
  let stack: LocalStack;
  let jar: CookieJar;
  beforeAll(async () => {
    stack = await startLocalStack({ env: { PORT: '0' } });
    jar = await signInOverHttp(stack);
  });
  afterAll(async () => stack?.stop());

  /** A file column's content in one request (Dataverse takes up to 128 MB so), cookie-authenticated as a browser sends it. */
  const upload = (id: string, bytes: Buffer) =>
    jar.fetch(`${stack.url}/api/data/v9.2/accounts(${id})/sample_document`, {
      method: 'PATCH',
      headers: {
        'x-csrf': '1',
        origin: stack.url,
        'content-type': 'application/octet-stream',
        'x-ms-file-name': 'large.bin',
      },
      body: new Uint8Array(bytes),
    });
  /** The file's size and its last bytes, read back through the proxy (the whole file would exceed the response limit). */
  const tail = async (id: string) => {
    const answer = await jar.fetch(`${stack.url}/api/data/v9.2/accounts(${id})/sample_document/$value`, {
      headers: { range: 'bytes=4499990-' },
    });
    return {
      status: answer.status,
      size: answer.headers.get('x-ms-file-size'),
      bytes: Buffer.from(await answer.arrayBuffer()),
    };
  };

  it('forwards a 4.5 MB body (6.0 MB once base64-encoded in the event) and refuses a 4.8 MB one with 413 before Dataverse sees it', async () => {
    const id = stack.dataverse!.insert('accounts', { name: 'Large file' }).id;
    const content = randomBytes(4_500_000);
    const passed = await upload(id, content);
    expect(passed.status).toBe(204);
    expect(await tail(id)).toEqual({ status: 206, size: '4500000', bytes: content.subarray(4_499_990) });

    const before = stack.dataverse!.requests.length;
    const refused = await upload(id, randomBytes(4_800_000));
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(stack.dataverse!.requests.length).toBe(before);
    expect((await tail(id)).bytes.equals(content.subarray(4_499_990))).toBe(true);
  });
});
