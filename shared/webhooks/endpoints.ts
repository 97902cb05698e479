import { randomBytes } from 'node:crypto';
import type { KeyProvider } from '../crypto/key-provider.ts';
import { generateWebhookSecret, openWebhookSecret, sealWebhookSecret, type SealedWebhookSecret } from './secrets.ts';

export type { SealedWebhookSecret } from './secrets.ts';

/** One signing secret of an endpoint. Times are epoch seconds. */
export interface WebhookEndpointSecret {
  sealed: SealedWebhookSecret;
  createdAt: number;
  /** Set when a rotation replaced it: it keeps signing until then (the overlap window). */
  expiresAt?: number;
}

/** A registered webhook endpoint (stored in the API keys table, one item per owner). */
export interface WebhookEndpoint {
  /** `whep_` + 16 random bytes, base64url. */
  id: string;
  ownerKeyId: string;
  url: string;
  /** Epoch seconds. */
  createdAt: number;
  /** The current secret last; at most one older secret during a rotation's overlap window. */
  secrets: WebhookEndpointSecret[];
}

export interface WebhookEndpointStore {
  /** Adds an endpoint; false when the owner already has `maxPerOwner` endpoints. */
  create(endpoint: WebhookEndpoint, maxPerOwner: number): Promise<boolean>;
  list(ownerKeyId: string): Promise<WebhookEndpoint[]>;
  get(ownerKeyId: string, id: string): Promise<WebhookEndpoint | undefined>;
  /** False when there was no such endpoint of this owner. */
  delete(ownerKeyId: string, id: string): Promise<boolean>;
  /** Replaces the endpoint's secrets with `secrets` (see `rotatedSecrets`); undefined when not found. */
  rotateSecret(ownerKeyId: string, id: string, secrets: WebhookEndpointSecret[]): Promise<WebhookEndpoint | undefined>;
}

/** What secret handling needs: the master key (KMS or the local key file). */
export interface WebhookSecretDeps {
  keys: KeyProvider;
}

export function newEndpointId(): string {
  return `whep_${randomBytes(16).toString('base64url')}`;
}

const ENDPOINT_ID = /^whep_[A-Za-z0-9_-]{22}$/;

export function isEndpointIdShaped(value: string): boolean {
  return ENDPOINT_ID.test(value);
}

/** A new endpoint with its first secret; the plaintext secret is returned to be shown once. */
export async function newEndpoint(
  deps: WebhookSecretDeps,
  ownerKeyId: string,
  url: string,
  nowSec: number,
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const id = newEndpointId();
  const secret = generateWebhookSecret();
  const sealed = await sealWebhookSecret(deps.keys, ownerKeyId, id, secret);
  return { endpoint: { id, ownerKeyId, url, createdAt: nowSec, secrets: [{ sealed, createdAt: nowSec }] }, secret };
}

/**
 * The secrets after a rotation: the current one keeps signing for `overlapSec` (receivers switch
 * over meanwhile), an older one still in its window is dropped, so at most two ever sign.
 */
export async function rotatedSecrets(
  deps: WebhookSecretDeps,
  endpoint: WebhookEndpoint,
  overlapSec: number,
  nowSec: number,
): Promise<{ secrets: WebhookEndpointSecret[]; secret: string }> {
  const current = endpoint.secrets.filter((s) => s.expiresAt === undefined).at(-1);
  const secret = generateWebhookSecret();
  const sealed = await sealWebhookSecret(deps.keys, endpoint.ownerKeyId, endpoint.id, secret);
  const secrets: WebhookEndpointSecret[] = [];
  if (current && overlapSec > 0) secrets.push({ ...current, expiresAt: nowSec + overlapSec });
  secrets.push({ sealed, createdAt: nowSec });
  return { secrets, secret };
}

/** The secrets still valid at `nowSec`, in plain text (`whsec_...`), the newest first: one, or two during an overlap. */
export async function signingSecrets(
  endpoint: WebhookEndpoint,
  deps: WebhookSecretDeps,
  nowSec: number,
): Promise<string[]> {
  const valid = endpoint.secrets.filter((s) => s.expiresAt === undefined || s.expiresAt > nowSec);
  // The current secret (no expiry) first, then the one a rotation is phasing out.
  const rank = (s: WebhookEndpointSecret) => s.expiresAt ?? Number.MAX_SAFE_INTEGER;
  valid.sort((a, b) => rank(b) - rank(a));
  return Promise.all(valid.map((s) => openWebhookSecret(deps.keys, endpoint.ownerKeyId, endpoint.id, s.sealed)));
}
