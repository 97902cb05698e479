/** Secrets Manager secrets the functions read (client secret, origin-verify header value). */
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';

/** A secret given as a name, a complete ARN or an `ISecret`. */
export function importSecret(scope: Construct, id: string, secret: string | ISecret): ISecret {
  if (typeof secret !== 'string') return secret;
  return secret.startsWith('arn:')
    ? Secret.fromSecretCompleteArn(scope, id, secret)
    : Secret.fromSecretNameV2(scope, id, secret);
}

/**
 * The `SecretId` the functions pass to GetSecretValue: the complete ARN when known, else the name.
 * Never a partial ARN: Secrets Manager reads a name ending in a hyphen plus six characters (such as
 * `…/client-secret`) as a complete ARN's random suffix (Secrets Manager API Reference,
 * GetSecretValue `SecretId`), and the call fails.
 */
export function secretIdOf(secret: ISecret): string {
  return secret.secretFullArn ?? secret.secretName;
}

/** IAM resource of a secret: its complete ARN, or for a name-only reference its name plus the random suffix. */
export function secretPolicyResource(secret: ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}
