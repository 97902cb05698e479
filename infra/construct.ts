/**
 * `DynamicsAuthService`: the whole service as one reusable construct — two DynamoDB tables, a KMS
 * key, one Lambda function per route, and an HTTP API in front of them. Every function gets its own
 * role with exactly the actions it needs on exactly the resources it touches (no managed policies,
 * no wildcards). Instantiate it more than once (in one stack or several) for independent services.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { AccountRootPrincipal, Effect, PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENCRYPTION_PURPOSE, ENCRYPTION_PURPOSE_KEY } from '../shared/crypto/context.ts';
import { PENDING_LOGINS_TABLE, SESSIONS_TABLE, type TableDefinition } from '../shared/stores/tables.ts';
import { ROUTES, type FunctionName } from '../shared/http/routes.ts';
import { nodejsBundlingOptions } from './bundling.ts';

export const DEFAULT_ENTRA_AUTHORITY = 'https://login.microsoftonline.com/organizations/v2.0';
export const DEFAULT_THROTTLE_RATE = 50;
export const DEFAULT_THROTTLE_BURST = 100;
export const DEFAULT_LOG_RETENTION = RetentionDays.ONE_MONTH;
export const DEFAULT_SERVICE_NAME = 'dynamics-auth';
export const DEFAULT_LOG_LEVEL = 'INFO';

/**
 * The newest Node.js runtime this aws-cdk-lib offers (nodejs24.x). The bundle's syntax target
 * stays node22 (infra/bundling.ts), which runs unchanged on it.
 */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/** Headers browsers may send cross-origin (CSRF marker, bearer auth, Dataverse/OData headers). */
export const CORS_ALLOW_HEADERS = [
  'Content-Type',
  'X-CSRF',
  'Authorization',
  'OData-MaxVersion',
  'OData-Version',
  'Prefer',
  'If-Match',
  'If-None-Match',
  'Accept',
] as const;

/** Response headers a browser client may read (Dataverse create/paging/throttling metadata). */
export const CORS_EXPOSE_HEADERS = ['OData-EntityId', 'OData-Version', 'Preference-Applied', 'ETag', 'Location', 'Retry-After'];

export type { FunctionName };
export type LogLevelName = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface ThrottleProps {
  /** Steady-state requests per second for the whole stage. @default 50 */
  readonly rateLimit?: number;
  /** Burst bucket size. @default 100 */
  readonly burstLimit?: number;
}

export interface DynamicsAuthServiceProps {
  /** Entra app registration's application (client) id. */
  readonly clientId: string;
  /** Dataverse environment URL, e.g. `https://contoso.crm.dynamics.com`. */
  readonly dynamicsUrl: string;
  /**
   * Origins or URL prefixes that `returnTo` may name (ALLOWED_RETURN_URLS). Their origins are also
   * the only CORS origins the API allows (with credentials).
   */
  readonly allowedReturnUrls: readonly string[];
  /** OIDC issuer base. @default https://login.microsoftonline.com/organizations/v2.0 */
  readonly entraAuthority?: string;
  /**
   * Confidential client: the Secrets Manager secret holding the client secret — a secret name, a
   * complete secret ARN, or an `ISecret`. Only its ARN reaches the functions (CLIENT_SECRET_ARN);
   * callback, refresh and proxy may `secretsmanager:GetSecretValue` on it, nothing else.
   * Omit for a public client. If the secret is encrypted with a customer-managed KMS key, grant
   * those three roles `kms:Decrypt` on it yourself (`service.functions.callback.role`).
   * @default - public client, no secret
   */
  readonly clientSecret?: string | ISecret;
  /**
   * The service's external base URL (custom domain), without trailing slash.
   * @default - the HTTP API's own execute-api URL
   */
  readonly publicBaseUrl?: string;
  /** Stage-wide throttling. */
  readonly throttle?: ThrottleProps;
  /** Retention of the function and access log groups. @default one month */
  readonly logRetention?: RetentionDays;
  /** POWERTOOLS_SERVICE_NAME. @default dynamics-auth */
  readonly serviceName?: string;
  /** LOG_LEVEL for the functions. @default INFO */
  readonly logLevel?: LogLevelName;
  /**
   * Directory holding `functions/<name>/handler.ts` and `package-lock.json`.
   * @default - the repository this file lives in
   */
  readonly projectRoot?: string;
}

interface TableAccess {
  readonly table: 'pendingLogins' | 'sessions';
  readonly actions: readonly string[];
}

/** What a function may touch. Its route, memory and timeout come from `shared/http/routes.ts`. */
interface FunctionSpec {
  readonly dynamodb: readonly TableAccess[];
  readonly kms: readonly string[];
  /** Reads the client secret (talks to Entra's token endpoint as a confidential client). */
  readonly clientSecret: boolean;
}

/**
 * Least privilege per function (one function per route; sizing and its reasons are in
 * `shared/http/routes.ts`, shared with the local server).
 */
const FUNCTIONS: Readonly<Record<FunctionName, FunctionSpec>> = {
  login: {
    dynamodb: [{ table: 'pendingLogins', actions: ['dynamodb:PutItem'] }],
    kms: [],
    clientSecret: false,
  },
  callback: {
    dynamodb: [
      { table: 'pendingLogins', actions: ['dynamodb:DeleteItem'] },
      { table: 'sessions', actions: ['dynamodb:PutItem'] },
    ],
    kms: ['kms:GenerateDataKey'],
    clientSecret: true,
  },
  refresh: {
    dynamodb: [{ table: 'sessions', actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'] }],
    kms: ['kms:Decrypt', 'kms:GenerateDataKey'],
    clientSecret: true,
  },
  proxy: {
    dynamodb: [{ table: 'sessions', actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'] }],
    kms: ['kms:Decrypt', 'kms:GenerateDataKey'],
    clientSecret: true,
  },
  session: {
    // UpdateItem: the sliding idle timeout records use (at most once per 5 minutes).
    dynamodb: [{ table: 'sessions', actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'] }],
    kms: [],
    clientSecret: false,
  },
  logout: {
    dynamodb: [{ table: 'sessions', actions: ['dynamodb:GetItem', 'dynamodb:DeleteItem'] }],
    kms: [],
    clientSecret: false,
  },
};

export const FUNCTION_NAMES = ROUTES.map((route) => route.function);

/** KMS actions administrators keep on the key (no data-plane actions, no wildcards). */
const KEY_ADMIN_ACTIONS = [
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

const DEFAULT_PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const LOG_LEVELS: readonly string[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

function invalid(setting: string, message: string): Error {
  return new Error(`DynamicsAuthService: invalid ${setting}: ${message}`);
}

function stripTrailingSlash(value: string): string {
  return Token.isUnresolved(value) ? value : value.replace(/\/+$/, '');
}

function requireHttpUrl(setting: string, value: string, { httpsOnly }: { httpsOnly: boolean }): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(setting, `"${value}" is not an absolute URL`);
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local && !httpsOnly)) {
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

function validate(props: DynamicsAuthServiceProps): void {
  const concrete = (v: string | undefined): v is string => v !== undefined && !Token.isUnresolved(v);
  if (concrete(props.clientId) && props.clientId.trim() === '') throw invalid('clientId', 'must not be empty');
  if (concrete(props.dynamicsUrl)) requireHttpUrl('dynamicsUrl', props.dynamicsUrl, { httpsOnly: true });
  if (concrete(props.entraAuthority)) requireHttpUrl('entraAuthority', props.entraAuthority, { httpsOnly: false });
  if (concrete(props.publicBaseUrl)) requireHttpUrl('publicBaseUrl', props.publicBaseUrl, { httpsOnly: false });
  if (props.allowedReturnUrls.length === 0) throw invalid('allowedReturnUrls', 'name at least one origin or URL');
  for (const u of props.allowedReturnUrls) {
    if (Token.isUnresolved(u)) throw invalid('allowedReturnUrls', 'must be literal values (they become CORS origins)');
    if (u.includes(',')) throw invalid('allowedReturnUrls', `"${u}" must not contain a comma (the list is comma-separated)`);
    const url = requireHttpUrl('allowedReturnUrls', u, { httpsOnly: false });
    if (url.search || url.hash) throw invalid('allowedReturnUrls', `"${u}" must be an origin or an origin with a path prefix`);
  }
  const t = props.throttle ?? {};
  if (t.rateLimit !== undefined && !(Number.isFinite(t.rateLimit) && t.rateLimit > 0)) {
    throw invalid('throttle.rateLimit', `${t.rateLimit} must be a positive number`);
  }
  if (t.burstLimit !== undefined && !(Number.isInteger(t.burstLimit) && t.burstLimit > 0)) {
    throw invalid('throttle.burstLimit', `${t.burstLimit} must be a positive integer`);
  }
  if (props.logLevel !== undefined && !LOG_LEVELS.includes(props.logLevel)) {
    throw invalid('logLevel', `"${props.logLevel}" must be one of ${LOG_LEVELS.join(', ')}`);
  }
}

export class DynamicsAuthService extends Construct {
  readonly api: HttpApi;
  /** The API's `$default` stage (auto-deployed, throttled, access-logged). */
  readonly stage: HttpStage;
  readonly tables: { readonly pendingLogins: Table; readonly sessions: Table };
  readonly key: Key;
  readonly functions: Readonly<Record<FunctionName, NodejsFunction>>;
  readonly accessLogs: LogGroup;
  readonly clientSecret?: ISecret;
  /** The execute-api URL (no trailing slash). */
  readonly apiUrl: string;
  /** PUBLIC_BASE_URL: the custom base URL if given, else `apiUrl`. */
  readonly publicBaseUrl: string;
  /** The redirect URI to register in Entra: PUBLIC_BASE_URL + '/auth/callback'. */
  readonly redirectUri: string;

  constructor(scope: Construct, id: string, props: DynamicsAuthServiceProps) {
    super(scope, id);
    validate(props);

    const projectRoot = props.projectRoot ?? DEFAULT_PROJECT_ROOT;
    const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;

    // ---- Storage -------------------------------------------------------------------------------
    const table = (def: TableDefinition, removalPolicy: RemovalPolicy) =>
      new Table(this, def.logicalName, {
        partitionKey: { name: def.partitionKey, type: AttributeType.STRING },
        billingMode: BillingMode.PAY_PER_REQUEST,
        timeToLiveAttribute: def.ttlAttribute,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        removalPolicy,
      });
    this.tables = {
      // Minutes-long PKCE/state rows: nothing worth keeping once the stack is gone.
      pendingLogins: table(PENDING_LOGINS_TABLE, RemovalPolicy.DESTROY),
      // Users' sessions (encrypted refresh tokens): kept if the stack is deleted by mistake.
      sessions: table(SESSIONS_TABLE, RemovalPolicy.RETAIN),
    };

    // ---- Key -----------------------------------------------------------------------------------
    // The key policy lets the account's administrators manage the key but not use it; IAM
    // policies in the account may grant only Decrypt/GenerateDataKey, and only for this service's
    // encryption context. (In a key policy, Resource "*" means "this key".)
    const purposeCondition = {
      StringEquals: { [`kms:EncryptionContext:${ENCRYPTION_PURPOSE_KEY}`]: ENCRYPTION_PURPOSE },
    };
    this.key = new Key(this, 'TokenKey', {
      description: `Envelope encryption of Dynamics 365 session tokens (${this.node.path})`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      policy: new PolicyDocument({
        statements: [
          new PolicyStatement({
            sid: 'KeyAdministration',
            principals: [new AccountRootPrincipal()],
            actions: KEY_ADMIN_ACTIONS,
            resources: ['*'],
          }),
          new PolicyStatement({
            sid: 'AllowIamPoliciesToUseKeyForSessionTokens',
            principals: [new AccountRootPrincipal()],
            actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
            resources: ['*'],
            conditions: purposeCondition,
          }),
        ],
      }),
    });

    // ---- Client secret (optional) --------------------------------------------------------------
    if (props.clientSecret !== undefined) {
      const s = props.clientSecret;
      this.clientSecret =
        typeof s !== 'string'
          ? s
          : s.startsWith('arn:')
            ? Secret.fromSecretCompleteArn(this, 'ClientSecret', s)
            : Secret.fromSecretNameV2(this, 'ClientSecret', s);
    }
    const secret = this.clientSecret;
    // A name-only reference matches the secret's random 6-character ARN suffix, nothing more.
    const secretPolicyArn = secret ? (secret.secretFullArn ?? `${secret.secretArn}-??????`) : undefined;

    // ---- API (created before the functions: PUBLIC_BASE_URL references the Api resource only) --
    const allowOrigins = originsOf(props.allowedReturnUrls);
    this.api = new HttpApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-${id}`,
      description: 'Dynamics 365 / Dataverse OAuth 2.0 service',
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins,
        allowCredentials: true,
        allowHeaders: [...CORS_ALLOW_HEADERS],
        allowMethods: [
          CorsHttpMethod.GET,
          CorsHttpMethod.POST,
          CorsHttpMethod.PUT,
          CorsHttpMethod.PATCH,
          CorsHttpMethod.DELETE,
          CorsHttpMethod.OPTIONS,
        ],
        exposeHeaders: CORS_EXPOSE_HEADERS,
        maxAge: Duration.hours(1),
      },
    });
    this.apiUrl = this.api.apiEndpoint;
    this.publicBaseUrl = props.publicBaseUrl ? stripTrailingSlash(props.publicBaseUrl) : this.apiUrl;
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

    // ---- Functions -----------------------------------------------------------------------------
    const environment: Record<string, string> = {
      ENTRA_AUTHORITY: stripTrailingSlash(props.entraAuthority ?? DEFAULT_ENTRA_AUTHORITY),
      CLIENT_ID: props.clientId,
      DYNAMICS_URL: stripTrailingSlash(props.dynamicsUrl),
      PUBLIC_BASE_URL: this.publicBaseUrl,
      ALLOWED_RETURN_URLS: props.allowedReturnUrls.join(','),
      [PENDING_LOGINS_TABLE.envVar]: this.tables.pendingLogins.tableName,
      [SESSIONS_TABLE.envVar]: this.tables.sessions.tableName,
      KMS_KEY_ID: this.key.keyArn,
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: props.serviceName ?? DEFAULT_SERVICE_NAME,
      LOG_LEVEL: props.logLevel ?? DEFAULT_LOG_LEVEL,
    };
    if (secret) environment.CLIENT_SECRET_ARN = secret.secretArn;

    const bundling = nodejsBundlingOptions();
    const functions: Partial<Record<FunctionName, NodejsFunction>> = {};
    for (const route of ROUTES) {
      const name = route.function;
      const spec = FUNCTIONS[name];
      const cap = name.charAt(0).toUpperCase() + name.slice(1);

      const logGroup = new LogGroup(this, `${cap}Logs`, {
        retention: logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
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
      for (const access of spec.dynamodb) {
        role.addToPrincipalPolicy(
          new PolicyStatement({
            actions: [...access.actions],
            resources: [this.tables[access.table].tableArn],
          }),
        );
      }
      if (spec.kms.length > 0) {
        role.addToPrincipalPolicy(
          new PolicyStatement({
            sid: 'SessionTokenEnvelope',
            actions: [...spec.kms],
            resources: [this.key.keyArn],
            conditions: purposeCondition,
          }),
        );
      }
      if (spec.clientSecret && secretPolicyArn) {
        role.addToPrincipalPolicy(
          new PolicyStatement({
            sid: 'ReadClientSecret',
            effect: Effect.ALLOW,
            actions: ['secretsmanager:GetSecretValue'],
            resources: [secretPolicyArn],
          }),
        );
      }

      const fn = new NodejsFunction(this, `${cap}Function`, {
        description: `Dynamics auth service: ${route.method} ${route.path}`,
        entry: path.join(projectRoot, 'functions', name, 'handler.ts'),
        handler: 'handler',
        projectRoot,
        depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
        runtime: LAMBDA_RUNTIME,
        architecture: Architecture.ARM_64,
        memorySize: route.memoryMb,
        timeout: Duration.seconds(route.timeoutSeconds),
        role,
        logGroup,
        environment,
        bundling,
      });
      functions[name] = fn;

      const routes = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${cap}Integration`, fn),
      });
      // cdk-nag (v3 reads CDK's native acknowledgments), per route, so a route someone adds later
      // to `service.api` is still checked.
      for (const added of routes) {
        Validations.of(added).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'No API Gateway authorizer by design: the function authenticates the caller itself. ' +
            '/auth/login and /auth/callback must be reachable before sign-in (they start and finish ' +
            'the OAuth flow); the other routes look up the opaque session token (HttpOnly __Host- ' +
            'cookie, with an X-CSRF header on unsafe methods, or a bearer header) in the sessions ' +
            'table. An authorizer could only do the same table lookup again, adding a hop and cost. ' +
            '(Sign-in is Microsoft Entra ID, not Cognito, so a Cognito authorizer does not apply.)',
        });
      }
    }
    this.functions = functions as Record<FunctionName, NodejsFunction>;
  }
}
