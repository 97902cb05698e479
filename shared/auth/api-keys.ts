import { headersOf } from '../http/event.ts';
import { ServiceError } from '../errors/service-error.ts';
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { sha256 } from '../crypto/random.ts';
import { bearerCredential } from '../http/bearer.ts';
import type { ApiKey, ApiKeyStore } from '../stores/model.ts';

/** `dak_<keyId>_<secret>`: the key id is public (for listing and revoking), the secret is 256 bits. */
const API_KEY = /^dak_([A-Za-z0-9-]{12})_([A-Za-z0-9_-]{43})$/;

export function isApiKeyShaped(value: string): boolean {
  return API_KEY.test(value);
}

/** Makes a new API key. Only `record` is stored; `key` is shown to the admin once. */
export function generateApiKey(
  name: string,
  nowMs: number,
  options: { allowImpersonation?: boolean } = {},
): { key: string; record: ApiKey } {
  const keyId = randomBytes(9).toString('base64url').replace(/_/g, '-');
  const key = `dak_${keyId}_${randomBytes(32).toString('base64url')}`;
  return {
    key,
    record: { id: sha256(key), keyId, name, createdAt: nowMs, allowImpersonation: options.allowImpersonation === true },
  };
}

/** The API-key prefix: a bearer credential starting with it is meant as an API key, whatever follows. */
const API_KEY_PREFIX = 'dak_';

/** Whether a bearer credential is meant as an API key (so a mistyped key gets an API-key error, not a sign-in hint). */
export function isMeantAsApiKey(value: string): boolean {
  return value.startsWith(API_KEY_PREFIX);
}

/** 401 with the catalogue's WWW-Authenticate challenge (RFC 6750 §3). */
export const invalidApiKey = () => new ServiceError('invalid_api_key');

/** Authenticates a backend by `Authorization: Bearer <API key>`. */
export async function requireApiKey(event: APIGatewayProxyEventV2, keys: ApiKeyStore): Promise<ApiKey> {
  const value = bearerCredential(headersOf(event).authorization);
  if (!value || !isApiKeyShaped(value)) throw invalidApiKey();
  const key = await keys.find(sha256(value));
  if (!key) throw invalidApiKey();
  return key;
}
