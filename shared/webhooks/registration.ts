import { isIP } from 'node:net';
import { z } from 'zod';
import type { KeyProvider } from '../crypto/key-provider.ts';
import { ServiceError } from '../errors/service-error.ts';
import { isPublicAddress } from './address-rules.ts';
import {
  isEndpointIdShaped,
  newEndpoint,
  rotatedSecrets,
  type WebhookEndpoint,
  type WebhookEndpointStore,
} from './endpoints.ts';

export const MAX_WEBHOOK_URL_LENGTH = 2_048;

/** A webhook URL as registered: https, a host, no credentials or fragment (checked again, by address, at every delivery). */
export const WebhookUrl = z
  .string()
  .max(MAX_WEBHOOK_URL_LENGTH)
  .transform((raw, ctx) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'url must be an absolute URL' });
      return z.NEVER;
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'url must use https' });
    else if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'url must not carry credentials' });
    else if (url.hash) ctx.addIssue({ code: 'custom', message: 'url must not have a fragment' });
    else if (isIP(host) !== 0 && !isPublicAddress(host))
      ctx.addIssue({ code: 'custom', message: 'url must not name a private, loopback or link-local address' });
    else if (host === 'localhost' || host.endsWith('.localhost'))
      ctx.addIssue({ code: 'custom', message: 'url must not name localhost' });
    return url.href;
  });

const RegisterBody = z.strictObject({ url: WebhookUrl });

export interface WebhookRegistrationDeps {
  endpoints: WebhookEndpointStore;
  keys: KeyProvider;
  maxEndpointsPerKey: number;
  secretOverlapSeconds: number;
  nowSec: number;
}

/** An endpoint as the API shows it: never a secret, sealed or not. */
export function describeEndpoint(e: WebhookEndpoint, nowSec: number) {
  const previous = e.secrets.find((s) => s.expiresAt !== undefined && s.expiresAt > nowSec);
  return {
    id: e.id,
    url: e.url,
    createdAt: new Date(e.createdAt * 1000).toISOString(),
    previousSecretExpiresAt: previous ? new Date(previous.expiresAt! * 1000).toISOString() : null,
  };
}

export function parseRegistration(body: unknown): { url: string } {
  const parsed = RegisterBody.safeParse(body);
  if (!parsed.success) {
    throw new ServiceError(
      'invalid_webhook',
      parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; '),
    );
  }
  return parsed.data;
}

/** Registers an endpoint for `ownerKeyId`; the secret is in the answer only (shown once). */
export async function registerEndpoint(deps: WebhookRegistrationDeps, ownerKeyId: string, url: string) {
  const { endpoint, secret } = await newEndpoint({ keys: deps.keys }, ownerKeyId, url, deps.nowSec);
  if (!(await deps.endpoints.create(endpoint, deps.maxEndpointsPerKey))) {
    throw new ServiceError(
      'too_many_webhooks',
      `An API key may register at most ${deps.maxEndpointsPerKey} webhook endpoints.`,
    );
  }
  return { ...describeEndpoint(endpoint, deps.nowSec), secret };
}

export function checkEndpointId(raw: string): string {
  if (!isEndpointIdShaped(raw)) throw webhookNotFound();
  return raw;
}

export const webhookNotFound = () =>
  new ServiceError('webhook_not_found', 'No such webhook endpoint for this API key.');

/** A new secret (shown once); the previous one keeps signing for the overlap window. */
export async function rotateEndpointSecret(deps: WebhookRegistrationDeps, ownerKeyId: string, id: string) {
  const endpoint = await deps.endpoints.get(ownerKeyId, id);
  if (!endpoint) throw webhookNotFound();
  const { secrets, secret } = await rotatedSecrets(
    { keys: deps.keys },
    endpoint,
    deps.secretOverlapSeconds,
    deps.nowSec,
  );
  const rotated = await deps.endpoints.rotateSecret(ownerKeyId, id, secrets);
  if (!rotated) throw webhookNotFound();
  return { ...describeEndpoint(rotated, deps.nowSec), secret };
}
