/**
 * Reads one Secrets Manager secret's string value, once per instance (on first use), with bounded
 * timeouts. The SDK module is imported lazily, so functions that never need a secret never load it.
 * `secretId` is a complete ARN or a name, never a partial ARN (see infra/construct.ts `secretIdOf`).
 */
export function secretsManagerReader(secretId: string): { read: () => Promise<string>; forget: () => void } {
  let value: Promise<string> | undefined;
  const read = () => {
    value ??= import('@aws-sdk/client-secrets-manager')
      .then(async ({ SecretsManagerClient, GetSecretValueCommand }) => {
        const client = new SecretsManagerClient({
          maxAttempts: 2,
          requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
        });
        const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
        if (!out.SecretString) throw new Error('The secret in Secrets Manager is empty');
        return out.SecretString.trim();
      })
      .catch((err: unknown) => {
        value = undefined;
        throw err;
      });
    return value;
  };
  return { read, forget: () => (value = undefined) };
}
