import { AES_GCM_OVERHEAD, openAesGcm, sealAesGcm } from './aes-gcm.ts';
import { ENCRYPTION_PURPOSE, ENCRYPTION_PURPOSE_KEY, ENCRYPTION_SESSION_KEY } from './context.ts';
import { canonicalContext, DecryptionError, type EncryptionContext, type KeyProvider } from './key-provider.ts';
import { systemClock, type Clock } from '../ports.ts';

/**
 * Which secret a ciphertext holds; part of the GCM additional data, so fields cannot be swapped either.
 * An access token for a resource other than the session's own is `access_token@<resource origin>`, so
 * one environment's token cannot be replayed as another's.
 */
export type SealedField = 'access_token' | 'refresh_token' | `access_token@${string}`;

/** The field of an access token for `resource` (an environment or discovery origin). */
export function accessTokenField(resource: string | undefined): SealedField {
  return resource === undefined ? 'access_token' : `access_token@${resource}`;
}

export interface SealedTokens {
  /** The session's data key, wrapped by the master key (KMS). */
  dataKey: Uint8Array;
  accessToken: Uint8Array;
  refreshToken: Uint8Array;
}

export interface DataKeyCacheOptions {
  /** A cached data key is used for at most this long (default 15 minutes). */
  maxAgeMs?: number;
  /** ... and for at most this many seal/open operations (default 10,000). */
  maxUses?: number;
  /** At most this many keys are kept (least recently used evicted; default 1,000). */
  maxEntries?: number;
  now?: Clock;
}

interface CachedKey {
  key: Buffer;
  createdAtMs: number;
  uses: number;
}

const FORMAT_VERSION = 1;

/** The encryption context of a session's tokens: the purpose and the row's key hash. */
export function sessionEncryptionContext(sessionId: string): EncryptionContext {
  return { [ENCRYPTION_PURPOSE_KEY]: ENCRYPTION_PURPOSE, [ENCRYPTION_SESSION_KEY]: sessionId };
}

/**
 * Envelope encryption of a session's tokens: a KMS data key per session, AES-256-GCM per token, the
 * encryption context bound both by KMS (to the data key) and as GCM additional data (to each
 * ciphertext), so a ciphertext moved to another row fails to decrypt. Unwrapped data keys are cached
 * in memory, bounded by age, use count and size, so warm requests make no key-service call.
 */
export class TokenVault {
  private readonly cache = new Map<string, CachedKey>();
  private readonly maxAgeMs: number;
  private readonly maxUses: number;
  private readonly maxEntries: number;
  private readonly now: Clock;

  constructor(
    private readonly keys: KeyProvider,
    options: DataKeyCacheOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 15 * 60_000;
    this.maxUses = options.maxUses ?? 10_000;
    this.maxEntries = options.maxEntries ?? 1_000;
    this.now = options.now ?? systemClock;
  }

  /**
   * Encrypts both tokens of a session. With `currentDataKey` (rotation), the session's data key is
   * reused when it is still cached; otherwise a new data key is generated.
   */
  async seal(
    sessionId: string,
    tokens: { accessToken: string; refreshToken: string },
    currentDataKey?: Uint8Array,
    accessField: SealedField = 'access_token',
  ): Promise<SealedTokens> {
    const context = sessionEncryptionContext(sessionId);
    let dataKey = currentDataKey;
    let key = currentDataKey ? this.take(cacheKey(currentDataKey, context)) : undefined;
    if (!key || !dataKey) {
      const generated = await this.keys.generateDataKey(context);
      dataKey = generated.encrypted;
      key = Buffer.from(generated.plaintext);
      this.remember(cacheKey(dataKey, context), key);
      this.take(cacheKey(dataKey, context));
    }
    return {
      dataKey,
      accessToken: encrypt(key, context, accessField, tokens.accessToken),
      refreshToken: encrypt(key, context, 'refresh_token', tokens.refreshToken),
    };
  }

  /** Decrypts one token of a session. Throws `DecryptionError` if it does not belong to this session/field. */
  async open(sessionId: string, dataKey: Uint8Array, field: SealedField, ciphertext: Uint8Array): Promise<string> {
    const context = sessionEncryptionContext(sessionId);
    const id = cacheKey(dataKey, context);
    let key = this.take(id);
    if (!key) {
      key = Buffer.from(await this.keys.decryptDataKey(dataKey, context));
      this.remember(id, key);
      this.take(id);
    }
    return decrypt(key, context, field, ciphertext);
  }

  /** Returns the cached key and counts one use, or undefined when absent, too old or used up. */
  private take(id: string): Buffer | undefined {
    const entry = this.cache.get(id);
    if (!entry) return undefined;
    if (this.now() - entry.createdAtMs >= this.maxAgeMs || entry.uses >= this.maxUses) {
      this.cache.delete(id);
      return undefined;
    }
    entry.uses += 1;
    this.cache.delete(id); // re-insert: Map order is the LRU order
    this.cache.set(id, entry);
    return entry.key;
  }

  private remember(id: string, key: Buffer): void {
    this.cache.set(id, { key, createdAtMs: this.now(), uses: 0 });
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}

function cacheKey(dataKey: Uint8Array, context: EncryptionContext): string {
  return `${Buffer.from(dataKey).toString('base64')}|${canonicalContext(context)}`;
}

function additionalData(context: EncryptionContext, field: string): Buffer {
  return Buffer.from(`${canonicalContext(context)}|${field}`);
}

/** AES-256-GCM with the context and the field name as additional data (also seals webhook secrets). */
export function encrypt(key: Buffer, context: EncryptionContext, field: string, plaintext: string): Uint8Array {
  return new Uint8Array(
    Buffer.concat([Buffer.from([FORMAT_VERSION]), sealAesGcm(key, plaintext, additionalData(context, field))]),
  );
}

/** Opens what `encrypt` sealed; throws `DecryptionError` for another context or field. */
export function decrypt(key: Buffer, context: EncryptionContext, field: string, sealed: Uint8Array): string {
  const blob = Buffer.from(sealed);
  if (blob.length < 1 + AES_GCM_OVERHEAD || blob[0] !== FORMAT_VERSION)
    throw new DecryptionError('Malformed ciphertext');
  try {
    return openAesGcm(key, blob.subarray(1), additionalData(context, field)).toString('utf8');
  } catch {
    throw new DecryptionError('Ciphertext does not belong to this session');
  }
}
