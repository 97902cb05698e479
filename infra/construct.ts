/**
 * `DynamicsAuthService`: the whole service as one reusable construct — three DynamoDB tables, a KMS
 * key, one Lambda function per entry of `FUNCTIONS` (shared/http/routes.ts; a function may serve
 * several routes), an HTTP API in front of them, and CloudWatch alarms on all of it (optionally
 * notifying an SNS topic). Every function gets its own
 * role with exactly the actions it needs on exactly the resources it touches (no managed policies,
 * no wildcards). Instantiate it more than once (in one stack or several) for independent services.
 *
 * Each part lives in its own file and is defined directly in this construct's scope (plain functions,
 * no child constructs, so every logical ID stays as it is): props.ts and validate.ts (what a
 * deployment configures), tables.ts, token-key.ts, secrets.ts, api.ts, access.ts (the ACCESS table
 * and the function roles), functions.ts, alarms.ts and observability.ts.
 */
import type { DomainName, HttpApi, HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { Alarm, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Alias, IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { FunctionName } from '../shared/http/routes.ts';
import { defineAlarms } from './alarms.ts';
import { defineApi, throttleRoutes } from './api.ts';
import { ClientAssertionKey } from './client-assertion-key.ts';
import { DEFAULT_LOG_RETENTION, DEFAULT_PROJECT_ROOT, defineFunctions, LAMBDA_RUNTIME } from './functions.ts';
import { namePrefixOf } from './observability.ts';
import { WebhookDelivery } from './webhook-delivery.ts';
import { grantWebhookSecretKeyUse } from './webhooks.ts';
import type { DynamicsAuthServiceProps } from './props.ts';
import { importSecret } from './secrets.ts';
import { defineTables } from './tables.ts';
import { defineTokenKey } from './token-key.ts';
import { validateProps } from './validate.ts';

// The construct's public API, as before the parts moved to their own files.
export type { FunctionName };
export type { CustomDomainProps, DynamicsAuthServiceProps, LogLevelName, ThrottleProps } from './props.ts';
export { tableOperations } from './access.ts';
export { ALARM_PERIOD, API_5XX_ALARM_THRESHOLD } from './alarms.ts';
export {
  DEFAULT_SIGN_IN_THROTTLE_BURST,
  DEFAULT_SIGN_IN_THROTTLE_RATE,
  DEFAULT_THROTTLE_BURST,
  DEFAULT_THROTTLE_RATE,
  originsOf,
  SAME_SITE_WARNING,
  SAME_SITE_WARNING_ID,
  SIGN_IN_FUNCTIONS,
} from './api.ts';
export {
  constructIdOf,
  DEFAULT_ENTRA_AUTHORITY,
  DEFAULT_LOG_LEVEL,
  DEFAULT_LOG_RETENTION,
  DEFAULT_PROJECT_ROOT,
  DEFAULT_SERVICE_NAME,
  FUNCTION_NAMES,
  LAMBDA_RUNTIME,
} from './functions.ts';
export { secretIdOf } from './secrets.ts';
export type { TableKey } from './tables.ts';
export { KEY_ADMIN_ACTIONS } from './token-key.ts';
export { ACM_CERTIFICATE_ARN, HOST_NAME, KMS_KEY_ARN, NATIVE_REDIRECT_SCHEME, TABLE_NAME } from './validate.ts';
/** The CORS policy's lists (shared/http/cors.ts), built from the proxy's own header allowlists. */
export { CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS } from '../shared/http/cors.ts';

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
  readonly dashboard: Dashboard;
  /**
   * The key-policy statements for webhook signing secrets (their own encryption context; see
   * infra/webhooks.ts): like `keyPolicyStatements`, part of the created key's policy, output as
   * `WebhookKeyPolicyStatements` for an existing key, and in each replica key's policy.
   */
  readonly webhookKeyPolicyStatements: PolicyStatement[] = [];
  /** Webhook delivery (queues, outbox processor, delivery function), when the Sessions table is this construct's. */
  readonly webhooks?: WebhookDelivery;

  constructor(scope: Construct, id: string, props: DynamicsAuthServiceProps) {
    super(scope, id);
    validateProps(props);

    this.tables = defineTables(this, props);
    const { key, keyAlias } = defineTokenKey(this, props);
    this.key = key;
    if (keyAlias) this.keyAlias = keyAlias;

    // Optional secrets and certificate credentials.
    if (props.clientSecret !== undefined) this.clientSecret = importSecret(this, 'ClientSecret', props.clientSecret);
    if (props.originVerifySecret !== undefined) {
      this.originVerifySecret = importSecret(this, 'OriginVerifySecret', props.originVerifySecret);
    }
    if (props.clientCertificate)
      this.clientAssertionKey = new ClientAssertionKey(this, 'ClientAssertionKey', props.clientCertificate);

    // The API before the functions: PUBLIC_BASE_URL references the Api resource only.
    const api = defineApi(this, id, props, props.logRetention ?? DEFAULT_LOG_RETENTION);
    this.api = api.api;
    this.stage = api.stage;
    this.accessLogs = api.accessLogs;
    if (api.domainName) this.domainName = api.domainName;
    this.apiUrl = api.apiUrl;
    this.publicBaseUrl = api.publicBaseUrl;
    this.redirectUri = `${this.publicBaseUrl}/auth/callback`;

    const fns = defineFunctions(this, props, {
      api: this.api,
      publicBaseUrl: this.publicBaseUrl,
      tables: this.tables,
      key: this.key,
      ...(this.clientSecret ? { clientSecret: this.clientSecret } : {}),
      ...(this.originVerifySecret ? { originVerifySecret: this.originVerifySecret } : {}),
      ...(this.clientAssertionKey ? { clientAssertionKey: this.clientAssertionKey } : {}),
    });
    this.functions = fns.functions;
    const keyPolicyStatements = [...fns.keyPolicyStatements];
    // Webhooks need the Sessions stream: wired when this construct owns the table (docs/webhook-delivery.md).
    if (this.tables.sessions.tableStreamArn) {
      this.webhooks = new WebhookDelivery(this, 'Webhooks', {
        ...this.tables,
        key: this.key,
        projectRoot: props.projectRoot ?? DEFAULT_PROJECT_ROOT,
        runtime: LAMBDA_RUNTIME,
        logRetention: props.logRetention ?? DEFAULT_LOG_RETENTION,
        environment: fns.environment,
        telemetry: fns.telemetry,
        tracing: props.tracing,
        alarmNamePrefix: namePrefixOf(this),
      });
      keyPolicyStatements.push(...this.webhooks.keyPolicyStatements);
    }
    this.keyPolicyStatements = keyPolicyStatements;
    // Registration seals new webhook secrets under their own encryption context (infra/webhooks.ts).
    this.webhookKeyPolicyStatements.push(
      grantWebhookSecretKeyUse(
        this.key,
        this.functions.webhooks.role!,
        ['kms:GenerateDataKey'],
        'WebhookSecretSealingForWebhooks',
      ),
    );
    throttleRoutes(this.api, this.stage, props);

    const { alarms, dashboard } = defineAlarms(this, props, {
      functions: this.functions,
      functionLogs: fns.logs,
      stage: this.stage,
      accessLogs: this.accessLogs,
      tables: this.tables,
      // Webhook delivery's dead-letter alarm shares the topic and its policy.
      extraAlarms: this.webhooks?.alarms ?? [],
    });
    this.alarms = alarms;
    this.dashboard = dashboard;
  }
}
