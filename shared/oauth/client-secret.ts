import type { Config } from '../config/config.ts';

/**
 * Resolves the confidential client's secret: a plain value in local mode, or Secrets Manager in AWS
 * (read once per instance, on first use; never placed in the environment or the template).
 */
export function clientSecretSource(config: Config): (() => Promise<string | undefined>) | undefined {
  if (config.clientSecret) {
    const secret = config.clientSecret;
    return async () => secret;
  }
  const arn = config.clientSecretArn;
  if (!arn) return undefined;
  let value: Promise<string> | undefined;
  return () => {
    value ??= import('@aws-sdk/client-secrets-manager')
      .then(async ({ SecretsManagerClient, GetSecretValueCommand }) => {
        const client = new SecretsManagerClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } });
        const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
        if (!out.SecretString) throw new Error('The client secret in Secrets Manager is empty');
        return out.SecretString.trim();
      })
      .catch((err: unknown) => {
        value = undefined;
        throw err;
      });
    return value;
  };
}
