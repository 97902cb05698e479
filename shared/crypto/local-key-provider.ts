import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AES_GCM_OVERHEAD, openAesGcm, sealAesGcm } from './aes-gcm.ts';
import {
  canonicalContext,
  DecryptionError,
  type DataKey,
  type EncryptionContext,
  type KeyProvider,
} from './key-provider.ts';

const WRAP_VERSION = 1;
const DATA_KEY_BYTES = 32;

/**
 * A KeyProvider with a local 256-bit master key, for local mode and tests (there is no KMS
 * emulator). Wraps data keys with AES-256-GCM, the encryption context as additional data, like KMS.
 */
export class LocalKeyProvider implements KeyProvider {
  private readonly masterKey: Buffer;

  constructor(masterKey: Uint8Array) {
    if (masterKey.length !== 32) throw new Error('LocalKeyProvider needs a 32-byte master key');
    this.masterKey = Buffer.from(masterKey);
  }

  /** Loads the master key from `path`, creating it (mode 0600) on first use. */
  static fromFile(path: string): LocalKeyProvider {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    }
    return new LocalKeyProvider(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'));
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- implements an async port: a failure must reject, not throw
  async generateDataKey(context: EncryptionContext): Promise<DataKey> {
    const plaintext = randomBytes(DATA_KEY_BYTES);
    const wrapped = sealAesGcm(this.masterKey, plaintext, Buffer.from(canonicalContext(context)));
    const encrypted = Buffer.concat([Buffer.from([WRAP_VERSION]), wrapped]);
    return { plaintext: new Uint8Array(plaintext), encrypted: new Uint8Array(encrypted) };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- implements an async port: a failure must reject, not throw
  async decryptDataKey(encrypted: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const blob = Buffer.from(encrypted);
    if (blob.length !== 1 + AES_GCM_OVERHEAD + DATA_KEY_BYTES || blob[0] !== WRAP_VERSION) {
      throw new DecryptionError('Malformed wrapped data key');
    }
    try {
      return new Uint8Array(openAesGcm(this.masterKey, blob.subarray(1), Buffer.from(canonicalContext(context))));
    } catch {
      throw new DecryptionError('Data key does not match this encryption context');
    }
  }
}
