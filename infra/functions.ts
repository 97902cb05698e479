/**
 * The Lambda functions: one per entry of `FUNCTIONS` (shared/http/routes.ts; a function may serve
 * several routes), each with its own log group and role (infra/access.ts), the same environment (the
 * configuration contract of shared/config), and its routes on the API.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { defaultEntraAuthority } from '../shared/config/clouds.ts';
import { FUNCTIONS, type FunctionName } from '../shared/http/routes.ts';
import { API_KEYS_TABLE, PENDING_LOGINS_TABLE, SESSIONS_TABLE } from '../shared/stores/tables.ts';
import { defineFunctionRole } from './access.ts';
import { addFunctionRoutes } from './api.ts';
import { LAMBDA_NODE_OPTIONS, lambdaCode } from './bundling.ts';
import type { ClientAssertionKey } from './client-assertion-key.ts';
import { acknowledgeTracingPolicy, functionTelemetry } from './observability.ts';
import type { DynamicsAuthServiceProps } from './props.ts';
import { secretIdOf, secretPolicyResource } from './secrets.ts';
import type { ServiceTables } from './tables.ts';
import { stripTrailingSlash } from './validate.ts';

export const DEFAULT_ENTRA_AUTHORITY = defaultEntraAuthority('commercial');
export const DEFAULT_LOG_RETENTION = RetentionDays.ONE_MONTH;
export const DEFAULT_SERVICE_NAME = 'dynamics-auth';
export const DEFAULT_LOG_LEVEL = 'INFO';

/**
 * The newest Node.js runtime this aws-cdk-lib offers (nodejs24.x). The bundle's syntax target
 * stays node22 (infra/bundling.ts), which runs unchanged on it.
 */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

export const DEFAULT_PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const FUNCTION_NAMES: readonly FunctionName[] = FUNCTIONS.map((spec) => spec.name);

/** Construct id stem of a function: PascalCase of its kebab-case name (`connect-start` → `ConnectStart`). */
export function constructIdOf(name: FunctionName): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** The service's resources the functions use, by the time they are defined. */
export interface FunctionTargets {
  readonly api: HttpApi;
  readonly publicBaseUrl: string;
  readonly tables: ServiceTables;
  readonly key: IKey;
  readonly clientSecret?: ISecret;
  readonly originVerifySecret?: ISecret;
  readonly clientAssertionKey?: ClientAssertionKey;
}

/** The functions' environment: the configuration contract (docs/configuration.md) from the props. */
export function functionEnvironment(props: DynamicsAuthServiceProps, targets: FunctionTargets): Record<string, string> {
  const environment: Record<string, string> = {
    CLIENT_ID: props.clientId,
    PUBLIC_BASE_URL: targets.publicBaseUrl,
    ALLOWED_RETURN_URLS: props.allowedReturnUrls.join(','),
    [PENDING_LOGINS_TABLE.envVar]: targets.tables.pendingLogins.tableName,
    [SESSIONS_TABLE.envVar]: targets.tables.sessions.tableName,
    [API_KEYS_TABLE.envVar]: targets.tables.apiKeys.tableName,
    KMS_KEY_ID: targets.key.keyArn,
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
  if (props.dataverseHosts !== undefined && props.dataverseHosts.length > 0)
    environment.DATAVERSE_HOSTS = props.dataverseHosts.join(',');
  if (targets.clientSecret) environment.CLIENT_SECRET_ARN = secretIdOf(targets.clientSecret);
  if (targets.originVerifySecret) environment.ORIGIN_VERIFY_SECRET_ID = secretIdOf(targets.originVerifySecret);
  Object.assign(environment, targets.clientAssertionKey?.environment);
  if (props.tokenEndpointAuthMethod) environment.TOKEN_ENDPOINT_AUTH_METHOD = props.tokenEndpointAuthMethod;
  const schemes = props.nativeRedirectSchemes ?? [];
  if (schemes.length > 0) environment.NATIVE_REDIRECT_SCHEMES = schemes.join(',');
  if (props.idpProfile && props.idpProfile !== 'entra') environment.IDP_PROFILE = props.idpProfile;
  if (props.resourceIndicator) environment.RESOURCE_INDICATOR = props.resourceIndicator;
  if (props.postLogoutRedirectUri) environment.POST_LOGOUT_REDIRECT_URI = props.postLogoutRedirectUri;
  return environment;
}

export interface ServiceFunctions {
  readonly functions: Record<FunctionName, LambdaFunction>;
  readonly logs: Record<FunctionName, LogGroup>;
  /** One statement per role that uses the token key (infra/access.ts). */
  readonly keyPolicyStatements: PolicyStatement[];
  /** The functions' logs and traces settings, for other functions of the service (webhook delivery). */
  readonly telemetry: ReturnType<typeof functionTelemetry>;
  /** The functions' environment (the configuration contract). */
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * Every function of `FUNCTIONS` in `scope` (construct ids `<Stem>Logs`, `<Stem>Role`, `<Stem>Function`,
 * `<Stem>Integration`), bundled from `functions/<name>/handler.ts`, with its routes on `targets.api`.
 */
export function defineFunctions(
  scope: Construct,
  props: DynamicsAuthServiceProps,
  targets: FunctionTargets,
): ServiceFunctions {
  const projectRoot = props.projectRoot ?? DEFAULT_PROJECT_ROOT;
  const logRetention = props.logRetention ?? DEFAULT_LOG_RETENTION;
  const environment = functionEnvironment(props, targets);
  const roleTargets = {
    ...targets,
    ...(targets.clientSecret ? { clientSecretResource: secretPolicyResource(targets.clientSecret) } : {}),
  };
  const keyPolicyStatements: PolicyStatement[] = [];
  const functions: Partial<Record<FunctionName, LambdaFunction>> = {};
  const logs: Partial<Record<FunctionName, LogGroup>> = {};
  // JSON logs with Lambda-set levels, active tracing and the ADOT layer (infra/observability.ts).
  const telemetry = functionTelemetry(scope, { ...props, logLevel: props.logLevel ?? DEFAULT_LOG_LEVEL });
  for (const spec of FUNCTIONS) {
    const name = spec.name;
    const cap = constructIdOf(name);
    const logGroup = new LogGroup(scope, `${cap}Logs`, {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const { role, keyUse } = defineFunctionRole(scope, name, cap, logGroup, roleTargets);
    if (keyUse) keyPolicyStatements.push(keyUse);
    const fn = new LambdaFunction(scope, `${cap}Function`, {
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
    acknowledgeTracingPolicy(role, props);
    addFunctionRoutes(targets.api, spec, cap, fn);
    functions[name] = fn;
    logs[name] = logGroup;
  }
  return {
    functions: functions as Record<FunctionName, LambdaFunction>,
    logs: logs as Record<FunctionName, LogGroup>,
    keyPolicyStatements,
    telemetry,
    environment,
  };
}
