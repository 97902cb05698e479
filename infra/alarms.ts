/**
 * The service's count alarms — per function `Errors` and `Throttles`, the stage's 5xx, per table
 * DynamoDB `ThrottledRequests` — plus the rate alarms and dashboard of infra/observability.ts, all
 * notifying `alarmTopic` if given.
 */
import { Duration, Names, Stack } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  type Dashboard,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { FUNCTIONS, type FunctionName } from '../shared/http/routes.ts';
import { tableOperations } from './access.ts';
import { constructIdOf, DEFAULT_SERVICE_NAME } from './functions.ts';
import { createDashboard, createRateAlarms, DEFAULT_METRICS_NAMESPACE, namePrefixOf } from './observability.ts';
import type { DynamicsAuthServiceProps } from './props.ts';
import type { ServiceTables, TableKey } from './tables.ts';

/** Every alarm looks at one 5-minute period (one datapoint to alarm); no data means OK. */
export const ALARM_PERIOD = Duration.minutes(5);
/** 5xx responses of the HTTP API stage per period that raise its alarm. */
export const API_5XX_ALARM_THRESHOLD = 5;

/** What the alarms watch. */
export interface AlarmTargets {
  readonly functions: Readonly<Record<FunctionName, LambdaFunction>>;
  readonly functionLogs: Readonly<Record<FunctionName, ILogGroup>>;
  readonly stage: HttpStage;
  readonly accessLogs: ILogGroup;
  readonly tables: ServiceTables;
  /** Alarms made elsewhere (webhook delivery's dead-letter alarm) that notify the same topic. */
  readonly extraAlarms?: readonly Alarm[];
}

/** Adds one count alarm in `scope`: ≥ threshold in one period, missing data not breaching. */
type AddAlarm = (id: string, name: string, metric: IMetric, threshold: number, description: string) => void;

/**
 * Every alarm and the dashboard, in `scope`. Alarm names are unique per account and region: the stack
 * name plus the service's construct path in the stack (e.g. `DynamicsAuthService-Service-login-Errors`),
 * so several services never clash.
 */
export function defineAlarms(
  scope: Construct,
  props: DynamicsAuthServiceProps,
  targets: AlarmTargets,
): { alarms: Alarm[]; dashboard: Dashboard } {
  const topic = props.alarmTopic;
  const namePrefix = namePrefixOf(scope);
  const action = topic ? new SnsAction(topic) : undefined;
  const alarms: Alarm[] = [];
  const alarm: AddAlarm = (id, name, metric, threshold, description) => {
    const a = new Alarm(scope, id, {
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
  functionAlarms(alarm, targets);
  apiAlarm(alarm, targets);
  tableAlarms(alarm, targets.tables);
  for (const a of targets.extraAlarms ?? []) {
    if (action) a.addAlarmAction(action);
    alarms.push(a);
  }

  // Rate alarms (with OK notifications) and the dashboard: infra/observability.ts.
  const observed = {
    ...props,
    namespace: props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE,
    serviceName: props.serviceName ?? DEFAULT_SERVICE_NAME,
    functions: targets.functions,
    stage: targets.stage,
    namePrefix,
    topic,
  };
  alarms.push(...createRateAlarms(scope, observed));
  const dashboard = createDashboard(scope, observed);
  if (topic) allowAlarmsToPublish(scope, topic, alarms);
  return { alarms, dashboard };
}

/**
 * Per function. Every handled error becomes a JSON response, so a Lambda error is a crash, a
 * timeout or running out of memory.
 */
function functionAlarms(alarm: AddAlarm, { functions, functionLogs }: AlarmTargets): void {
  for (const spec of FUNCTIONS) {
    const fn = functions[spec.name];
    const cap = constructIdOf(spec.name);
    const routes = spec.routes.map((r) => `${r.method} ${r.path}`).join(', ');
    alarm(
      `${cap}ErrorsAlarm`,
      `${spec.name}-Errors`,
      fn.metricErrors({ period: ALARM_PERIOD, statistic: 'Sum' }),
      1,
      `The ${spec.name} function (${routes}) failed at least once in 5 minutes. Handled errors are ` +
        `JSON responses, so this is a crash, a timeout (${spec.timeoutSeconds} s) or out of memory ` +
        `(${spec.memoryMb} MB); callers got a 500. Look in its log group ${functionLogs[spec.name].logGroupName} ` +
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
}

/** The HTTP API stage (namespace AWS/ApiGateway, metric 5xx, dimensions ApiId and Stage). */
function apiAlarm(alarm: AddAlarm, { stage, accessLogs }: AlarmTargets): void {
  alarm(
    'Api5xxAlarm',
    'api-5xx',
    stage.metricServerError({ period: ALARM_PERIOD, statistic: 'Sum' }),
    API_5XX_ALARM_THRESHOLD,
    `The HTTP API (stage $default) returned ${API_5XX_ALARM_THRESHOLD} or more 5xx responses in 5 ` +
      `minutes. Look in the access log group ${accessLogs.logGroupName} (status, routeKey, ` +
      'integrationError, error) for the route, then at its function. A plain 500 "Internal Server ' +
      'Error" is a function crash, timeout or throttle (see the function alarms); 502/503/504 JSON ' +
      'answers come from the functions when Microsoft Entra ID or Dataverse fail or are too slow.',
  );
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

/**
 * DynamoDB: ThrottledRequests exists only per TableName + Operation, so each alarm sums the
 * operations the functions call on that table (metric math, missing values count as 0).
 */
function tableAlarms(alarm: AddAlarm, tables: ServiceTables): void {
  const labels: Record<TableKey, string> = {
    pendingLogins: 'pending logins',
    sessions: 'sessions',
    apiKeys: 'API keys',
  };
  for (const key of Object.keys(labels) as TableKey[]) {
    const table = tables[key];
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
        usingMetrics: Object.fromEntries(operations.map((op) => [op.toLowerCase(), throttledRequests(table, op)])),
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
}

/**
 * Without an Allow for the service, CloudWatch cannot publish once the topic has a policy of its own
 * (enforceSSL adds one). Only this account's alarms, and only these.
 */
function allowAlarmsToPublish(scope: Construct, topic: ITopic, alarms: readonly Alarm[]): void {
  topic.addToResourcePolicy(
    new PolicyStatement({
      sid: `AllowAlarmsOf${Names.uniqueId(scope)}`.slice(0, 100),
      principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': Stack.of(scope).account },
        ArnEquals: { 'aws:SourceArn': alarms.map((a) => a.alarmArn) },
      },
    }),
  );
}
