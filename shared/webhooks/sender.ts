import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { isPublicAddress } from './address-rules.ts';
import { webhookPayload, type WebhookEvent } from './events.ts';
import { signatureHeaders } from './signature.ts';

export interface DeliveryResult {
  ok: boolean;
  status?: number;
  error?: 'refused_address' | 'timeout' | 'redirect' | 'http_status' | 'network' | 'not_https';
  /** Whether trying again later may succeed (see `isRetryableStatus`). */
  retryable: boolean;
  durationMs: number;
}

export interface SenderDeps {
  /** Resolves a host name to all its addresses (injectable DNS; production: `resolveHost`). */
  resolve(host: string): Promise<string[]>;
  /**
   * Test-only allowance for a loopback receiver: an address it approves passes although not public,
   * and plain http is accepted for it. Production wiring never sets it.
   */
  allowAddress?: (ip: string) => boolean;
  nowSec(): number;
  /** Whole attempt (DNS, connect, send, response headers); default 5 s. */
  timeoutMs?: number;
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;

/**
 * Which HTTP statuses are worth retrying: 408, 429 and 5xx (the receiver is busy or broken for now).
 * Other 4xx (400, 401, 404, 410 ...) mean the endpoint will not take this event: retrying would not help.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Delivers one event to one endpoint, signed per Standard Webhooks. The host is resolved once; every
 * address must be public (`isPublicAddress`), and the connection goes to the vetted address (the
 * socket's lookup is pinned), so a DNS answer that changes between check and connect (rebinding) is
 * never used. Redirects are not followed. Never throws; never logs the secret or the signature.
 */
export async function sendWebhook(
  url: string,
  secrets: string[],
  event: WebhookEvent,
  deps: SenderDeps,
): Promise<DeliveryResult> {
  const started = performance.now();
  const done = (result: Omit<DeliveryResult, 'durationMs'>): DeliveryResult => ({
    ...result,
    durationMs: Math.round(performance.now() - started),
  });
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return done({ ok: false, error: 'network', retryable: false });
  }
  const secure = target.protocol === 'https:';
  if (!secure && !(target.protocol === 'http:' && deps.allowAddress))
    return done({ ok: false, error: 'not_https', retryable: false });

  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const timeoutMs = deps.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  let addresses: string[] | 'timeout';
  try {
    addresses = isIP(host) ? [host] : await withTimeout(deps.resolve(host), timeoutMs);
  } catch {
    return done({ ok: false, error: 'network', retryable: true });
  }
  if (addresses === 'timeout') return done({ ok: false, error: 'timeout', retryable: true });
  if (addresses.length === 0) return done({ ok: false, error: 'network', retryable: true });
  const allowed = (ip: string) => isPublicAddress(ip) || deps.allowAddress?.(ip) === true;
  if (!addresses.every(allowed)) return done({ ok: false, error: 'refused_address', retryable: false });
  // Plain http only to an address the test allowance itself approved, never to the internet.
  if (!secure && !addresses.every((ip) => deps.allowAddress?.(ip) === true)) {
    return done({ ok: false, error: 'not_https', retryable: false });
  }

  const body = webhookPayload(event);
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'dynamics-auth-webhooks/1',
    ...signatureHeaders(secrets, event.id, deps.nowSec(), body),
  };
  const remainingMs = Math.max(1, timeoutMs - (performance.now() - started));
  const outcome = await post(target, secure, host, addresses[0]!, headers, body, remainingMs);
  if (outcome.kind === 'error') return done({ ok: false, error: outcome.error, retryable: true });
  const status = outcome.status;
  if (status >= 200 && status < 300) return done({ ok: true, status, retryable: false });
  if (status >= 300 && status < 400) return done({ ok: false, status, error: 'redirect', retryable: false });
  return done({ ok: false, status, error: 'http_status', retryable: isRetryableStatus(status) });
}

/** The promise's value, or 'timeout' when it takes longer than `ms` (a slow resolver counts against the budget). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

type PostOutcome = { kind: 'status'; status: number } | { kind: 'error'; error: 'timeout' | 'network' };

/** One POST to the pinned address; TLS still verifies the certificate for the URL's host name (SNI). */
function post(
  target: URL,
  secure: boolean,
  host: string,
  pinned: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<PostOutcome> {
  const family = isIP(pinned);
  // Node may ask for one address or, with autoSelectFamily, for all: either way only the vetted one.
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all)
      (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: pinned, family }]);
    else callback(null, pinned, family);
  };
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const request = (secure ? https : http).request({
      protocol: target.protocol,
      hostname: host,
      port: target.port || (secure ? 443 : 80),
      path: `${target.pathname}${target.search}`,
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      lookup,
      agent: false,
      ...(secure && isIP(host) === 0 ? { servername: host } : {}),
    });
    const timer = setTimeout(() => {
      finish({ kind: 'error', error: 'timeout' });
      request.destroy();
    }, timeoutMs);
    request.on('error', () => finish({ kind: 'error', error: 'network' }));
    request.on('response', (response) => {
      // Only the status matters: nothing of the body is read or kept.
      finish({ kind: 'status', status: response.statusCode ?? 0 });
      response.destroy();
      request.destroy();
    });
    request.end(body);
  });
}

/** Production DNS: every address of the host (IPv4 and IPv6), all of which must pass the address rules. */
export async function resolveHost(host: string): Promise<string[]> {
  const answers = await dnsLookup(host, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}

/**
 * The sender's dependencies from configuration. The loopback allowance exists only for local mode
 * (plain-http loopback configuration, outside Lambda) and approves loopback addresses only; a
 * deployed function (https configuration, AWS_LAMBDA_FUNCTION_NAME set) never gets it.
 */
export function webhookSenderDeps(
  config: { allowInsecureLoopback: boolean },
  env: Record<string, string | undefined> = process.env,
): SenderDeps {
  const deps: SenderDeps = { resolve: resolveHost, nowSec: () => Math.floor(Date.now() / 1000) };
  if (config.allowInsecureLoopback && !env.AWS_LAMBDA_FUNCTION_NAME) {
    deps.allowAddress = (ip) => ip === '127.0.0.1' || ip === '::1';
  }
  return deps;
}
