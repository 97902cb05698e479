import type { KMSClient } from '@aws-sdk/client-kms';
import { noMetrics, type MetricsPort } from '../observability/metrics.ts';
import { lazyKmsClient, observeKmsCall, type LoadedKms } from './kms-client.ts';
import {
  DecryptionError,
  KeyServiceUnavailableError,
  type DataKey,
  type EncryptionContext,
  type KeyProvider,
} from './key-provider.ts';

/** KMS errors a later retry may fix (throttling, KMS-side faults, timeouts). */
export const KMS_RETRYABLE_ERRORS = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'TimeoutError',
]);

/**
 * AWS KMS as the master key. The SDK module is imported lazily, on the first call, so functions that
 * only need it on refresh do not pay for it at cold start.
 */
export class KmsKeyProvider implements KeyProvider {
  private readonly load: () => Promise<LoadedKms>;

  constructor(
    private readonly keyId: string,
    clientFactory?: () => KMSClient,
    private readonly metrics: MetricsPort = noMetrics,
  ) {
    this.load = lazyKmsClient(clientFactory);
  }

  async generateDataKey(context: EncryptionContext): Promise<DataKey> {
    const { client, sdk } = await this.load();
    try {
      const out = await observeKmsCall(this.metrics, 'GenerateDataKey', () =>
        client.send(
          new sdk.GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } }),
        ),
      );
      if (!out.Plaintext || !out.CiphertextBlob) throw new Error('KMS GenerateDataKey returned no key');
      return { plaintext: out.Plaintext, encrypted: out.CiphertextBlob };
    } catch (err) {
      throw mapKmsError(err);
    }
  }

  async decryptDataKey(encrypted: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const { client, sdk } = await this.load();
    try {
      const out = await observeKmsCall(this.metrics, 'Decrypt', () =>
        client.send(
          new sdk.DecryptCommand({ KeyId: this.keyId, CiphertextBlob: encrypted, EncryptionContext: { ...context } }),
        ),
      );
      if (!out.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
      return out.Plaintext;
    } catch (err) {
      throw mapKmsError(err);
    }
  }
}

function mapKmsError(err: unknown): Error {
  const name = (err as { name?: string }).name ?? '';
  if (KMS_RETRYABLE_ERRORS.has(name)) return new KeyServiceUnavailableError(`KMS unavailable (${name})`);
  if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
    return new DecryptionError(`KMS refused to decrypt (${name})`);
  }
  return err instanceof Error ? err : new Error(String(err));
}
