/** Encryption context: non-secret key/value pairs that a data key (and every ciphertext) is bound to. */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface DataKey {
  /** 32-byte AES-256 key. Kept in memory only. */
  plaintext: Uint8Array;
  /** The data key wrapped by the master key; stored beside the ciphertext. */
  encrypted: Uint8Array;
}

/**
 * The master-key port: AWS KMS in the cloud, a local key file in local mode and tests. Both bind
 * the wrapped data key to the encryption context, so unwrapping with another context fails.
 */
export interface KeyProvider {
  generateDataKey(context: EncryptionContext): Promise<DataKey>;
  decryptDataKey(encrypted: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
}

/** The master key refused the operation or the ciphertext does not belong to this context. */
export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

/** The key service failed transiently (throttling, network); retrying later may work. */
export class KeyServiceUnavailableError extends Error {
  override name = 'KeyServiceUnavailableError';
}

/** Canonical, order-independent serialisation of an encryption context (used as GCM additional data). */
export function canonicalContext(context: EncryptionContext): string {
  return JSON.stringify(
    Object.keys(context)
      .sort()
      .map((k) => [k, context[k]]),
  );
}
