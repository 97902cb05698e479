import type { Config } from '../config/config.ts';
import { noMetrics, type MetricsPort } from '../observability/metrics.ts';
import { KmsSigner } from '../crypto/kms-signer.ts';
import { LocalRsaSigner, type Signer } from '../crypto/signer.ts';

/** The client assertion signer the configuration names: a KMS key in AWS, a key file in local mode. */
export function clientAssertionSignerFor(config: Config, metrics: MetricsPort = noMetrics): Signer | undefined {
  if (config.clientAssertionKeyId) return new KmsSigner(config.clientAssertionKeyId, undefined, metrics);
  if (config.clientAssertionKeyFile) return LocalRsaSigner.fromFile(config.clientAssertionKeyFile);
  return undefined;
}
