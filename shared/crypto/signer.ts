import { createHash, createPrivateKey, createPublicKey, sign, constants, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The two RSA signature schemes the service needs: RSASSA-PSS with SHA-256 for client assertions
 * (`PS256`, RFC 7518 §3.5, Entra's current certificate-credential format) and RSASSA-PKCS1-v1_5
 * with SHA-256 for the self-signed certificate itself (`sha256WithRSAEncryption`, RFC 4055).
 */
export type SignatureScheme = 'PS256' | 'RS256';

/** A private key that signs without handing the key out (KMS in AWS, a local key in local mode). */
export interface Signer {
  sign(data: Uint8Array, scheme: SignatureScheme): Promise<Uint8Array>;
  /** The public key (SubjectPublicKeyInfo); only the operator tool needs it. */
  publicKey(): Promise<KeyObject>;
}

/** The signing key is unusable or the key service failed; the token call cannot be authenticated. */
export class SigningError extends Error {
  override name = 'SigningError';
}

/** SHA-256 of the input. KMS signs this digest (MessageType DIGEST), the local key signs the same. */
export function sha256Digest(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** A local RSA private key (PKCS#8 or PKCS#1 PEM): local mode and tests. */
export class LocalRsaSigner implements Signer {
  constructor(private readonly key: KeyObject) {
    if (key.asymmetricKeyType !== 'rsa') throw new SigningError('The client assertion key must be an RSA private key');
  }

  static fromFile(path: string): LocalRsaSigner {
    return new LocalRsaSigner(createPrivateKey(readFileSync(path)));
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- implements an async port: a failure must reject, not throw
  async sign(data: Uint8Array, scheme: SignatureScheme): Promise<Uint8Array> {
    // PS256: salt length equals the hash length (RFC 7518 §3.5), as KMS RSASSA_PSS_SHA_256 does.
    const padding =
      scheme === 'PS256'
        ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        : { padding: constants.RSA_PKCS1_PADDING };
    return sign('sha256', data, { key: this.key, ...padding });
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- implements an async port: a failure must reject, not throw
  async publicKey(): Promise<KeyObject> {
    return createPublicKey(this.key);
  }
}
