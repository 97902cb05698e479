import type { Config } from '../config/config.ts';
import { secretsManagerReader } from '../config/secrets.ts';

/**
 * Resolves the confidential client's secret: a plain value in local mode, or Secrets Manager in AWS
 * (read once per instance, on first use; never placed in the environment or the template).
 */
export function clientSecretSource(config: Config): (() => Promise<string | undefined>) | undefined {
  if (config.clientSecret) {
    const secret = config.clientSecret;
    return () => Promise.resolve(secret);
  }
  const secretId = config.clientSecretArn;
  if (!secretId) return undefined;
  return secretsManagerReader(secretId).read;
}
