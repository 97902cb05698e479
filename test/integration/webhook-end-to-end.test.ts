/**
 * Webhooks end to end in local mode: a backend's user connects → the connection row's write → the
 * local change feed → the outbox processor → the in-process queue → a signed POST to a receiver on
 * loopback, verified with the Standard Webhooks library itself; a retried delivery keeps its
 * webhook-id; an endpoint that is down fails no request; `admin webhooks deliveries` lists attempts.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { LocalKeyProvider } from '../../shared/crypto/local-key-provider.ts';
import { createDynamoClient, DynamoApiKeyStore } from '../../shared/stores/dynamodb.ts';
import { DynamoWebhookEndpointStore } from '../../shared/webhooks/endpoint-store.ts';
import { newEndpoint } from '../../shared/webhooks/endpoints.ts';
import { localWebhookOutbox } from '../../shared/webhooks/local-outbox.ts';
import { CookieJar } from '../support/cookie-jar.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

let stack: LocalStack;
let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];
/** Statuses the receiver answers with, in turn (then 204). */
const answers: number[] = [];

beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0' } });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(answers.shift() ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
});
afterAll(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
  await stack?.stop();
});

/** A backend with an API key and one webhook endpoint at `url`; returns its key and the endpoint's secret. */
async function backendWithEndpoint(name: string, url: string) {
  const client = createDynamoClient({ endpoint: stack.dynamodbEndpoint });
  try {
    const { key, record } = generateApiKey(name, Date.now());
    await new DynamoApiKeyStore(client, 'ApiKeys').create(record);
    const keys = LocalKeyProvider.fromFile(process.env.LOCAL_KEY_FILE!);
    const { endpoint, secret } = await newEndpoint({ keys }, record.keyId, url, Math.floor(Date.now() / 1000));
    expect(await new DynamoWebhookEndpointStore(client, 'ApiKeys').create(endpoint, 10)).toBe(true);
    return { key, keyId: record.keyId, endpointId: endpoint.id, secret };
  } finally {
    client.destroy();
  }
}

async function asBackend(key: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, text: await response.text() };
}

/** The backend asks for a connect link and the user signs in at the development IdP. */
async function connectUser(key: string, connectionId: string): Promise<number> {
  const created = await asBackend(key, 'POST', '/connect/sessions', { connectionId, returnTo: `${stack.url}/` });
  expect(created.status).toBe(201);
  const jar = new CookieJar();
  const start = await jar.fetch((JSON.parse(created.text) as { connectUrl: string }).connectUrl);
  const authorize = await jar.fetch(start.headers.get('location')!);
  const callback = await jar.fetch(authorize.headers.get('location')!);
  return callback.status;
}

/** Waits (bounded) until `count` requests reached the receiver. */
async function receivedCount(count: number, timeoutMs = 15_000): Promise<Received[]> {
  const until = Date.now() + timeoutMs;
  while (received.length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  expect(received.length).toBeGreaterThanOrEqual(count);
  return received.slice(0, count);
}

function admin(...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tools/admin.ts', ...args], {
      env: { ...process.env, DYNAMODB_ENDPOINT: stack.dynamodbEndpoint },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, out });
    });
  });
}

describe('webhooks in local mode', () => {
  let alpha: Awaited<ReturnType<typeof backendWithEndpoint>>;

  it('a new connection reaches the receiver as a signed connection.created the spec library verifies', async () => {
    alpha = await backendWithEndpoint('alpha', receiverUrl);
    expect(await connectUser(alpha.key, 'customer-1')).toBe(302);
    const [hook] = await receivedCount(1);
    const payload = new Webhook(alpha.secret).verify(hook!.body, hook!.headers as Record<string, string>) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(payload.type).toBe('connection.created');
    expect(payload.data).toMatchObject({ connectionId: 'customer-1', state: 'active' });
    expect(hook!.headers['webhook-id']).toMatch(/^evt_/);
    // A wrong secret does not verify.
    const other = await backendWithEndpoint('other', receiverUrl);
    expect(() => new Webhook(other.secret).verify(hook!.body, hook!.headers as Record<string, string>)).toThrow();
    // Ids and state only.
    expect(hook!.body).not.toMatch(/eyJ|refresh|access_?token|dak_|whsec_/i);
  });

  it('a retried delivery carries the same webhook-id, and each attempt verifies', async () => {
    received.length = 0;
    answers.push(503);
    const deleted = await asBackend(alpha.key, 'DELETE', '/connections/customer-1');
    expect(deleted.status).toBe(204);
    // The first attempt gets 503; the retry follows 5 s later (the schedule's first step).
    const [first, second] = await receivedCount(2, 20_000);
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    for (const attempt of [first!, second!]) {
      const payload = new Webhook(alpha.secret).verify(attempt.body, attempt.headers as Record<string, string>) as {
        type: string;
      };
      expect(payload.type).toBe('connection.deleted');
    }
    await localWebhookOutbox()!.queue.idle();
  });

  it('an endpoint that is down fails no request: the user still connects and the connection works', async () => {
    // A port nothing listens on (the receiver's server closed at once).
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/hooks`;
    await new Promise((resolve) => closed.close(resolve));
    const beta = await backendWithEndpoint('beta', deadUrl);

    expect(await connectUser(beta.key, 'customer-2')).toBe(302);
    const info = await asBackend(beta.key, 'GET', '/connections/customer-2');
    expect(info.status).toBe(200);
    expect(JSON.parse(info.text)).toMatchObject({ status: 'active' });
    // The delivery failed and waits for its retry.
    const until = Date.now() + 10_000;
    while (Date.now() < until && !(await admin('webhooks', 'deliveries')).out.includes(beta.endpointId)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const listing = (await admin('webhooks', 'deliveries', '--limit', '20')).out;
    expect(listing).toMatch(
      new RegExp(`connection\\.created\\s+${beta.endpointId}\\s+attempt 1\\s+retrying \\(network\\)`),
    );
  });

  it('admin webhooks deliveries lists recent attempts with ids and status, and no secret', async () => {
    const r = await admin('webhooks', 'deliveries', '--limit', '50');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(
      new RegExp(`connection\\.created\\s+${alpha.endpointId}\\s+attempt 1\\s+delivered \\(204\\)`),
    );
    expect(r.out).toMatch(new RegExp(`connection\\.deleted\\s+${alpha.endpointId}\\s+attempt 1\\s+retrying \\(503\\)`));
    expect(r.out).toMatch(
      new RegExp(`connection\\.deleted\\s+${alpha.endpointId}\\s+attempt 2\\s+delivered \\(204\\)`),
    );
    expect(r.out).not.toMatch(/whsec_|127\.0\.0\.1|dak_/);
    const limited = await admin('webhooks', 'deliveries', '--limit', '1');
    expect(limited.out.trim().split('\n')).toHaveLength(1);
    expect((await admin('webhooks', 'deliveries', '--limit', 'zero')).status).toBe(2);
  });
});
