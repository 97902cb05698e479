/**
 * `DynamicsAuthService`: the whole service as one reusable construct — three DynamoDB tables, a KMS
 * key, one Lambda function per entry of `FUNCTIONS` (shared/http/routes.ts; a function may serve
 * several routes), an HTTP API in front of them, and CloudWatch alarms on all of it (optionally
 * notifying an SNS topic). Every function gets its own
 * role with exactly the actions it needs on exactly the resources it touches (no managed policies,
 * no wildcards). Instantiate it more than once (in one stack or several) for independent services.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, Names, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  ApiMapping,
  CfnStage,
  CorsHttpMethod,
  DomainName,
  EndpointType,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpStage,
  LogGroupLogDestination,
  SecurityPolicy,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate, type ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Alarm, ComparisonOperator, type Dashboard, type IMetric, MathExpression, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, type ITable, Operation, StreamViewType, Table } from 'aws-cdk-lib/aws-dynamodb';
import {
  AnyPrincipal,
  ArnPrincipal,
  Effect,
  PolicyDocument,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { keyAdministrationStatement } from './key-administration.ts';
import { grantWebhookSecretKeyUse } from './webhooks.ts';
import { type Alias, type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { Architecture, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { acknowledgeTracingPolicy, createDashboard, createRateAlarms, DEFAULT_METRICS_NAMESPACE, functionTelemetry, namePrefixOf, type ObservabilityProps } from './observability.ts';
import { Construct } from 'constructs';
import { ENCRYPTION_PURPOSE, ENCRYPTION_PURPOSE_KEY, ENCRYPTION_SESSION_KEY } from '../shared/crypto/context.ts';
import { API_KEYS_TABLE, PENDING_LOGINS_TABLE, SESSIONS_TABLE, type TableDefinition } from '../shared/stores/tables.ts';
import { addOwnerIndex } from './owner-index.ts';
import { CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS } from '../shared/http/cors.ts';
import { FUNCTIONS, type FunctionName } from '../shared/http/routes.ts';
import { defaultEntraAuthority, ENTRA_CLOUDS, type EntraCloud } from '../shared/config/clouds.ts';
import { HostPatternError, parseHostPatterns } from '../shared/config/dataverse-hosts.ts';
import { isHttpsOrLoopbackHttp, withoutTrailingSlash } from '../shared/config/urls.ts';
import { LAMBDA_NODE_OPTIONS, lambdaCode } from './bundling.ts';
import { ClientAssertionKey, type ClientCertificateProps } from './client-assertion-key.ts';
import { WebhookDelivery } from './webhook-delivery.ts';

export const DEFAULT_ENTRA_AUTHORITY = defaultEntraAuthority('commercial');
export const DEFAULT_THROTTLE_RATE = 50;
export const DEFAULT_THROTTLE_BURST = 100;
/** Per-route limits of each route that needs no sign-in (SIGN_IN_FUNCTIONS). */
export const DEFAULT_SIGN_IN_THROTTLE_RATE = 10;
export const DEFAULT_SIGN_IN_THROTTLE_BURST = 20;

/**
 * The functions whose routes anyone may call before signing in (they start or finish a sign-in, or
 * describe the API). Each of their routes gets its own throttle (`signInThrottle`), and so does the
 * proxy route (`throttle`), so a flood on one cannot use up the others' allowance.
 */
export const SIGN_IN_FUNCTIONS: readonly FunctionName[] = ['login', 'callback', 'token', 'connect-start', 'connect-environment', 'admin-consent', 'openapi'];
export const DEFAULT_LOG_RETENTION = RetentionDays.ONE_MONTH;
export const DEFAULT_SERVICE_NAME = 'dynamics-auth';
export const DEFAULT_LOG_LEVEL = 'INFO';

/** Every alarm looks at one 5-minute period (one datapoint to alarm); no data means OK. */
export const ALARM_PERIOD = Duration.minutes(5);
/** 5xx responses of the HTTP API stage per period that raise its alarm. */
export const API_5XX_ALARM_THRESHOLD = 5;

/**
 * The newest Node.js runtime this aws-cdk-lib offers (nodejs24.x). The bundle's syntax target
 * stays node22 (infra/bundling.ts), which runs unchanged on it.
 */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/** The CORS policy's lists (shared/http/cors.ts), built from the proxy's own header allowlists. */
export { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS } from '../shared/http/cors.ts';

/**
 * Warning (annotation) when `publicBaseUrl` is not set: the session cookie is `SameSite=Lax`, and the
 * execute-api host is never on the browser app's site.
 */
export const SAME_SITE_WARNING_ID = 'dynamics-auth:same-site-cookie';
export const SAME_SITE_WARNING =
  'Browser apps send the session cookie only to a service on their own site: set publicBaseUrl to a ' +
  "custom domain on the app's site (e.g. auth.example.com for app.example.com), or use bearer/native clients.";

export type { FunctionName };
export type LogLevelName = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface ThrottleProps {
  /** Steady-state requests per second for the whole stage. @default 50 */
  readonly rateLimit?: number;
  /** Burst bucket size. @default 100 */
  readonly burstLimit?: number;
}

export interface CustomDomainProps {
  /** The service's host name, e.g. `auth.example.com` (on the browser app's site). */
  readonly domainName: string;
  /**
   * ACM certificate for `domainName`, in the stack's region (a regional API domain): its ARN or an
   * `ICertificate`.
   */
  readonly certificate: string | ICertificate;
}

export interface DynamicsAuthServiceProps extends ObservabilityProps {
  /** Entra app registration's application (client) id. */
  readonly clientId: string;
  /**
   * The default Dataverse environment URL, e.g. `https://contoso.crm.dynamics.com` (DYNAMICS_URL).
   * Unset in multi-environment deployments: callers then choose among their discovered environments.
   * @default - none
   */
  readonly dynamicsUrl?: string;
  /**
   * Microsoft cloud (ENTRA_CLOUD): picks the sign-in host, the discovery URL and the environment hosts.
   * @default - commercial
   */
  readonly entraCloud?: EntraCloud;
  /** Global Discovery Service base URL (DISCOVERY_URL). @default - the cloud's */
  readonly discoveryUrl?: string;
  /** Allowed Dataverse environment host patterns (DATAVERSE_HOSTS), e.g. `*.crm4.dynamics.com`. @default - the cloud's */
  readonly dataverseHosts?: readonly string[];
  /**
   * Origins or URL prefixes that `returnTo` may name (ALLOWED_RETURN_URLS). Their origins are also
   * the only CORS origins the API allows (with credentials).
   */
  readonly allowedReturnUrls: readonly string[];
  /** OIDC issuer base. @default https://login.microsoftonline.com/organizations/v2.0 */
  readonly entraAuthority?: string;
  /**
   * Confidential client: the Secrets Manager secret holding the client secret — a secret name, a
   * complete secret ARN, or an `ISecret`. Only its complete ARN, or its name when the ARN's random
   * suffix is not known, reaches the functions (CLIENT_SECRET_ARN, passed as GetSecretValue's SecretId);
   * callback, refresh, proxy, connections and environments (the functions that call Entra's token
   * endpoint) may `secretsmanager:GetSecretValue` on it, nothing else. Omit for a public client. If the
   * secret is encrypted with a customer-managed KMS key, grant those five roles `kms:Decrypt` on it yourself
   * (`service.functions.callback.role`, …).
   * @default - public client, no secret
   */
  readonly clientSecret?: string | ISecret;
  /**
   * Certificate credentials (recommended over a secret): `private_key_jwt` client assertions signed by
   * an asymmetric KMS key. The functions that call the token endpoint may `kms:Sign` (PS256) with it,
   * nothing else. See docs/deploy.md, "Certificate credentials".
   * @default - no certificate credential
   */
  readonly clientCertificate?: ClientCertificateProps;
  /**
   * TOKEN_ENDPOINT_AUTH_METHOD: `private_key_jwt`, `client_secret_basic`, `client_secret_post` or `none`.
   * @default - chosen from the credentials given and the provider's metadata
   */
  readonly tokenEndpointAuthMethod?: 'private_key_jwt' | 'client_secret_basic' | 'client_secret_post' | 'none';
  /**
   * The service's external base URL (custom domain), without trailing slash. Browser apps need it on
   * their own site (e.g. `https://auth.example.com` for `https://app.example.com`): the session
   * cookie is `SameSite=Lax`, so it is never sent to the execute-api host on cross-site fetch/XHR
   * calls. Without it the construct adds a warning; native/CLI/backend and bearer clients don't need it.
   * @default - the HTTP API's own execute-api URL
   */
  readonly publicBaseUrl?: string;
  /**
   * API Gateway custom domain the construct creates (regional, TLS 1.2) and maps to the `$default`
   * stage. Point a DNS CNAME (or Route 53 alias) for `domainName` at `domainName.regionalDomainName`
   * (the stack's `CustomDomainTarget` output).
   * `publicBaseUrl` then defaults to `https://<domainName>`.
   * @default - no custom domain
   */
  readonly customDomain?: CustomDomainProps;
  /**
   * Turn off the API's default `https://<id>.execute-api.<region>.amazonaws.com` endpoint, so the
   * service answers only on its custom domain. Set `false` to keep both (e.g. while DNS moves).
   * @default - true with `customDomain`, false without
   */
  readonly disableExecuteApiEndpoint?: boolean;
  /**
   * Throttling of the stage's default route settings, which the proxy route (`ANY /api/data/{proxy+}`)
   * also gets as its own route-level limit. API Gateway limits are per route, not per client.
   */
  readonly throttle?: ThrottleProps;
  /**
   * Route-level throttling of each route that needs no sign-in (`SIGN_IN_FUNCTIONS`: login,
   * callback, token, connect-start, openapi), each route its own bucket.
   * @default 10 requests per second, burst 20
   */
  readonly signInThrottle?: ThrottleProps;
  /**
   * Reserved concurrency of the proxy function: a slow Dataverse cannot make the proxy take more
   * than this many concurrent executions from the account (which would throttle every other Lambda
   * function in the region), and the proxy always has them. Lambda keeps 100 executions unreserved,
   * so an account at the default quota of 1,000 can reserve at most 900 in total; new accounts may
   * have a far lower quota and cannot reserve at all.
   * @default - none: the proxy shares the account's unreserved concurrency
   */
  readonly proxyReservedConcurrency?: number;
  /**
   * Secrets Manager secret (name, complete ARN or `ISecret`) holding the value of the
   * `X-Origin-Verify` header that a CloudFront distribution in front of the API adds to every
   * request (an origin custom header). Every function then refuses requests without it (403
   * `origin_not_verified`), so nobody can skip CloudFront and its AWS WAF rules by calling the
   * execute-api endpoint directly. See `examples/cloudfront-waf.ts`.
   * @default - no origin check
   */
  readonly originVerifySecret?: string | ISecret;
  /** Retention of the function and access log groups. @default one month */
  readonly logRetention?: RetentionDays;
  /** POWERTOOLS_SERVICE_NAME. @default dynamics-auth */
  readonly serviceName?: string;
  /** LOG_LEVEL for the functions. @default INFO */
  readonly logLevel?: LogLevelName;
  /**
   * Private-use URI schemes (RFC 8252 §7.1, reverse-domain form such as `com.contoso.crmcli`) that
   * native clients may use as their redirect (NATIVE_REDIRECT_SCHEMES).
   * @default - none: the variable is not set, no native redirect scheme is accepted
   */
  readonly nativeRedirectSchemes?: readonly string[];
  /**
   * IDP_PROFILE: `standard` for an OpenID Provider other than Entra (prompt=consent for a refresh
   * token, no scope on refresh; see docs/configuration.md, "OpenID providers other than Entra").
   * @default 'entra' (the variable is not set)
   */
  readonly idpProfile?: 'entra' | 'standard';
  /**
   * RESOURCE_INDICATOR: the RFC 8707 `resource` sent on authorization and token requests (AD FS:
   * the Dynamics 365 relying party identifier).
   * @default - none
   */
  readonly resourceIndicator?: string;
  /**
   * POST_LOGOUT_REDIRECT_URI: where the provider sends the browser after logout; must be under
   * `allowedReturnUrls` and registered at the provider exactly as written (Entra: a redirect URI).
   * @default - none: the provider's own signed-out page
   */
  readonly postLogoutRedirectUri?: string;
  /**
   * SNS topic that every alarm (`alarms`) notifies when it goes into ALARM. The construct adds a
   * statement to the topic's policy that lets CloudWatch publish for exactly these alarms (a topic
   * policy replaces SNS's default one, so without it CloudWatch could not publish). For an imported
   * topic that is a no-op: its policy must allow `cloudwatch.amazonaws.com` to `sns:Publish`
   * itself, and if it is encrypted with a customer-managed KMS key, the key policy must let
   * CloudWatch use the key (kms:Decrypt, kms:GenerateDataKey*). The AWS managed aws/sns key cannot
   * be used: CloudWatch cannot publish to topics encrypted with it.
   * @default - no notification: the alarms only change state in CloudWatch
   */
  readonly alarmTopic?: ITopic;
  /**
   * Use this existing sessions table (its name) instead of creating one, e.g. the table a deleted
   * or re-created stack retained. It needs partition key `id` (S) and TTL on `expiresAt`.
   * @default - the construct creates the table (retained, deletion protection on)
   */
  readonly existingSessionsTableName?: string;
  /**
   * Use this existing API keys table (its name) instead of creating one (partition key `id` (S)).
   * @default - the construct creates the table (retained, deletion protection on)
   */
  readonly existingApiKeysTableName?: string;
  /**
   * Use this existing symmetric KMS key (its ARN) for the session tokens instead of creating one,
   * e.g. the key a deleted stack retained. Its policy is not edited: add `keyPolicyStatements`
   * (output `TokenKeyPolicyStatements`) to it yourself. The sessions stored under it stay readable
   * only with the same key.
   * @default - the construct creates the key (retained, rotating) and its alias
   */
  readonly existingKeyArn?: string;
  /**
   * Use this existing pending-logins table (its name) instead of creating one, e.g. the Region's
   * replica of a multi-Region global table (infra/multi-region.ts).
   * @default - the construct creates the table (not retained)
   */
  readonly existingPendingLoginsTableName?: string;
  /**
   * Create the token key as a KMS multi-Region primary key (`mrk-` id), so replica keys in other
   * Regions share its key material (https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html).
   * Ignored with `existingKeyArn`. Cannot be changed once the key exists.
   * @default false
   */
  readonly multiRegionKey?: boolean;
  /**
   * Directory holding `functions/<name>/handler.ts` and `package-lock.json`.
   * @default - the repository this file lives in
   */
  readonly projectRoot?: string;
}

/** Keys of `DynamicsAuthService.tables`. */
export type TableKey = 'pendingLogins' | 'sessions' | 'apiKeys';

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
  'admin-consent': { dynamodb: { pendingLogins: ['dynamodb:PutItem', 'dynamodb:DeleteItem'] }, kms: [], clientSecret: false },
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
  logout: { dynamodb: { sessions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'] }, kms: ['kms:Decrypt'], clientSecret: true },
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
    dynamodb: { pendingLogins: ['dynamodb:GetItem', 'dynamodb:DeleteItem'], sessions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'] },
    kms: [],
    clientSecret: false,
  },
  connections: {
    dynamodb: { apiKeys: ['dynamodb:GetItem'], sessions: SESSION_READ_WRITE },
    kms: TOKEN_ENVELOPE,
    clientSecret: true,
  },
  // Reads the key and its endpoints item, writes that item; seals new secrets (infra/webhooks.ts grants
  // GenerateDataKey under the webhook-secret context only: it can open no session token).
  webhooks: { dynamodb: { apiKeys: ['dynamodb:GetItem', 'dynamodb:PutItem'] }, kms: [], clientSecret: false },
  // Reads the caller (session or API key + connection), refreshes the discovery token, caches the list.
  environments: {
    dynamodb: { apiKeys: ['dynamodb:GetItem'], sessions: SESSION_READ_WRITE },
    kms: TOKEN_ENVELOPE,
    clientSecret: true,
  },
  openapi: { dynamodb: {}, kms: [], clientSecret: false },
};

export const FUNCTION_NAMES: readonly FunctionName[] = FUNCTIONS.map((spec) => spec.name);

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
  return [...ops].sort() as Operation[];
}

/** Construct id stem of a function: PascalCase of its kebab-case name (`connect-start` → `ConnectStart`). */
export function constructIdOf(name: FunctionName): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * A private-use URI scheme in reverse-domain form (`com.contoso.crmcli`): DNS-style labels, at least
 * two. Stricter than the runtime's check in shared/config/config.ts, so anything accepted here also
 * loads there.
 */
/** A DNS host name of at least two labels (no scheme, port or path). */
export const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/i;
export const ACM_CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;

export const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
export const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

export const NATIVE_REDIRECT_SCHEME = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/i;

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

/** Why no route has an API Gateway authorizer (cdk-nag AwsSolutions-APIG4, acknowledged per route). */
const APIG4_REASON =
  'No API Gateway authorizer by design: each function authenticates the caller itself. ' +
  '/auth/login, /auth/callback, /connect/start and /openapi.json must be reachable before sign-in ' +
  '(they start and finish the OAuth flow, or describe the API). /auth/token authenticates with the ' +
  'one-time handoff code plus the PKCE-style verifier. The API-key routes /connect/sessions and ' +
  "/connections/* authenticate the backend's API key in the function (the API keys table stores only " +
  "its SHA-256). The other routes look up the opaque session token (HttpOnly __Host- cookie, with an " +
  'X-CSRF header on unsafe methods, or a bearer header) in the sessions table. An authorizer could ' +
  'only repeat the same table lookups, adding a hop and cost. (Sign-in is Microsoft Entra ID, not ' +
  'Cognito, so a Cognito authorizer does not apply.)';

export const DEFAULT_PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const LOG_LEVELS: readonly string[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

function invalid(setting: string, message: string): Error {
  return new Error(`DynamicsAuthService: invalid ${setting}: ${message}`);
}

function stripTrailingSlash(value: string): string {
  return Token.isUnresolved(value) ? value : withoutTrailingSlash(value);
}

function requireHttpUrl(setting: string, value: string, { httpsOnly }: { httpsOnly: boolean }): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(setting, `"${value}" is not an absolute URL`);
  }
  if (!(httpsOnly ? url.protocol === 'https:' : isHttpsOrLoopbackHttp(url))) {
    throw invalid(setting, `"${value}" must use https${httpsOnly ? '' : ' (http is allowed for localhost only)'}`);
  }
  if (url.username || url.password) throw invalid(setting, `"${value}" must not contain credentials`);
  return url;
}

/** CORS origins (scheme://host[:port]) of the allowed return URLs, deduplicated, in order. */
export function originsOf(allowedReturnUrls: readonly string[]): string[] {
  const origins = allowedReturnUrls.map((u) => requireHttpUrl('allowedReturnUrls', u, { httpsOnly: false }).origin);
  return [...new Set(origins)];
}

/** DynamoDB ThrottledRequests of one operation on a table (created or imported), Sum per ALARM_PERIOD. */
function throttledRequests(table: ITable, operation: string): Metric {
  return new Metric({
    namespace: 'AWS/DynamoDB',
    metricName: 'ThrottledRequests',
    dimensionsMap: { TableName: table.tableName, Operation: operation },
    period: ALARM_PERIOD,
    statistic: 'Sum',
  });
}

/** `<stack name>/<construct path in the stack>/session-tokens`, in KMS alias characters. */
function keyAliasName(scope: Construct): string {
  const stack = Stack.of(scope);
  const path = scope.node.scopes.slice(scope.node.scopes.indexOf(stack) + 1).map((c) => c.node.id);
  return [stack.stackName, ...path, 'session-tokens'].join('/').replace(/[^A-Za-z0-9/_-]/g, '-');
}

/** A secret given as a name, a complete ARN or an `ISecret`. */
function importSecret(scope: Construct, id: string, secret: string | ISecret): ISecret {
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
function secretPolicyResource(secret: ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

function validate(props: DynamicsAuthServiceProps): void {
  const concrete = (v: string | undefined): v is string => v !== undefined && !Token.isUnresolved(v);
  if (concrete(props.clientId) && props.clientId.trim() === '') throw invalid('clientId', 'must not be empty');
  if (concrete(props.dynamicsUrl)) requireHttpUrl('dynamicsUrl', props.dynamicsUrl, { httpsOnly: true });
  if (concrete(props.entraAuthority)) requireHttpUrl('entraAuthority', props.entraAuthority, { httpsOnly: false });
  if (props.entraCloud !== undefined && !ENTRA_CLOUDS.includes(props.entraCloud)) throw invalid('entraCloud', `must be one of ${ENTRA_CLOUDS.join(', ')}`);
  if (concrete(props.discoveryUrl)) requireHttpUrl('discoveryUrl', props.discoveryUrl, { httpsOnly: true });
  if (props.dataverseHosts !== undefined && !props.dataverseHosts.some((h) => Token.isUnresolved(h))) {
    try {
      // The same rules the runtime applies to DATAVERSE_HOSTS (exact patterns, no ports, no IP literals).
      parseHostPatterns(props.dataverseHosts, false);
    } catch (err) {
      if (err instanceof HostPatternError) throw invalid('dataverseHosts', err.message);
      throw err;
    }
  }
  if (concrete(props.publicBaseUrl)) requireHttpUrl('publicBaseUrl', props.publicBaseUrl, { httpsOnly: false });
  if (props.allowedReturnUrls.length === 0) throw invalid('allowedReturnUrls', 'name at least one origin or URL');
  for (const u of props.allowedReturnUrls) {
    if (Token.isUnresolved(u)) throw invalid('allowedReturnUrls', 'must be literal values (they become CORS origins)');
    if (u.includes(',')) throw invalid('allowedReturnUrls', `"${u}" must not contain a comma (the list is comma-separated)`);
    const url = requireHttpUrl('allowedReturnUrls', u, { httpsOnly: false });
    if (url.search || url.hash) throw invalid('allowedReturnUrls', `"${u}" must be an origin or an origin with a path prefix`);
  }
  for (const [name, t] of [
    ['throttle', props.throttle ?? {}],
    ['signInThrottle', props.signInThrottle ?? {}],
  ] as const) {
    if (t.rateLimit !== undefined && !(Number.isFinite(t.rateLimit) && t.rateLimit > 0)) {
      throw invalid(`${name}.rateLimit`, `${t.rateLimit} must be a positive number`);
    }
    if (t.burstLimit !== undefined && !(Number.isInteger(t.burstLimit) && t.burstLimit > 0)) {
      throw invalid(`${name}.burstLimit`, `${t.burstLimit} must be a positive integer`);
    }
  }
  if (props.customDomain) {
    const { domainName, certificate } = props.customDomain;
    if (concrete(domainName) && !HOST_NAME.test(domainName)) {
      throw invalid('customDomain.domainName', `"${domainName}" must be a host name such as auth.example.com`);
    }
    if (typeof certificate === 'string' && concrete(certificate) && !ACM_CERTIFICATE_ARN.test(certificate)) {
      throw invalid('customDomain.certificate', `"${certificate}" must be an ACM certificate ARN`);
    }
    if (concrete(props.publicBaseUrl) && concrete(domainName) && new URL(props.publicBaseUrl).hostname !== domainName.toLowerCase()) {
      throw invalid('publicBaseUrl', `"${props.publicBaseUrl}" must be on the custom domain ${domainName} (or left unset)`);
    }
  }
  for (const [name, value] of [
    ['existingSessionsTableName', props.existingSessionsTableName],
    ['existingApiKeysTableName', props.existingApiKeysTableName],
    ['existingPendingLoginsTableName', props.existingPendingLoginsTableName],
  ] as const) {
    if (concrete(value) && !TABLE_NAME.test(value)) throw invalid(name, `"${value}" is not a DynamoDB table name`);
  }
  if (concrete(props.existingKeyArn) && !KMS_KEY_ARN.test(props.existingKeyArn)) {
    throw invalid('existingKeyArn', `"${props.existingKeyArn}" must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`);
  }
  const reserved = props.proxyReservedConcurrency;
  if (reserved !== undefined && !(Number.isInteger(reserved) && reserved > 0)) {
    throw invalid('proxyReservedConcurrency', `${reserved} must be a positive integer`);
  }
  if (props.logLevel !== undefined && !LOG_LEVELS.includes(props.logLevel)) {
    throw invalid('logLevel', `"${props.logLevel}" must be one of ${LOG_LEVELS.join(', ')}`);
  }
  if (props.idpProfile !== undefined && !['entra', 'standard'].includes(props.idpProfile)) {
    throw invalid('idpProfile', `"${props.idpProfile}" must be entra or standard`);
  }
  for (const scheme of props.nativeRedirectSchemes ?? []) {
    if (Token.isUnresolved(scheme)) continue;
    if (!NATIVE_REDIRECT_SCHEME.test(scheme)) {
      throw invalid(
        'nativeRedirectSchemes',
        `"${scheme}" must be a private-use scheme in reverse-domain form, such as com.contoso.crmcli`,
      );
    }
  }
}

export class DynamicsAuthService extends Construct {
  readonly api: HttpApi;
  /** The API's `$default` stage (auto-deployed, throttled, access-logged). */
  readonly stage: HttpStage;
  /** The tables; `sessions` and `apiKeys` are imported (`ITable`) when an existing table was named. */
  readonly tables: { readonly pendingLogins: ITable; readonly sessions: ITable; readonly apiKeys: ITable };
  /** The token key; imported (no policy edits possible) when `existingKeyArn` was given. */
  readonly key: IKey;
  /** The key's alias (`alias/<stack name>/<construct path>/session-tokens`), unless the key is imported. */
  readonly keyAlias?: Alias;
  /**
   * The key-policy statements that let the function roles use the key (one per role, its own
   * operations, under the encryption context). Part of the created key's policy; for an existing
   * key, its owner adds them (the stack outputs them as `TokenKeyPolicyStatements`).
   */
  readonly keyPolicyStatements: readonly PolicyStatement[];
  /**
   * The key-policy statements for webhook signing secrets (their own encryption context; see
   * infra/webhooks.ts): like `keyPolicyStatements`, part of the created key's policy, output as
   * `WebhookKeyPolicyStatements` for an existing key, and in each replica key's policy.
   */
  readonly webhookKeyPolicyStatements: PolicyStatement[] = [];
  readonly functions: Readonly<Record<FunctionName, LambdaFunction>>;
  readonly accessLogs: LogGroup;
  readonly clientSecret?: ISecret;
  /** The secret holding the `X-Origin-Verify` header value, if `originVerifySecret` was given. */
  readonly originVerifySecret?: ISecret;
  /** The custom domain, if `customDomain` was given. */
  readonly domainName?: DomainName;
  /** The key that signs client assertions, when `clientCertificate` is given. */
  readonly clientAssertionKey?: ClientAssertionKey;
  /** The execute-api URL (no trailing slash); the custom domain's URL when that endpoint is off. */
  readonly apiUrl: string;
  /** PUBLIC_BASE_URL: the custom base URL if given, else `apiUrl`. */
  readonly publicBaseUrl: string;
  /** The redirect URI to register in Entra: PUBLIC_BASE_URL + '/auth/callback'. */
  readonly redirectUri: string;
  /**
   * Operational alarms, each ≥ threshold in one 5-minute period, missing data not breaching: per
   * function `Errors` ≥ 1 and `Throttles` ≥ 1; the stage's `5xx` ≥ 5; per table DynamoDB
   * `ThrottledRequests` ≥ 1 (summed over the operations the functions call). All notify
   * `alarmTopic` if given.
   */
  readonly alarms: readonly Alarm[];
  /** The CloudWatch dashboard of the service (docs/operations.md). */
  dashboard!: Dashboard;
  /** Webhook delivery (queues, outbox processor, delivery function), when the Sessions table is this construct's. */
  readonly webhooks?: WebhookDelivery;

  constructor(scope: Construct, id: string, props: DynamicsAuthServiceProps) {
    super(scope, id);
    validate(props);

    const projectRoot = props.projectRoot ?? DEFAULT_PROJECT_ROOT;
    const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;

    // ---- Storage -------------------------------------------------------------------------------
    const table = (def: TableDefinition, retain: boolean, existingName: string | undefined): ITable => {
      if (existingName !== undefined) return Table.fromTableName(this, def.logicalName, existingName);
      const created = new Table(this, def.logicalName, {
        // The Sessions stream is the webhook outbox (infra/webhook-delivery.ts).
        ...(def === SESSIONS_TABLE ? { stream: StreamViewType.NEW_AND_OLD_IMAGES } : {}),
        partitionKey: { name: def.partitionKey, type: AttributeType.STRING },
        billingMode: BillingMode.PAY_PER_REQUEST,
        timeToLiveAttribute: def.ttlAttribute,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        // Retained tables also refuse DeleteTable (console, CLI, a replaced resource) until turned off.
        deletionProtection: retain,
      });
      addOwnerIndex(created, def);
      return created;
    };
    this.tables = {
      // Minutes-long PKCE/state rows: nothing worth keeping once the stack is gone.
      pendingLogins: table(PENDING_LOGINS_TABLE, false, props.existingPendingLoginsTableName),
      // Users' sessions (encrypted refresh tokens): kept if the stack is deleted by mistake.
      sessions: table(SESSIONS_TABLE, true, props.existingSessionsTableName),
      // Backends' API keys (SHA-256 only): must survive a stack deletion. TTL on `expiresAt` like
      // the other tables; a key item without that attribute never expires.
      apiKeys: table(API_KEYS_TABLE, true, props.existingApiKeysTableName),
    };

    // ---- Key -----------------------------------------------------------------------------------
    // The key policy keeps administration (account root, so the key can never become unmanageable)
    // apart from use: only the function roles that seal or open session tokens may use the key
    // (statements added below, once the roles exist), each for its own operations and only with this
    // service's encryption context. No "enable IAM policies" data-plane statement: an administrator's
    // or CI role's broad kms:Decrypt plus read access to the table must not unwrap every session.
    // (In a key policy, Resource "*" means "this key".) An existing key's policy is not ours to
    // edit: `keyPolicyStatements` is what its owner adds (docs/deploy.md, "Keeping data").
    if (props.existingKeyArn !== undefined) {
      this.key = Key.fromKeyArn(this, 'TokenKey', props.existingKeyArn);
    } else {
      const key = new Key(this, 'TokenKey', {
        description: `Envelope encryption of Dynamics 365 session tokens (${this.node.path})`,
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
      this.key = key;
      // A stable name to find the (retained) key by, e.g. to pass it as existingKeyArn later.
      this.keyAlias = key.addAlias(`alias/${keyAliasName(this)}`);
    }

    // ---- Client secret (optional) --------------------------------------------------------------
    if (props.clientSecret !== undefined) this.clientSecret = importSecret(this, 'ClientSecret', props.clientSecret);
    const secret = this.clientSecret;
    if (props.originVerifySecret !== undefined) {
      this.originVerifySecret = importSecret(this, 'OriginVerifySecret', props.originVerifySecret);
    }
    const secretPolicyArn = secret ? secretPolicyResource(secret) : undefined;
    this.clientAssertionKey = props.clientCertificate ? new ClientAssertionKey(this, 'ClientAssertionKey', props.clientCertificate) : undefined;

    // ---- API (created before the functions: PUBLIC_BASE_URL references the Api resource only) --
    const allowOrigins = originsOf(props.allowedReturnUrls);
    this.api = new HttpApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-${id}`,
      description: 'Dynamics 365 / Dataverse OAuth 2.0 service',
      createDefaultStage: false,
      disableExecuteApiEndpoint: props.disableExecuteApiEndpoint ?? props.customDomain !== undefined,
      corsPreflight: {
        allowOrigins,
        allowCredentials: true,
        allowHeaders: [...CORS_ALLOW_HEADERS],
        allowMethods: CORS_ALLOW_METHODS.map((m) => CorsHttpMethod[m]),
        exposeHeaders: [...CORS_EXPOSE_HEADERS],
        maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
      },
    });
    const domainUrl = props.customDomain ? `https://${props.customDomain.domainName}` : undefined;
    // With the execute-api endpoint off, the API answers on its custom domain only.
    this.apiUrl = this.api.disableExecuteApiEndpoint && domainUrl ? domainUrl : this.api.apiEndpoint;
    const publicBaseUrl = props.publicBaseUrl ?? domainUrl;
    this.publicBaseUrl = publicBaseUrl ? stripTrailingSlash(publicBaseUrl) : this.apiUrl;
    // The session cookie is SameSite=Lax, so browsers never send it on cross-site fetch/XHR calls, and
    // *.execute-api.<region>.amazonaws.com is always another site than the app. A warning, not an
    // error: native/CLI/backend clients and bearer tokens work without a custom domain.
    if (!publicBaseUrl) Annotations.of(this).addWarningV2(SAME_SITE_WARNING_ID, SAME_SITE_WARNING);
    this.redirectUri = `${this.publicBaseUrl}/auth/callback`;

    // Access logs as JSON. Only the path is logged, never the query string (the callback's query
    // carries the authorization code), and no headers (cookies, bearer tokens).
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: props.throttle?.rateLimit ?? DEFAULT_THROTTLE_RATE,
        burstLimit: props.throttle?.burstLimit ?? DEFAULT_THROTTLE_BURST,
      },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            method: '$context.httpMethod',
            routeKey: '$context.routeKey',
            path: '$context.path',
            protocol: '$context.protocol',
            status: '$context.status',
            responseLength: '$context.responseLength',
            responseLatency: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            error: '$context.error.message',
          }),
        ),
      },
    });

    if (props.customDomain) {
      const { domainName, certificate } = props.customDomain;
      this.domainName = new DomainName(this, 'Domain', {
        domainName,
        certificate:
          typeof certificate === 'string' ? Certificate.fromCertificateArn(this, 'DomainCertificate', certificate) : certificate,
        endpointType: EndpointType.REGIONAL,
        securityPolicy: SecurityPolicy.TLS_1_2,
      });
      new ApiMapping(this, 'DomainMapping', { api: this.api, domainName: this.domainName, stage: this.stage });
    }

    // ---- Functions -----------------------------------------------------------------------------
    const environment: Record<string, string> = {
      CLIENT_ID: props.clientId,
      PUBLIC_BASE_URL: this.publicBaseUrl,
      ALLOWED_RETURN_URLS: props.allowedReturnUrls.join(','),
      [PENDING_LOGINS_TABLE.envVar]: this.tables.pendingLogins.tableName,
      [SESSIONS_TABLE.envVar]: this.tables.sessions.tableName,
      [API_KEYS_TABLE.envVar]: this.tables.apiKeys.tableName,
      KMS_KEY_ID: this.key.keyArn,
      NODE_OPTIONS: LAMBDA_NODE_OPTIONS,
      POWERTOOLS_SERVICE_NAME: props.serviceName ?? DEFAULT_SERVICE_NAME,
      LOG_LEVEL: props.logLevel ?? DEFAULT_LOG_LEVEL,
    };
    // With only entraCloud set, the runtime takes the cloud's own authority (ENTRA_CLOUD).
    if (props.entraAuthority !== undefined || props.entraCloud === undefined) {
      environment.ENTRA_AUTHORITY = stripTrailingSlash(props.entraAuthority ?? DEFAULT_ENTRA_AUTHORITY);
    }
    if (props.dynamicsUrl !== undefined) environment.DYNAMICS_URL = stripTrailingSlash(props.dynamicsUrl);
    if (props.entraCloud !== undefined) environment.ENTRA_CLOUD = props.entraCloud;
    if (props.discoveryUrl !== undefined) environment.DISCOVERY_URL = stripTrailingSlash(props.discoveryUrl);
    if (props.dataverseHosts !== undefined && props.dataverseHosts.length > 0) environment.DATAVERSE_HOSTS = props.dataverseHosts.join(',');
    if (secret) environment.CLIENT_SECRET_ARN = secretIdOf(secret);
    if (this.originVerifySecret) environment.ORIGIN_VERIFY_SECRET_ID = secretIdOf(this.originVerifySecret);
    Object.assign(environment, this.clientAssertionKey?.environment);
    if (props.tokenEndpointAuthMethod) environment.TOKEN_ENDPOINT_AUTH_METHOD = props.tokenEndpointAuthMethod;
    const schemes = props.nativeRedirectSchemes ?? [];
    if (schemes.length > 0) environment.NATIVE_REDIRECT_SCHEMES = schemes.join(',');
    if (props.idpProfile && props.idpProfile !== 'entra') environment.IDP_PROFILE = props.idpProfile;
    if (props.resourceIndicator) environment.RESOURCE_INDICATOR = props.resourceIndicator;
    if (props.postLogoutRedirectUri) environment.POST_LOGOUT_REDIRECT_URI = props.postLogoutRedirectUri;

    const keyPolicyStatements: PolicyStatement[] = [];
    const functions: Partial<Record<FunctionName, LambdaFunction>> = {};
    const functionLogs: Partial<Record<FunctionName, LogGroup>> = {};
    // JSON logs with Lambda-set levels, active tracing and the ADOT layer (infra/observability.ts).
    const telemetry = functionTelemetry(this, { ...props, logLevel: props.logLevel ?? DEFAULT_LOG_LEVEL });
    for (const spec of FUNCTIONS) {
      const name = spec.name;
      const access = ACCESS[name];
      const cap = constructIdOf(name);

      const logGroup = new LogGroup(this, `${cap}Logs`, {
        retention: logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      functionLogs[name] = logGroup;
      // Own role per function, no AWSLambdaBasicExecutionRole: write access to its log group only.
      const role = new Role(this, `${cap}Role`, {
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
          new PolicyStatement({
            actions: [...actions],
            resources: [this.tables[key].tableArn],
          }),
        );
      }
      if (access.kms.length > 0) {
        role.addToPrincipalPolicy(
          new PolicyStatement({
            sid: 'SessionTokenEnvelope',
            actions: [...access.kms],
            resources: [this.key.keyArn],
            conditions: SESSION_TOKEN_CONTEXT,
          }),
        );
        // The key policy names the role itself: no other principal in the account may use the key.
        const keyUse = new PolicyStatement({
          sid: `SessionTokenEnvelopeFor${cap}`,
          principals: [new ArnPrincipal(role.roleArn)],
          actions: [...access.kms],
          resources: ['*'],
          conditions: SESSION_TOKEN_CONTEXT,
        });
        keyPolicyStatements.push(keyUse);
        this.key.addToResourcePolicy(keyUse);
      }
      if (access.clientSecret && secretPolicyArn) {
        role.addToPrincipalPolicy(
          new PolicyStatement({
            sid: 'ReadClientSecret',
            effect: Effect.ALLOW,
            actions: ['secretsmanager:GetSecretValue'],
            resources: [secretPolicyArn],
          }),
        );
      }

      if (this.originVerifySecret) {
        role.addToPrincipalPolicy(
          new PolicyStatement({
            sid: 'ReadOriginVerifySecret',
            actions: ['secretsmanager:GetSecretValue'],
            resources: [secretPolicyResource(this.originVerifySecret)],
          }),
        );
      }
      // The same functions as the secret: those that call the token endpoint.
      if (access.clientSecret) this.clientAssertionKey?.grantSignAssertions(role);

      const fn = new LambdaFunction(this, `${cap}Function`, {
        description: `Dynamics auth service: ${spec.routes.map((r) => `${r.method} ${r.path}`).join(', ')}`,
        code: lambdaCode(`functions/${name}/handler.ts`, projectRoot),
        handler: 'index.handler',
        runtime: LAMBDA_RUNTIME,
        architecture: Architecture.ARM_64,
        memorySize: spec.memoryMb,
        timeout: Duration.seconds(spec.timeoutSeconds),
        role,
        logGroup,
        ...telemetry,
        environment: { ...environment, ...telemetry.environment },
        ...(name === 'proxy' && props.proxyReservedConcurrency !== undefined
          ? { reservedConcurrentExecutions: props.proxyReservedConcurrency }
          : {}),
      });
      functions[name] = fn;
      acknowledgeTracingPolicy(role, props);

      // One integration per function, shared by its routes (each route still gets its own invoke
      // permission, scoped to that route's path).
      const integration = new HttpLambdaIntegration(`${cap}Integration`, fn);
      for (const route of spec.routes) {
        const added = this.api.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
        // cdk-nag (v3 reads CDK's native acknowledgments), per route, so a route someone adds later
        // to `service.api` is still checked.
        for (const r of added) Validations.of(r).acknowledge({ id: 'AwsSolutions-APIG4', reason: APIG4_REASON });
      }
    }
    this.functions = functions as Record<FunctionName, LambdaFunction>;
    // Webhooks need the Sessions stream: wired when this construct owns the table (docs/webhook-delivery.md).
    if (this.tables.sessions.tableStreamArn) {
      this.webhooks = new WebhookDelivery(this, 'Webhooks', {
        ...this.tables, key: this.key, projectRoot, runtime: LAMBDA_RUNTIME, logRetention, environment, telemetry, tracing: props.tracing,
        alarmNamePrefix: [Stack.of(this).stackName, ...this.node.scopes.slice(this.node.scopes.indexOf(Stack.of(this)) + 1).map((c) => c.node.id)].join('-'),
      });
      keyPolicyStatements.push(...this.webhooks.keyPolicyStatements);
    }
    this.keyPolicyStatements = keyPolicyStatements;
    // Registration seals new webhook secrets under their own encryption context (infra/webhooks.ts).
    this.webhookKeyPolicyStatements.push(
      grantWebhookSecretKeyUse(this.key, this.functions.webhooks.role!, ['kms:GenerateDataKey'], 'WebhookSecretSealingForWebhooks'),
    );
    this.throttleRoutes(props);

    // ---- Alarms --------------------------------------------------------------------------------
    this.alarms = this.createAlarms(props, functionLogs as Record<FunctionName, LogGroup>);
  }

  /**
   * Route-level throttles (CfnStage RouteSettings, keyed by route key): each sign-in route its own
   * `signInThrottle`, the proxy route its own `throttle`, so proxy traffic cannot starve sign-in.
   */
  private throttleRoutes(props: DynamicsAuthServiceProps): void {
    // RouteSettings is untyped JSON in CloudFormation's schema, so CDK passes it as written.
    const routeThrottle = (t: ThrottleProps | undefined, rate: number, burst: number) => ({
      ThrottlingRateLimit: t?.rateLimit ?? rate,
      ThrottlingBurstLimit: t?.burstLimit ?? burst,
    });
    const signIn = routeThrottle(props.signInThrottle, DEFAULT_SIGN_IN_THROTTLE_RATE, DEFAULT_SIGN_IN_THROTTLE_BURST);
    const proxy = routeThrottle(props.throttle, DEFAULT_THROTTLE_RATE, DEFAULT_THROTTLE_BURST);
    const settings: Record<string, ReturnType<typeof routeThrottle>> = {};
    for (const spec of FUNCTIONS) {
      const limits = SIGN_IN_FUNCTIONS.includes(spec.name) ? signIn : spec.name === 'proxy' ? proxy : undefined;
      if (!limits) continue;
      for (const route of spec.routes) settings[`${route.method} ${route.path}`] = limits;
    }
    const cfnStage = this.stage.node.defaultChild as CfnStage;
    cfnStage.routeSettings = settings;
    // Route settings name routes by key: the stage must not be updated before the routes exist.
    for (const route of this.api.node.children.filter((c) => c instanceof HttpRoute)) this.stage.node.addDependency(route);
  }

  private createAlarms(props: DynamicsAuthServiceProps, logs: Readonly<Record<FunctionName, LogGroup>>): Alarm[] {
    const topic = props.alarmTopic;
    const stack = Stack.of(this);
    // Alarm names are unique per account and region: the stack name plus this construct's path in
    // the stack (e.g. `DynamicsAuthService-Service-login-Errors`), so several services never clash.
    const idsInStack = this.node.scopes.slice(this.node.scopes.indexOf(stack) + 1).map((c) => c.node.id);
    const namePrefix = [stack.stackName, ...idsInStack].join('-');
    const action = topic ? new SnsAction(topic) : undefined;
    const alarms: Alarm[] = [];
    const alarm = (id: string, name: string, metric: IMetric, threshold: number, description: string) => {
      const a = new Alarm(this, id, {
        alarmName: `${namePrefix}-${name}`,
        alarmDescription: description,
        metric,
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        // An idle service publishes no Errors/Throttles/5xx/ThrottledRequests datapoints at all.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      if (action) a.addAlarmAction(action);
      alarms.push(a);
    };

    // Functions. Every handled error becomes a JSON response, so a Lambda error is a crash, a
    // timeout or running out of memory.
    for (const spec of FUNCTIONS) {
      const fn = this.functions[spec.name];
      const cap = constructIdOf(spec.name);
      const routes = spec.routes.map((r) => `${r.method} ${r.path}`).join(', ');
      alarm(
        `${cap}ErrorsAlarm`,
        `${spec.name}-Errors`,
        fn.metricErrors({ period: ALARM_PERIOD, statistic: 'Sum' }),
        1,
        `The ${spec.name} function (${routes}) failed at least once in 5 minutes. Handled errors are ` +
          `JSON responses, so this is a crash, a timeout (${spec.timeoutSeconds} s) or out of memory ` +
          `(${spec.memoryMb} MB); callers got a 500. Look in its log group ${logs[spec.name].logGroupName} ` +
          'for "Task timed out", Runtime.* errors (e.g. Runtime.OutOfMemory) and uncaught exceptions.',
      );
      alarm(
        `${cap}ThrottlesAlarm`,
        `${spec.name}-Throttles`,
        fn.metricThrottles({ period: ALARM_PERIOD, statistic: 'Sum' }),
        1,
        `Lambda refused to run the ${spec.name} function (${routes}) at least once in 5 minutes, so ` +
          "callers got a 5xx. Lambda concurrency ran out: check the account's ConcurrentExecutions " +
          'against its concurrency quota (Service Quotas) and reserved concurrency held by other ' +
          'functions in the region; the stage throttling (throttleRate/throttleBurst) caps requests before Lambda.',
      );
    }

    // The HTTP API stage (namespace AWS/ApiGateway, metric 5xx, dimensions ApiId and Stage).
    alarm(
      'Api5xxAlarm',
      'api-5xx',
      this.stage.metricServerError({ period: ALARM_PERIOD, statistic: 'Sum' }),
      API_5XX_ALARM_THRESHOLD,
      `The HTTP API (stage $default) returned ${API_5XX_ALARM_THRESHOLD} or more 5xx responses in 5 ` +
        `minutes. Look in the access log group ${this.accessLogs.logGroupName} (status, routeKey, ` +
        'integrationError, error) for the route, then at its function. A plain 500 "Internal Server ' +
        'Error" is a function crash, timeout or throttle (see the function alarms); 502/503/504 JSON ' +
        'answers come from the functions when Microsoft Entra ID or Dataverse fail or are too slow.',
    );

    // DynamoDB: ThrottledRequests exists only per TableName + Operation, so each alarm sums the
    // operations the functions call on that table (metric math, missing values count as 0).
    const labels: Record<TableKey, string> = {
      pendingLogins: 'pending logins',
      sessions: 'sessions',
      apiKeys: 'API keys',
    };
    for (const key of Object.keys(labels) as TableKey[]) {
      const table = this.tables[key];
      const operations = tableOperations(key);
      // A metric-math alarm may read at most 10 metrics.
      if (operations.length === 0 || operations.length > 10) {
        throw new Error(`DynamicsAuthService: ${operations.length} operations on the ${key} table`);
      }
      const cap = key.charAt(0).toUpperCase() + key.slice(1);
      alarm(
        `${cap}ThrottlesAlarm`,
        `${cap}Table-ThrottledRequests`,
        new MathExpression({
          expression: operations.map((op) => op.toLowerCase()).join(' + '),
          usingMetrics: Object.fromEntries(
            operations.map((op) => [
              op.toLowerCase(),
              throttledRequests(table, op),
            ]),
          ),
          label: `ThrottledRequests (${operations.join(' + ')})`,
          period: ALARM_PERIOD,
        }),
        1,
        `DynamoDB throttled at least one request (${operations.join(', ')}) to the ${labels[key]} ` +
          `table ${table.tableName} in 5 minutes. The table is on-demand, so the cause is a hot key, ` +
          "the account's per-table throughput quota, or traffic more than doubling its previous peak " +
          'within 30 minutes. The SDK retries, so users see slowness or 5xx. Look at its ThrottledRequests ' +
          'by Operation and the cause-specific metrics (Read/WriteKeyRangeThroughputThrottleEvents, ' +
          'Read/WriteAccountLimitThrottleEvents).',
      );
    }

    // Webhook delivery's dead-letter alarm (infra/webhook-delivery.ts) shares the topic and its policy.
    for (const a of this.webhooks?.alarms ?? []) {
      if (action) a.addAlarmAction(action);
      alarms.push(a);
    }
    // Rate alarms (with OK notifications) and the dashboard: infra/observability.ts.
    const observed = { ...props, namespace: props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE, serviceName: props.serviceName ?? DEFAULT_SERVICE_NAME, functions: this.functions, stage: this.stage, namePrefix: namePrefixOf(this), topic };
    alarms.push(...createRateAlarms(this, observed));
    this.dashboard = createDashboard(this, observed);

    if (topic) {
      // Without an Allow for the service, CloudWatch cannot publish once the topic has a policy of
      // its own (enforceSSL adds one). Only this account's alarms, and only these.
      topic.addToResourcePolicy(
        new PolicyStatement({
          sid: `AllowAlarmsOf${Names.uniqueId(this)}`.slice(0, 100),
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnEquals: { 'aws:SourceArn': alarms.map((a) => a.alarmArn) },
          },
        }),
      );
    }
    return alarms;
  }
}
