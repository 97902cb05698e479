import { randomBytes } from 'node:crypto';
import {
  ENCRYPTION_ENDPOINT_KEY,
  ENCRYPTION_OWNER_KEY,
  ENCRYPTION_PURPOSE_KEY,
  WEBHOOK_SECRET_PURPOSE,
} from '../crypto/context.ts';
import { decrypt, encrypt } from '../crypto/envelope.ts';
import type { EncryptionContext, KeyProvider } from '../crypto/key-provider.ts';

/** A webhook signing secret as stored: a wrapped data key and the AES-256-GCM ciphertext. */
export interface SealedWebhookSecret {
  dataKey: Uint8Array;
  ciphertext: Uint8Array;
}

const SECRET_FIELD = 'webhook_secret';
const SECRET_BYTES = 32;

/** Standard Webhooks secret: `whsec_` + base64 of random bytes (the spec asks for 24 to 64). */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/**
 * The encryption context of one endpoint's secrets: its own purpose, the owner and the endpoint, so a
 * session token's ciphertext (purpose `session-tokens`) cannot be opened as a secret, nor one
 * endpoint's secret as another's.
 */
export function webhookSecretContext(ownerKeyId: string, endpointId: string): EncryptionContext {
  return {
    [ENCRYPTION_PURPOSE_KEY]: WEBHOOK_SECRET_PURPOSE,
    [ENCRYPTION_OWNER_KEY]: ownerKeyId,
    [ENCRYPTION_ENDPOINT_KEY]: endpointId,
  };
}

/** Seals a secret under a new data key from the master key (KMS), bound to owner and endpoint. */
export async function sealWebhookSecret(
  keys: KeyProvider,
  ownerKeyId: string,
  endpointId: string,
  secret: string,
): Promise<SealedWebhookSecret> {
  const context = webhookSecretContext(ownerKeyId, endpointId);
  const dataKey = await keys.generateDataKey(context);
  return {
    dataKey: dataKey.encrypted,
    ciphertext: encrypt(Buffer.from(dataKey.plaintext), context, SECRET_FIELD, secret),
  };
}

/** Opens a sealed secret; throws `DecryptionError` when it belongs to another context. */
export async function openWebhookSecret(
  keys: KeyProvider,
  ownerKeyId: string,
  endpointId: string,
  sealed: SealedWebhookSecret,
): Promise<string> {
  const context = webhookSecretContext(ownerKeyId, endpointId);
  const key = await keys.decryptDataKey(sealed.dataKey, context);
  return decrypt(Buffer.from(key), context, SECRET_FIELD, sealed.ciphertext);
}
