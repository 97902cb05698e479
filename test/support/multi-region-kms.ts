/**
 * An in-memory model of an AWS KMS multi-Region key (https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html):
 * the primary and its replicas share one key id (`mrk-...`) and the same key material, each with
 * its own Region in its ARN. A KMSClient per Region is mocked (aws-sdk-client-mock) so the real
 * `KmsKeyProvider` adapter runs against it. Like KMS, each Region's endpoint only knows the keys in
 * that Region, and Decrypt succeeds only for the key the ciphertext was made with (any replica of
 * it) and exactly the encryption context it was made with.
 */
import { constants, createHash, generateKeyPairSync, privateEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
  SignCommand,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { canonicalContext } from '../../shared/crypto/key-provider.ts';
import { KmsKeyProvider } from '../../shared/crypto/kms-key-provider.ts';
import { KmsSigner } from '../../shared/crypto/kms-signer.ts';

const ACCOUNT = '111122223333';

function kmsError(name: string): Error {
  return Object.assign(new Error(name), { name });
}

export class MultiRegionKms {
  /** Key id → Regions it exists in (primary first). */
  private readonly keys = new Map<string, string[]>();
  /** Ciphertext blob (base64) → the key id and context it was made under, and the data key. */
  private readonly ciphertexts = new Map<string, { keyId: string; context: string; plaintext: Buffer }>();

  /** Key id → the RSA key pair of an asymmetric SIGN_VERIFY key (shared by its replicas, as in KMS). */
  private readonly signingKeys = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();

  /** Creates an RSA_2048 SIGN_VERIFY key in `primaryRegion` replicated to `replicaRegions`; returns its key id. */
  createSigningKey(primaryRegion: string, replicaRegions: readonly string[], multiRegion = true): string {
    const keyId = this.createKey(primaryRegion, replicaRegions, multiRegion);
    this.signingKeys.set(keyId, generateKeyPairSync('rsa', { modulusLength: 2048 }));
    return keyId;
  }

  /** A real `KmsSigner` for `keyArn` over a mocked KMSClient of `region` (Sign with PSS or PKCS#1 v1.5 over a digest, GetPublicKey). */
  signerIn(region: string, keyArn: string) {
    const client = new KMSClient({ region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const stub = mockClient(client);
    const pairOf = (keyArn: string | undefined) => {
      const pair = this.signingKeys.get(this.resolve(region, keyArn));
      if (!pair) throw kmsError('InvalidKeyUsageException');
      return pair;
    };
    stub
      .on(SignCommand)
      .callsFake((input: { KeyId?: string; Message?: Uint8Array; MessageType?: string; SigningAlgorithm?: string }) => {
        const { privateKey } = pairOf(input.KeyId);
        if (input.MessageType !== 'DIGEST' || input.Message?.length !== 32) throw kmsError('ValidationException');
        const digest = Buffer.from(input.Message);
        const signature =
          input.SigningAlgorithm === 'RSASSA_PSS_SHA_256'
            ? privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, emsaPssEncode(digest, privateKey))
            : privateEncrypt(
                { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
                Buffer.concat([SHA256_DIGEST_INFO, digest]),
              );
        return { KeyId: input.KeyId, Signature: new Uint8Array(signature), SigningAlgorithm: input.SigningAlgorithm };
      });
    stub.on(GetPublicKeyCommand).callsFake((input: { KeyId?: string }) => {
      const { publicKey } = pairOf(input.KeyId);
      return {
        KeyId: input.KeyId,
        KeyUsage: 'SIGN_VERIFY',
        KeySpec: 'RSA_2048',
        PublicKey: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
      };
    });
    return {
      signer: new KmsSigner(keyArn, () => client),
      calls: () => stub.calls().length,
      restore: () => stub.restore(),
    };
  }

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
    if (!match || match[1] !== region || !keyId || !this.keys.get(keyId)?.includes(region))
      throw kmsError('NotFoundException');
    return keyId;
  }

  /** A real `KmsKeyProvider` for `keyArn` over a mocked KMSClient of `region`, and its call counts. */
  providerIn(region: string, keyArn: string) {
    const client = new KMSClient({ region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const stub = mockClient(client);
    stub
      .on(GenerateDataKeyCommand)
      .callsFake((input: { KeyId?: string; EncryptionContext?: Record<string, string> }) => {
        const keyId = this.resolve(region, input.KeyId);
        const plaintext = randomBytes(32);
        const blob = randomBytes(184);
        this.ciphertexts.set(blob.toString('base64'), {
          keyId,
          context: canonicalContext(input.EncryptionContext ?? {}),
          plaintext,
        });
        return { KeyId: input.KeyId, Plaintext: new Uint8Array(plaintext), CiphertextBlob: new Uint8Array(blob) };
      });
    stub
      .on(DecryptCommand)
      .callsFake(
        (input: { KeyId?: string; CiphertextBlob?: Uint8Array; EncryptionContext?: Record<string, string> }) => {
          const keyId = this.resolve(region, input.KeyId);
          const entry =
            input.CiphertextBlob && this.ciphertexts.get(Buffer.from(input.CiphertextBlob).toString('base64'));
          if (!entry || entry.context !== canonicalContext(input.EncryptionContext ?? {}))
            throw kmsError('InvalidCiphertextException');
          if (entry.keyId !== keyId) throw kmsError('IncorrectKeyException');
          return { KeyId: input.KeyId, Plaintext: new Uint8Array(entry.plaintext) };
        },
      );
    return {
      keyProvider: new KmsKeyProvider(keyArn, () => client),
      calls: () => stub.calls().length,
      restore: () => stub.restore(),
    };
  }
}

/** DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2, note 1). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** EMSA-PSS-ENCODE over a SHA-256 digest with MGF1-SHA-256 and a 32-byte salt (RFC 8017 §9.1.1), as KMS's RSASSA_PSS_SHA_256 signs a DIGEST. */
function emsaPssEncode(mHash: Buffer, key: KeyObject): Buffer {
  const modBits = key.asymmetricKeyDetails!.modulusLength!;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const hLen = 32;
  const salt = randomBytes(32);
  const h = createHash('sha256')
    .update(Buffer.concat([Buffer.alloc(8), mHash, salt]))
    .digest();
  const db = Buffer.concat([Buffer.alloc(emLen - salt.length - hLen - 2), Buffer.from([1]), salt]);
  const mask = Buffer.alloc(db.length);
  for (let counter = 0, offset = 0; offset < mask.length; counter++, offset += hLen) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    createHash('sha256')
      .update(Buffer.concat([h, c]))
      .digest()
      .copy(mask, offset);
  }
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  // privateEncrypt without padding needs the modulus length; emLen is one byte shorter when modBits % 8 === 1.
  return em.length * 8 < modBits ? Buffer.concat([Buffer.alloc(Math.ceil(modBits / 8) - em.length), em]) : em;
}
