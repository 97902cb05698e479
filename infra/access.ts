/**
 * Least privilege per function: the ACCESS table says what each function may touch, and
 * `defineFunctionRole` turns one entry into the function's own role (no managed policies, no
 * wildcards) plus, for the functions that use the token key, the key-policy statement naming it.
 */
import { Operation } from 'aws-cdk-lib/aws-dynamodb';
import { ArnPrincipal, Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { ENCRYPTION_PURPOSE, ENCRYPTION_PURPOSE_KEY, ENCRYPTION_SESSION_KEY } from '../shared/crypto/context.ts';
import type { FunctionName } from '../shared/http/routes.ts';
import type { ClientAssertionKey } from './client-assertion-key.ts';
import { secretPolicyResource } from './secrets.ts';
import type { ServiceTables, TableKey } from './tables.ts';

/** What a function may touch. Its routes, memory and timeout come from `shared/http/routes.ts`. */
interface FunctionAccess {
  /** DynamoDB actions per table, each on that table's ARN only (no index ARNs). */
  readonly dynamodb: Readonly<Partial<Record<TableKey, readonly string[]>>>;
  /** KMS actions on the token key, only with the service's encryption context. */
  readonly kms: readonly string[];
  /** Calls the token endpoint: reads the client secret, signs client assertions. */
  readonly clientSecret: boolean;
}

/**
 * KMS condition on every use of the token key: the encryption context the code sends
 * (shared/crypto/envelope.ts, `{purpose, session}`): this purpose, and no other context keys.
 */
const SESSION_TOKEN_CONTEXT = {
  StringEquals: { [`kms:EncryptionContext:${ENCRYPTION_PURPOSE_KEY}`]: ENCRYPTION_PURPOSE },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [ENCRYPTION_PURPOSE_KEY, ENCRYPTION_SESSION_KEY] },
};

const SESSION_READ_WRITE = ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];
const TOKEN_ENVELOPE = ['kms:Decrypt', 'kms:GenerateDataKey'];

/**
 * Least privilege per function (a `Record` over `FunctionName`, so a function added to
 * `shared/http/routes.ts` does not compile until its access is decided here).
 */
const ACCESS: Readonly<Record<FunctionName, FunctionAccess>> = {
  login: { dynamodb: { pendingLogins: ['dynamodb:PutItem'] }, kms: [], clientSecret: false },
  callback: {
    // DeleteItem: consumes the pending login; PutItem: writes a native client's one-time handoff.
    dynamodb: { pendingLogins: ['dynamodb:DeleteItem', 'dynamodb:PutItem'], sessions: ['dynamodb:PutItem'] },
    kms: ['kms:GenerateDataKey'],
    clientSecret: true,
  },
  // Writes and spends an admin-consent request's state; touches no session or token.
  'admin-consent': {
    dynamodb: { pendingLogins: ['dynamodb:PutItem', 'dynamodb:DeleteItem'] },
    kms: [],
    clientSecret: false,
  },
  refresh: { dynamodb: { sessions: SESSION_READ_WRITE }, kms: TOKEN_ENVELOPE, clientSecret: true },
  proxy: {
    dynamodb: { sessions: SESSION_READ_WRITE, apiKeys: ['dynamodb:GetItem'] },
    kms: TOKEN_ENVELOPE,
    clientSecret: true,
  },
  // UpdateItem: the sliding idle timeout records use (at most once per 5 minutes).
  session: { dynamodb: { sessions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'] }, kms: [], clientSecret: false },
  // Reads the session, deletes it, and where the provider offers RFC 7009 revocation decrypts its
  // refresh token and revokes it with client authentication (shared/auth/logout.ts).
  logout: {
    dynamodb: { sessions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'] },
    kms: ['kms:Decrypt'],
    clientSecret: true,
  },
  // Redeems a native client's one-time handoff.
  token: { dynamodb: { pendingLogins: ['dynamodb:DeleteItem'] }, kms: [], clientSecret: false },
  // Checks the backend's API key, then stores a connect session.
  connect: {
    dynamodb: { apiKeys: ['dynamodb:GetItem'], pendingLogins: ['dynamodb:PutItem'] },
    kms: [],
    clientSecret: false,
  },
  // Reads the connect session and starts the sign-in (writes a pending login); deletes nothing.
  'connect-start': {
    dynamodb: { pendingLogins: ['dynamodb:GetItem', 'dynamodb:PutItem'] },
    kms: [],
    clientSecret: false,
  },
  // The chooser after a connection's sign-in: reads and spends its one-time choice, reads the
  // connection's stored environment list, stores the chosen one; opens no token.
  'connect-environment': {
    dynamodb: {
      pendingLogins: ['dynamodb:GetItem', 'dynamodb:DeleteItem'],
      sessions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    },
    kms: [],
    clientSecret: false,
  },
  connections: {
    dynamodb: { apiKeys: ['dynamodb:GetItem'], sessions: SESSION_READ_WRITE },
    kms: TOKEN_ENVELOPE,
    clientSecret: true,
  },
  // Reads the caller (session or API key + connection), refreshes the discovery token, caches the list.
  // Reads the key and its endpoints item, writes that item; seals new secrets (infra/webhooks.ts grants
  // GenerateDataKey under the webhook-secret context only: it can open no session token).
  webhooks: { dynamodb: { apiKeys: ['dynamodb:GetItem', 'dynamodb:PutItem'] }, kms: [], clientSecret: false },
  environments: {
    dynamodb: { apiKeys: ['dynamodb:GetItem'], sessions: SESSION_READ_WRITE },
    kms: TOKEN_ENVELOPE,
    clientSecret: true,
  },
  openapi: { dynamodb: {}, kms: [], clientSecret: false },
};

/**
 * The DynamoDB operations the functions may call on a table (their IAM actions without `dynamodb:`),
 * sorted. DynamoDB publishes `ThrottledRequests` only per table AND operation (dimensions
 * TableName, Operation; there is no per-table total), so a table's throttling alarm sums exactly
 * these — nothing else can be throttled for the functions, which may not call anything else.
 */
export function tableOperations(table: TableKey): Operation[] {
  const known = new Set<string>(Object.values(Operation));
  const ops = new Set<string>();
  for (const access of Object.values(ACCESS)) {
    for (const action of access.dynamodb[table] ?? []) ops.add(action.replace(/^dynamodb:/, ''));
  }
  for (const op of ops) {
    if (!known.has(op)) throw new Error(`DynamicsAuthService: ${op} is not a DynamoDB operation with metrics`);
  }
  return Object.values(Operation)
    .filter((op) => ops.has(op))
    .sort();
}

/** What `defineFunctionRole` grants on: the service's resources a function may touch. */
export interface AccessTargets {
  readonly tables: ServiceTables;
  readonly key: IKey;
  /** The client secret's IAM resource (infra/secrets.ts), when the service has one. */
  readonly clientSecretResource?: string;
  readonly originVerifySecret?: ISecret;
  readonly clientAssertionKey?: ClientAssertionKey;
}

/**
 * The function's own role (construct id `<idStem>Role` in `scope`), no AWSLambdaBasicExecutionRole:
 * write access to its log group, and what ACCESS allows it. Returns the role and the key-policy
 * statement that names it, if it uses the token key (already added to a created key's policy).
 */
export function defineFunctionRole(
  scope: Construct,
  name: FunctionName,
  idStem: string,
  logGroup: ILogGroup,
  targets: AccessTargets,
): { role: Role; keyUse?: PolicyStatement } {
  const access = ACCESS[name];
  const role = new Role(scope, `${idStem}Role`, {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: `Dynamics auth service: ${name} function`,
  });
  role.addToPrincipalPolicy(
    new PolicyStatement({
      sid: 'WriteOwnLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }),
  );
  for (const [key, actions] of Object.entries(access.dynamodb) as [TableKey, readonly string[]][]) {
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...actions], resources: [targets.tables[key].tableArn] }),
    );
  }
  const keyUse = access.kms.length > 0 ? grantSessionTokenKeyUse(role, idStem, access.kms, targets.key) : undefined;
  grantSecretReads(role, access, targets);
  return { role, ...(keyUse ? { keyUse } : {}) };
}

/** The token key's actions for `role`, under the session-token context, in its policy and the key's. */
function grantSessionTokenKeyUse(role: Role, idStem: string, actions: readonly string[], key: IKey): PolicyStatement {
  role.addToPrincipalPolicy(
    new PolicyStatement({
      sid: 'SessionTokenEnvelope',
      actions: [...actions],
      resources: [key.keyArn],
      conditions: SESSION_TOKEN_CONTEXT,
    }),
  );
  // The key policy names the role itself: no other principal in the account may use the key.
  const keyUse = new PolicyStatement({
    sid: `SessionTokenEnvelopeFor${idStem}`,
    principals: [new ArnPrincipal(role.roleArn)],
    actions: [...actions],
    resources: ['*'],
    conditions: SESSION_TOKEN_CONTEXT,
  });
  key.addToResourcePolicy(keyUse);
  return keyUse;
}

/** The client secret and client-assertion key (token-endpoint callers only), and the origin-verify secret (all). */
function grantSecretReads(role: Role, access: FunctionAccess, targets: AccessTargets): void {
  if (access.clientSecret && targets.clientSecretResource) {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadClientSecret',
        effect: Effect.ALLOW,
        actions: ['secretsmanager:GetSecretValue'],
        resources: [targets.clientSecretResource],
      }),
    );
  }
  if (targets.originVerifySecret) {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadOriginVerifySecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [secretPolicyResource(targets.originVerifySecret)],
      }),
    );
  }
  // The same functions as the secret: those that call the token endpoint.
  if (access.clientSecret) targets.clientAssertionKey?.grantSignAssertions(role);
}
