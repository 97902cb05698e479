import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../shared/config/config.ts';
import { createSelfSignedCertificate } from '../../shared/crypto/certificate.ts';
import { LocalRsaSigner } from '../../shared/crypto/signer.ts';
import { webhookEventId, type WebhookEvent } from '../../shared/webhooks/events.ts';
import { generateWebhookSecret } from '../../shared/webhooks/secrets.ts';
import { sendWebhook, webhookSenderDeps, type SenderDeps } from '../../shared/webhooks/sender.ts';

// The receiver is plain http on 127.0.0.1, reached through the explicit test-only allowance
// (`allowAddress`), which production wiring never sets (last describe). One test uses a TLS
// receiver with a self-signed certificate to show the https path pins the address and sends SNI.

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let receiver: Server;
let port: number;
const received: Received[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      const status = Number(/^\/status\/(\d{3})$/.exec(req.url ?? '')?.[1] ?? 0);
      if (req.url === '/slow') return; // never answers
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `http://127.0.0.1:${port}/status/200` }).end();
        return;
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(2_000_000));
        return;
      }
      res.writeHead(status || 404, { 'content-type': 'text/plain' }).end('answer');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  port = (receiver.address() as AddressInfo).port;
});
afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});
afterEach(() => {
  received.length = 0;
  vi.restoreAllMocks();
});

const event: WebhookEvent = {
  id: webhookEventId('row-1', 2, 'connection.created'),
  type: 'connection.created',
  timestamp: 1_800_000_000,
  ownerKeyId: 'ownerAAAAAAA',
  data: { connectionId: 'customer-42', state: 'active', version: 2 },
};
const secret = generateWebhookSecret();
const loopbackOnly = (ip: string) => ip === '127.0.0.1';
const deps = (overrides: Partial<SenderDeps> = {}): SenderDeps => ({
  resolve: async (host) => (host === 'hooks.test' ? ['127.0.0.1'] : []),
  allowAddress: loopbackOnly,
  nowSec: () => Math.floor(Date.now() / 1000),
  ...overrides,
});
const at = (path: string) => `http://hooks.test:${port}${path}`;

describe('webhook sender against a local receiver', () => {
  it('2xx: delivered, signed so that the receiver verifies it with the standardwebhooks library (both secrets)', async () => {
    const previous = generateWebhookSecret();
    const logs = ['log', 'info', 'warn', 'error', 'debug'].map((m) => vi.spyOn(console, m as 'log'));
    const result = await sendWebhook(at('/status/200'), [secret, previous], event, deps());
    expect(result).toMatchObject({ ok: true, status: 200, retryable: false });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(received).toHaveLength(1);
    const { headers, body } = received[0]!;
    expect(headers['content-type']).toBe('application/json');
    expect(headers['webhook-id']).toBe(event.id);
    expect(headers.host).toBe(`hooks.test:${port}`);
    const verified = { ...(headers as Record<string, string>) };
    expect(new Webhook(secret).verify(body, verified)).toMatchObject({
      type: 'connection.created',
      data: { connectionId: 'customer-42' },
    });
    expect(new Webhook(previous).verify(body, verified)).toBeTruthy();
    for (const log of logs) expect(log).not.toHaveBeenCalled();
  });

  it.each([
    [500, true],
    [503, true],
    [429, true],
    [408, true],
    [400, false],
    [401, false],
    [404, false],
    [410, false],
  ])('status %i: failed, retryable=%s', async (status, retryable) => {
    const result = await sendWebhook(at(`/status/${status}`), [secret], event, deps());
    expect(result).toMatchObject({ ok: false, status, error: 'http_status', retryable });
  });

  it('does not follow a redirect: failure "redirect", the target is never called', async () => {
    const result = await sendWebhook(at('/redirect'), [secret], event, deps());
    expect(result).toMatchObject({ ok: false, status: 302, error: 'redirect', retryable: false });
    expect(received.map((r) => r.path)).toEqual(['/redirect']);
  });

  it('gives up after the timeout: failure "timeout", retryable', async () => {
    const result = await sendWebhook(at('/slow'), [secret], event, deps({ timeoutMs: 300 }));
    expect(result).toMatchObject({ ok: false, error: 'timeout', retryable: true });
    expect(result.durationMs).toBeGreaterThanOrEqual(250);
    expect(result.durationMs).toBeLessThan(3_000);
  });

  it('does not read a large response body', async () => {
    const result = await sendWebhook(at('/big'), [secret], event, deps());
    expect(result).toMatchObject({ ok: true, status: 200 });
  });

  it('a refused connection is a retryable network failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await sendWebhook(`http://hooks.test:${closedPort}/`, [secret], event, deps());
    expect(result).toMatchObject({ ok: false, error: 'network', retryable: true });
  });
});

describe('webhook sender: SSRF refusals', () => {
  const noAllowance = (resolve: SenderDeps['resolve']): SenderDeps => ({ resolve, nowSec: () => 1 });

  it('refuses http without the test allowance (not_https), before resolving anything', async () => {
    const resolve = vi.fn(async () => ['8.8.8.8']);
    const result = await sendWebhook('http://hooks.example.com/in', [secret], event, noAllowance(resolve));
    expect(result).toMatchObject({ ok: false, error: 'not_https', retryable: false });
    expect(resolve).not.toHaveBeenCalled();
  });

  it('refuses http to a public address even with the allowance: plain http only to what the allowance approves', async () => {
    const result = await sendWebhook(
      'http://hooks.example.com/in',
      [secret],
      event,
      deps({ resolve: async () => ['8.8.8.8'] }),
    );
    expect(result).toMatchObject({ ok: false, error: 'not_https' });
  });

  it.each([
    ['a private address', ['10.0.0.1']],
    ['the metadata service', ['169.254.169.254']],
    ['the IPv6 metadata service', ['fd00:ec2::254']],
    ['IPv4-mapped loopback', ['::ffff:7f00:1']],
    ['one private among public ones (every address must be public)', ['8.8.8.8', '192.168.1.1']],
  ])('refuses a host that resolves to %s', async (_what, addresses) => {
    const result = await sendWebhook(
      'https://hooks.example.com/in',
      [secret],
      event,
      noAllowance(async () => addresses),
    );
    expect(result).toMatchObject({ ok: false, error: 'refused_address', retryable: false });
  });

  it.each([
    'https://169.254.169.254/latest/meta-data/',
    'https://[::ffff:a9fe:a9fe]/',
    'https://10.1.2.3/',
    'https://[fd00:ec2::254]/',
  ])('refuses the IP literal %s without resolving', async (url) => {
    const resolve = vi.fn(async () => ['8.8.8.8']);
    expect(await sendWebhook(url, [secret], event, noAllowance(resolve))).toMatchObject({ error: 'refused_address' });
    expect(resolve).not.toHaveBeenCalled();
  });

  it('refuses the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API, 127.0.0.1:9001) as loopback', async () => {
    const runtimeApi = '127.0.0.1:9001';
    const result = await sendWebhook(
      `https://${runtimeApi}/2018-06-01/runtime/invocation/next`,
      [secret],
      event,
      noAllowance(async () => []),
    );
    expect(result).toMatchObject({ ok: false, error: 'refused_address', retryable: false });
  });

  it('DNS rebinding: resolves once and connects to the vetted address, not to a later (private) answer', async () => {
    let calls = 0;
    // First answer: the receiver (approved by the allowance, standing in for a public address);
    // any later answer: a private address. The host name itself does not exist in real DNS, so the
    // request arriving proves the socket used the pinned address and never looked the name up again.
    const resolve = async () => (calls++ === 0 ? ['127.0.0.1'] : ['10.0.0.1']);
    const result = await sendWebhook(`http://rebind.invalid:${port}/status/204`, [secret], event, deps({ resolve }));
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(calls).toBe(1);
    expect(received.map((r) => r.headers.host)).toEqual([`rebind.invalid:${port}`]);
  });

  it('a resolver slower than the timeout is a retryable timeout', async () => {
    const never = () => new Promise<string[]>(() => undefined);
    const result = await sendWebhook('https://hooks.example.com/in', [secret], event, {
      ...noAllowance(never),
      timeoutMs: 200,
    });
    expect(result).toMatchObject({ ok: false, error: 'timeout', retryable: true });
  });

  it('a resolver failure is a retryable network failure', async () => {
    const result = await sendWebhook(
      'https://hooks.example.com/in',
      [secret],
      event,
      noAllowance(async () => Promise.reject(new Error('ENOTFOUND'))),
    );
    expect(result).toMatchObject({ ok: false, error: 'network', retryable: true });
  });
});

describe('webhook sender: https', () => {
  let tls: TlsServer;
  let tlsPort: number;
  const serverNames: string[] = [];

  beforeAll(async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cert = await createSelfSignedCertificate(new LocalRsaSigner(privateKey), {
      subject: 'CN=hooks.test',
      days: 1,
    });
    tls = createTlsServer({
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      cert: cert.pem,
      SNICallback: (name, callback) => {
        serverNames.push(name);
        callback(null, undefined);
      },
    });
    tls.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    tlsPort = (tls.address() as AddressInfo).port;
  });
  afterAll(async () => new Promise((resolve) => tls.close(resolve)));

  it('connects to the vetted address with the URL host as SNI, and refuses an untrusted certificate', async () => {
    const result = await sendWebhook(`https://hooks.test:${tlsPort}/in`, [secret], event, deps());
    expect(serverNames).toEqual(['hooks.test']);
    // The self-signed certificate is not trusted: the delivery fails (and may be retried), nothing is sent.
    expect(result).toMatchObject({ ok: false, error: 'network', retryable: true });
  });
});

describe('the test allowance in configuration', () => {
  it('production configuration (https) never gets it, nor does a deployed function with a loopback configuration', () => {
    const production = loadConfig({
      CLIENT_ID: 'cid',
      DYNAMICS_URL: 'https://contoso.crm.dynamics.com',
      PUBLIC_BASE_URL: 'https://auth.example.com/',
      ALLOWED_RETURN_URLS: 'https://app.example.com',
    });
    expect(webhookSenderDeps(production, {}).allowAddress).toBeUndefined();
    expect(webhookSenderDeps({ allowInsecureLoopback: false }, {}).allowAddress).toBeUndefined();
    expect(
      webhookSenderDeps({ allowInsecureLoopback: false }, { AWS_LAMBDA_FUNCTION_NAME: 'x' }).allowAddress,
    ).toBeUndefined();
    expect(
      webhookSenderDeps({ allowInsecureLoopback: true }, { AWS_LAMBDA_FUNCTION_NAME: 'x' }).allowAddress,
    ).toBeUndefined();
  });

  it('local mode (plain-http loopback configuration) gets it for loopback addresses only', () => {
    const allow = webhookSenderDeps({ allowInsecureLoopback: true }, {}).allowAddress!;
    expect(allow('127.0.0.1')).toBe(true);
    expect(allow('::1')).toBe(true);
    for (const ip of ['10.0.0.1', '169.254.169.254', '127.0.0.2', '8.8.8.8']) expect(allow(ip), ip).toBe(false);
  });
});
