import { ArnPrincipal, PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  ENCRYPTION_ENDPOINT_KEY,
  ENCRYPTION_OWNER_KEY,
  ENCRYPTION_PURPOSE_KEY,
  WEBHOOK_SECRET_PURPOSE,
} from '../shared/crypto/context.ts';

/**
 * KMS condition on every use of the key for webhook secrets: the context shared/webhooks/secrets.ts
 * sends (`{purpose, owner, endpoint}`), this purpose and no other context keys. A role granted only
 * this can neither open nor mint a session token's data key (purpose `session-tokens`).
 */
export const WEBHOOK_SECRET_CONTEXT = {
  StringEquals: { [`kms:EncryptionContext:${ENCRYPTION_PURPOSE_KEY}`]: WEBHOOK_SECRET_PURPOSE },
  'ForAllValues:StringEquals': {
    'kms:EncryptionContextKeys': [ENCRYPTION_PURPOSE_KEY, ENCRYPTION_OWNER_KEY, ENCRYPTION_ENDPOINT_KEY],
  },
};

/**
 * Lets `role` use the token key for webhook secrets only: `kms:GenerateDataKey` to seal (registration,
 * rotation), `kms:Decrypt` to open (delivery). In the role's policy and, since the key policy names
 * each user of the key, in the key policy (a no-op for an imported key, whose owner adds the returned
 * statement).
 */
export function grantWebhookSecretKeyUse(
  key: IKey,
  role: IRole,
  actions: readonly ('kms:GenerateDataKey' | 'kms:Decrypt')[],
  sid: string,
): PolicyStatement {
  role.addToPrincipalPolicy(
    new PolicyStatement({
      sid: 'WebhookSecretEnvelope',
      actions: [...actions],
      resources: [key.keyArn],
      conditions: WEBHOOK_SECRET_CONTEXT,
    }),
  );
  const keyUse = new PolicyStatement({
    sid,
    principals: [new ArnPrincipal(role.roleArn)],
    actions: [...actions],
    resources: ['*'],
    conditions: WEBHOOK_SECRET_CONTEXT,
  });
  key.addToResourcePolicy(keyUse);
  return keyUse;
}
