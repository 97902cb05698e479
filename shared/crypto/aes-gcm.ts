import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** NIST SP 800-38D §8.2: a random 96-bit IV per encryption under one key. */
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** What sealing adds to the plaintext: the IV in front, the authentication tag behind. */
export const AES_GCM_OVERHEAD = IV_BYTES + TAG_BYTES;

/** AES-256-GCM: returns `iv ‖ ciphertext ‖ tag`, with `additionalData` authenticated but not stored. */
export function sealAesGcm(key: Uint8Array, plaintext: Uint8Array | string, additionalData: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additionalData);
  const body = Buffer.concat([
    typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext),
    cipher.final(),
  ]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/**
 * Opens `iv ‖ ciphertext ‖ tag` from `sealAesGcm`. Throws when the blob is too short, or the key,
 * additional data or any byte does not match (callers map that to their own error).
 */
export function openAesGcm(key: Uint8Array, sealed: Uint8Array, additionalData: Uint8Array): Buffer {
  if (sealed.length < AES_GCM_OVERHEAD) throw new Error('Sealed data is too short');
  const blob = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData);
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  return Buffer.concat([decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
}
