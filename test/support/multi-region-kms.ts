/**
 * An in-memory model of an AWS KMS multi-Region key (https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html):
 * the primary and its replicas share one key id (`mrk-...`) and the same key material, each with
 * its own Region in its ARN. A KMSClient per Region is mocked (aws-sdk-client-mock) so the real
 * `KmsKeyProvider` adapter runs against it. Like KMS, each Region's endpoint only knows the keys in
 * that Region, and Decrypt succeeds only for the key the ciphertext was made with (any replica of
 * it) and exactly the encryption context it was made with.
 */
import { randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { canonicalContext } from '../../shared/crypto/key-provider.ts';
import { KmsKeyProvider } from '../../shared/crypto/kms-key-provider.ts';

const ACCOUNT = '111122223333';

function kmsError(name: string): Error {
  return Object.assign(new Error(name), { name });
}

export class MultiRegionKms {
  /** Key id → Regions it exists in (primary first). */
  private readonly keys = new Map<string, string[]>();
  /** Ciphertext blob (base64) → the key id and context it was made under, and the data key. */
  private readonly ciphertexts = new Map<string, { keyId: string; context: string; plaintext: Buffer }>();

  /** Creates a key in `primaryRegion` replicated to `replicaRegions`; returns its key id. */
  createKey(primaryRegion: string, replicaRegions: readonly string[], multiRegion = true): string {
    const keyId = `${multiRegion ? 'mrk-' : ''}${randomBytes(16).toString('hex')}`;
    this.keys.set(keyId, [primaryRegion, ...(multiRegion ? replicaRegions : [])]);
    return keyId;
  }

  static arn(region: string, keyId: string): string {
    return `arn:aws:kms:${region}:${ACCOUNT}:key/${keyId}`;
  }

  /** The key id an ARN names, if the ARN is for a key that exists in `region`. */
  private resolve(region: string, keyArn: string | undefined): string {
    const match = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):key\/([A-Za-z0-9-]+)$/.exec(keyArn ?? '');
    const keyId = match?.[3];
    // A Regional endpoint cannot use a key ARN of another Region, nor a key not replicated here.
    if (!match || match[1] !== region || !keyId || !this.keys.get(keyId)?.includes(region)) throw kmsError('NotFoundException');
    return keyId;
  }

  /** A real `KmsKeyProvider` for `keyArn` over a mocked KMSClient of `region`, and its call counts. */
  providerIn(region: string, keyArn: string) {
    const client = new KMSClient({ region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const stub = mockClient(client);
    stub.on(GenerateDataKeyCommand).callsFake((input: { KeyId?: string; EncryptionContext?: Record<string, string> }) => {
      const keyId = this.resolve(region, input.KeyId);
      const plaintext = randomBytes(32);
      const blob = randomBytes(184);
      this.ciphertexts.set(blob.toString('base64'), { keyId, context: canonicalContext(input.EncryptionContext ?? {}), plaintext });
      return { KeyId: input.KeyId, Plaintext: new Uint8Array(plaintext), CiphertextBlob: new Uint8Array(blob) };
    });
    stub.on(DecryptCommand).callsFake((input: { KeyId?: string; CiphertextBlob?: Uint8Array; EncryptionContext?: Record<string, string> }) => {
      const keyId = this.resolve(region, input.KeyId);
      const entry = input.CiphertextBlob && this.ciphertexts.get(Buffer.from(input.CiphertextBlob).toString('base64'));
      if (!entry || entry.context !== canonicalContext(input.EncryptionContext ?? {})) throw kmsError('InvalidCiphertextException');
      if (entry.keyId !== keyId) throw kmsError('IncorrectKeyException');
      return { KeyId: input.KeyId, Plaintext: new Uint8Array(entry.plaintext) };
    });
    return {
      keyProvider: new KmsKeyProvider(keyArn, () => client),
      calls: () => stub.calls().length,
      restore: () => stub.restore(),
    };
  }
}
