/**
 * The asymmetric KMS key that signs the service's `private_key_jwt` client assertions (certificate
 * credentials). The private key never leaves KMS; the functions that call the token endpoint may
 * only `kms:Sign` with RSASSA-PSS (PS256). Reading the public key and signing the certificate
 * (`npm run admin -- cert create`) is the operator's, with their own credentials.
 */
import { RemovalPolicy, Token } from 'aws-cdk-lib';
import { AccountRootPrincipal, type IGrantable, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { keyAdministrationStatement } from './key-administration.ts';

export interface ClientCertificateProps {
  /**
   * An existing asymmetric RSA KMS key (`RSA_2048` or `RSA_3072`, `SIGN_VERIFY`), by ARN. Its key
   * policy must let IAM policies in the account grant `kms:Sign`.
   * @default - the construct creates one (RSA_3072, SIGN_VERIFY, retained on stack deletion)
   */
  readonly keyArn?: string;
  /**
   * The certificate's SHA-256 thumbprint (CLIENT_CERTIFICATE_THUMBPRINT_S256) as `admin cert create`
   * prints it. Until it is set the key exists and may be signed with, but the service does not use it
   * (deploy, create the certificate, upload it, then deploy again with this).
   * @default - the key is not used yet
   */
  readonly thumbprintS256?: string;
  /**
   * Create the key as a KMS multi-Region primary key (ignored with `keyArn`): its replicas in other
   * Regions share the key material, so one certificate (one `x5t#S256`) is valid for every Region.
   * @default false
   */
  readonly multiRegion?: boolean;
}

/** The signing algorithm the functions may use (AWS KMS condition key kms:SigningAlgorithm). */
const ASSERTION_SIGNING_ALGORITHM = 'RSASSA_PSS_SHA_256';
const THUMBPRINT_S256 = /^[A-Za-z0-9_-]{43}$/;
/** Manage, not use: an asymmetric key has no rotation actions (AWS KMS: rotation is symmetric-only). */
const KEY_ADMIN_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:EnableKey',
  'kms:GetKeyPolicy',
  'kms:GetPublicKey',
  'kms:ListAliases',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateKeyDescription',
];

/**
 * The assertion key's policy, the same for the key and for each multi-Region replica of it (a
 * replica's policy is its own: https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-replicate.html).
 */
export function assertionKeyPolicy(): PolicyDocument {
  return new PolicyDocument({
    statements: [
      keyAdministrationStatement(KEY_ADMIN_ACTIONS),
      new PolicyStatement({
        // IAM decides who signs: the functions (PSS only) and the operator making the certificate.
        sid: 'AllowIamPoliciesToSign',
        principals: [new AccountRootPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
      }),
    ],
  });
}

export class ClientAssertionKey extends Construct {
  readonly key: IKey;
  /** The environment the functions need to sign assertions; empty until the thumbprint is known. */
  readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: ClientCertificateProps) {
    super(scope, id);
    const thumbprint = props.thumbprintS256;
    if (thumbprint !== undefined && !Token.isUnresolved(thumbprint) && !THUMBPRINT_S256.test(thumbprint)) {
      throw new Error(
        'DynamicsAuthService: clientCertificate.thumbprintS256 must be the 43-character base64url SHA-256 thumbprint `admin cert create` prints',
      );
    }
    this.key = props.keyArn
      ? Key.fromKeyArn(this, 'Key', props.keyArn)
      : new Key(this, 'Key', {
          description: `Signs the service's client assertions (certificate credentials) (${this.node.path})`,
          keySpec: KeySpec.RSA_3072,
          keyUsage: KeyUsage.SIGN_VERIFY,
          // An asymmetric key cannot rotate in KMS; rotation is a new key and certificate (docs/deploy.md).
          enableKeyRotation: false,
          removalPolicy: RemovalPolicy.RETAIN,
          ...(props.multiRegion ? { multiRegion: true } : {}),
          policy: assertionKeyPolicy(),
        });
    this.environment =
      thumbprint === undefined
        ? {}
        : { CLIENT_ASSERTION_KEY_ID: this.key.keyArn, CLIENT_CERTIFICATE_THUMBPRINT_S256: thumbprint };
  }

  /** `kms:Sign` with RSASSA-PSS SHA-256 on this key only: no GetPublicKey, no other algorithm. */
  grantSignAssertions(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'SignClientAssertions',
        actions: ['kms:Sign'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:SigningAlgorithm': ASSERTION_SIGNING_ALGORITHM } },
      }),
    );
  }
}
