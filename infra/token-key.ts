/**
 * The KMS key that envelope-encrypts session tokens (shared/crypto/envelope.ts). The key policy keeps
 * administration (account root, so the key can never become unmanageable) apart from use: only the
 * function roles that seal or open session tokens may use the key (infra/access.ts adds their
 * statements once the roles exist), each for its own operations and only with this service's
 * encryption context. No "enable IAM policies" data-plane statement: an administrator's or CI role's
 * broad kms:Decrypt plus read access to the table must not unwrap every session. An existing key's
 * policy is not ours to edit: `keyPolicyStatements` is what its owner adds (docs/deploy.md,
 * "Keeping data").
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type Alias, type IKey, Key } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { keyAdministrationStatement } from './key-administration.ts';
import type { DynamicsAuthServiceProps } from './props.ts';

/** KMS actions administrators keep on the key (no data-plane actions, no wildcards). */
export const KEY_ADMIN_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:EnableKey',
  'kms:EnableKeyRotation',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListAliases',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListKeyRotations',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:RevokeGrant',
  'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
];

/** `<stack name>/<construct path in the stack>/session-tokens`, in KMS alias characters. */
function keyAliasName(scope: Construct): string {
  const stack = Stack.of(scope);
  const path = scope.node.scopes.slice(scope.node.scopes.indexOf(stack) + 1).map((c) => c.node.id);
  return [stack.stackName, ...path, 'session-tokens'].join('/').replace(/[^A-Za-z0-9/_-]/g, '-');
}

/**
 * The token key (construct id `TokenKey` in `scope`): the key named by `existingKeyArn`, imported, or a
 * new rotating, retained key with its alias.
 */
export function defineTokenKey(
  scope: Construct,
  props: Pick<DynamicsAuthServiceProps, 'existingKeyArn' | 'multiRegionKey'>,
): { key: IKey; keyAlias?: Alias } {
  if (props.existingKeyArn !== undefined) return { key: Key.fromKeyArn(scope, 'TokenKey', props.existingKeyArn) };
  const key = new Key(scope, 'TokenKey', {
    description: `Envelope encryption of Dynamics 365 session tokens (${scope.node.path})`,
    enableKeyRotation: true,
    ...(props.multiRegionKey ? { multiRegion: true } : {}),
    removalPolicy: RemovalPolicy.RETAIN,
    policy: new PolicyDocument({
      statements: [
        keyAdministrationStatement(KEY_ADMIN_ACTIONS),
        // Defence in depth: a grant would hand key use to a principal the key policy does not name.
        new PolicyStatement({
          sid: 'DenyGrants',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['kms:CreateGrant'],
          resources: ['*'],
        }),
      ],
    }),
  });
  // A stable name to find the (retained) key by, e.g. to pass it as existingKeyArn later.
  return { key, keyAlias: key.addAlias(`alias/${keyAliasName(scope)}`) };
}
