/**
 * The confidential client's secret in AWS: GetSecretValue with the configured SecretId exactly as
 * the construct set it (a complete ARN or a name, never rewritten into a partial ARN), once per
 * instance, and read again after a failure.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.ts';
import { clientSecretSource } from '../../shared/oauth/client-secret.ts';

const sm = mockClient(SecretsManagerClient);
const config = (secretId: string) =>
  loadConfig({
    CLIENT_ID: 'client',
    DYNAMICS_URL: 'https://org.crm.dynamics.com',
    PUBLIC_BASE_URL: 'https://auth.example.com',
    ALLOWED_RETURN_URLS: 'https://app.example.com',
    CLIENT_SECRET_ARN: secretId,
  });

describe('clientSecretSource (Secrets Manager)', () => {
  beforeEach(() => sm.reset());

  it.each([
    'dynamics-auth/client-secret',
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dynamics-auth/client-secret-AbC123',
  ])('asks for SecretId %s exactly as configured, once per instance', async (secretId) => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: ' value \n' });
    const read = clientSecretSource(config(secretId))!;
    expect(await read()).toBe('value');
    expect(await read()).toBe('value');
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([{ SecretId: secretId }]);
  });

  it('reads again after a failed read (a failure is not cached)', async () => {
    sm.on(GetSecretValueCommand).rejectsOnce(new Error('throttled')).resolves({ SecretString: 'value' });
    const read = clientSecretSource(config('dynamics-auth/client-secret'))!;
    await expect(read()).rejects.toThrow('throttled');
    expect(await read()).toBe('value');
  });
});
