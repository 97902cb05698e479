import type { KMSClient } from '@aws-sdk/client-kms';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { KeyServiceUnavailableError } from './key-provider.ts';
import { KMS_RETRYABLE_ERRORS } from './kms-key-provider.ts';
import { sha256Digest, SigningError, type SignatureScheme, type Signer } from './signer.ts';
import { noMetrics, type MetricsPort } from '../observability/metrics.ts';
import { lazyKmsClient, observeKmsCall, type LoadedKms } from './kms-client.ts';

/** AWS KMS signing algorithms for our schemes (AWS KMS API reference, Sign: SigningAlgorithm). */
const KMS_ALGORITHM: Record<SignatureScheme, 'RSASSA_PSS_SHA_256' | 'RSASSA_PKCS1_V1_5_SHA_256'> = {
  PS256: 'RSASSA_PSS_SHA_256',
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
};

/**
 * An asymmetric RSA KMS key (KeyUsage SIGN_VERIFY) as the signer: the private key never leaves KMS.
 * The functions that call the token endpoint may only `kms:Sign`; `GetPublicKey` is for the
 * operator tool. The SDK is imported lazily, on the first signature.
 */
export class KmsSigner implements Signer {
  private readonly load: () => Promise<LoadedKms>;

  constructor(
    private readonly keyId: string,
    clientFactory?: () => KMSClient,
    private readonly metrics: MetricsPort = noMetrics,
  ) {
    this.load = lazyKmsClient(clientFactory);
  }

  async sign(data: Uint8Array, scheme: SignatureScheme): Promise<Uint8Array> {
    const { client, sdk } = await this.load();
    let signature: Uint8Array | undefined;
    try {
      // DIGEST: KMS signs the SHA-256 we computed, so the message never leaves the function and has no size limit.
      const out = await observeKmsCall(this.metrics, 'Sign', () =>
        client.send(
          new sdk.SignCommand({
            KeyId: this.keyId,
            Message: sha256Digest(data),
            MessageType: 'DIGEST',
            SigningAlgorithm: KMS_ALGORITHM[scheme],
          }),
        ),
      );
      signature = out.Signature;
    } catch (err) {
      const name = (err as { name?: string }).name ?? 'error';
      if (KMS_RETRYABLE_ERRORS.has(name)) throw new KeyServiceUnavailableError(`KMS unavailable (${name})`);
      throw new SigningError(`KMS Sign failed (${name})`);
    }
    if (!signature) throw new SigningError('KMS Sign returned no signature');
    return signature;
  }

  async publicKey(): Promise<KeyObject> {
    const { client, sdk } = await this.load();
    const out = await client.send(new sdk.GetPublicKeyCommand({ KeyId: this.keyId }));
    if (!out.PublicKey) throw new SigningError('KMS GetPublicKey returned no key');
    if (out.KeyUsage && out.KeyUsage !== 'SIGN_VERIFY')
      throw new SigningError('The KMS key must have KeyUsage SIGN_VERIFY');
    if (out.KeySpec && !/^RSA_(2048|3072|4096)$/.test(out.KeySpec))
      throw new SigningError('The KMS key must be an RSA key (RSA_2048 or RSA_3072)');
    return createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
  }
}
