import type { Config } from '../config/config.ts';
import { KmsSigner } from '../crypto/kms-signer.ts';
import { LocalRsaSigner, type Signer } from '../crypto/signer.ts';

/** The client assertion signer the configuration names: a KMS key in AWS, a key file in local mode. */
export function clientAssertionSignerFor(config: Config): Signer | undefined {
  if (config.clientAssertionKeyId) return new KmsSigner(config.clientAssertionKeyId);
  if (config.clientAssertionKeyFile) return LocalRsaSigner.fromFile(config.clientAssertionKeyFile);
  return undefined;
}
