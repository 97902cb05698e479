import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import {
  ApplicationLogLevel,
  LayerVersion,
  LoggingFormat,
  SystemLogLevel,
  Tracing,
  type FunctionProps,
  type Function as LambdaFunction,
} from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { DIMENSION_VALUES } from '../shared/observability/metrics.ts';

/** The namespace of the service's own metrics (POWERTOOLS_METRICS_NAMESPACE). */
export const DEFAULT_METRICS_NAMESPACE = 'DynamicsAuth';
/** Rate alarms look at 5-minute periods, like the construct's count alarms. */
const RATE_PERIOD = Duration.minutes(5);
/** Refresh failure ratio (%) that raises its alarm, over at least MIN_REFRESHES refreshes. */
export const REFRESH_FAILURE_RATIO_PERCENT = 10;
const MIN_REFRESHES = 5;
/** API 5xx ratio (%) that raises its alarm, over at least MIN_REQUESTS requests. */
export const API_5XX_RATIO_PERCENT = 5;
const MIN_REQUESTS = 20;
/** Proxy p99 latency (ms) that raises its alarm, by default. */
export const DEFAULT_PROXY_P99_ALARM_MS = 5_000;
/** The ADOT JavaScript layer's wrapper script (AWS: "Enable your applications on Lambda", Application Signals). */
export const OTEL_EXEC_WRAPPER = '/opt/otel-instrument';
/** AWSOpenTelemetryDistroJs layer ARNs: arn:aws:lambda:<region>:<account>:layer:AWSOpenTelemetryDistroJs:<version>. */
const ADOT_LAYER_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:AWSOpenTelemetryDistroJs:\d+$/;

/** The construct's props for traces, metrics and rate alarms (see DynamicsAuthServiceProps). */
export interface ObservabilityProps {
  /** Lambda active tracing (X-Ray) on every function. @default true */
  readonly tracing?: boolean;
  /**
   * ARN of the AWS Distro for OpenTelemetry JavaScript layer (AWSOpenTelemetryDistroJs) in the stack's
   * Region: exports the service's spans to X-Ray (sets AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument).
   * @default - none: X-Ray shows Lambda's own segments; the service's spans are no-ops
   */
  readonly otelLayerArn?: string;
  /** CloudWatch namespace of the service's metrics. @default 'DynamicsAuth' */
  readonly metricsNamespace?: string;
  /** The proxy p99 latency (ms) that raises the proxy-latency-p99 alarm. @default 5000 */
  readonly proxyP99AlarmMs?: number;
}

export interface ObservabilitySettings {
  /** Lambda active tracing (X-Ray). @default true */
  readonly tracing?: boolean;
  /**
   * The AWS Distro for OpenTelemetry JavaScript layer of the deployment's Region (per Region: layers
   * are regional). With it, the functions' OpenTelemetry spans (DynamoDB, KMS, token endpoint,
   * Dataverse) are exported to X-Ray; without it, only Lambda's own segments are, and the spans are no-ops.
   * @default - no layer
   */
  readonly otelLayerArn?: string;
  /** Lambda's application log level (JSON log format). */
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** CloudWatch namespace of the service's metrics. @default DynamicsAuth */
  readonly metricsNamespace?: string;
}

export function checkObservabilitySettings(settings: Pick<ObservabilitySettings, 'otelLayerArn'>): void {
  if (settings.otelLayerArn !== undefined && !ADOT_LAYER_ARN.test(settings.otelLayerArn)) {
    throw new Error(
      `DynamicsAuthService: otelLayerArn "${settings.otelLayerArn}" must be an AWSOpenTelemetryDistroJs layer ARN of the Region`,
    );
  }
}

/** Function settings for logs and traces: JSON logs with levels set by Lambda, active tracing, the ADOT layer if named. */
export function functionTelemetry(
  scope: Construct,
  settings: ObservabilitySettings,
): Pick<FunctionProps, 'tracing' | 'loggingFormat' | 'applicationLogLevelV2' | 'systemLogLevelV2' | 'layers'> & {
  environment: Record<string, string>;
} {
  checkObservabilitySettings(settings);
  const layer = settings.otelLayerArn
    ? ((scope.node.tryFindChild('OtelLayer') as LayerVersion | undefined) ??
      LayerVersion.fromLayerVersionArn(scope, 'OtelLayer', settings.otelLayerArn))
    : undefined;
  return {
    tracing: settings.tracing === false ? Tracing.DISABLED : Tracing.ACTIVE,
    // Lambda's advanced logging controls: JSON lines, levels filtered by Lambda before they are stored.
    loggingFormat: LoggingFormat.JSON,
    applicationLogLevelV2: ApplicationLogLevel[settings.logLevel],
    systemLogLevelV2: SystemLogLevel.INFO,
    layers: layer ? [layer] : undefined,
    environment: {
      POWERTOOLS_METRICS_NAMESPACE: settings.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE,
      ...(layer ? { AWS_LAMBDA_EXEC_WRAPPER: OTEL_EXEC_WRAPPER } : {}),
    },
  };
}

/** Why the tracing statement's `Resource: *` is acceptable (cdk-nag AwsSolutions-IAM5). */
export const XRAY_WILDCARD_REASON =
  'Lambda active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions ' +
  '(AWS X-Ray: "Actions, resources, and condition keys"), so CDK grants them on "*"; the statement allows nothing else.';

/** Acknowledges, on a function's role, the X-Ray statement active tracing adds (only when tracing is on). */
export function acknowledgeTracingPolicy(role: IRole, settings: Pick<ObservabilitySettings, 'tracing'>): void {
  if (settings.tracing === false) return;
  Validations.of(role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: XRAY_WILDCARD_REASON });
}

export interface DashboardAndAlarmsProps {
  readonly namespace: string;
  readonly serviceName: string;
  readonly functions: Readonly<Record<string, LambdaFunction>>;
  readonly stage: HttpStage;
  readonly namePrefix: string;
  readonly topic?: ITopic;
  readonly proxyP99AlarmMs?: number;
}

/** One metric of the service's own (EMF), `service` plus the given dimensions, summed per 5 minutes. */
function own(
  props: DashboardAndAlarmsProps,
  name: string,
  dimensions: Record<string, string> = {},
  statistic = 'Sum',
  label?: string,
): Metric {
  return new Metric({
    namespace: props.namespace,
    metricName: name,
    dimensionsMap: { service: props.serviceName, ...dimensions },
    statistic,
    period: RATE_PERIOD,
    label,
  });
}

/** `Refresh` by outcome, summed over the triggers: the metric ids and the expression. */
function refreshesBy(props: DashboardAndAlarmsProps, outcome: string): { ids: Record<string, IMetric>; sum: string } {
  const ids: Record<string, IMetric> = {};
  for (const trigger of DIMENSION_VALUES.trigger) {
    ids[`${outcome}_${trigger === '401' ? 'on401' : trigger}`] = own(props, 'Refresh', { outcome, trigger });
  }
  return { ids, sum: Object.keys(ids).join(' + ') };
}

/**
 * Rate alarms (metric math), each with ALARM and OK notifications to `topic`: the refresh failure
 * ratio, the proxy's p99 latency, and the API's 5xx ratio. Ratios need a minimum of traffic, so a
 * single failure at 3 a.m. is not 100 %.
 */
export function createRateAlarms(scope: Construct, props: DashboardAndAlarmsProps): Alarm[] {
  const action = props.topic ? new SnsAction(props.topic) : undefined;
  const alarm = (id: string, name: string, metric: IMetric, threshold: number, description: string) => {
    const a = new Alarm(scope, id, {
      alarmName: `${props.namePrefix}-${name}`,
      alarmDescription: description,
      metric,
      threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (action) {
      a.addAlarmAction(action);
      a.addOkAction(action);
    }
    return a;
  };
  const ok = refreshesBy(props, 'ok');
  const failed = refreshesBy(props, 'failed');
  const terminal = refreshesBy(props, 'terminal');
  const total = `(${ok.sum} + ${failed.sum} + ${terminal.sum})`;
  const refreshFailureRatio = new MathExpression({
    expression: `IF(${total} >= ${MIN_REFRESHES}, 100 * (${failed.sum}) / ${total}, 0)`,
    usingMetrics: { ...ok.ids, ...failed.ids, ...terminal.ids },
    label: 'Refresh failure ratio (%)',
    period: RATE_PERIOD,
  });
  const api5xxRatio = new MathExpression({
    expression: `IF(requests >= ${MIN_REQUESTS}, 100 * errors / requests, 0)`,
    usingMetrics: {
      errors: props.stage.metricServerError({ period: RATE_PERIOD, statistic: 'Sum' }),
      requests: props.stage.metricCount({ period: RATE_PERIOD, statistic: 'Sum' }),
    },
    label: 'API 5xx ratio (%)',
    period: RATE_PERIOD,
  });
  const p99 = props.proxyP99AlarmMs ?? DEFAULT_PROXY_P99_ALARM_MS;
  return [
    alarm(
      'RefreshFailureRatioAlarm',
      'refresh-failure-ratio',
      refreshFailureRatio,
      REFRESH_FAILURE_RATIO_PERCENT,
      `${REFRESH_FAILURE_RATIO_PERCENT} % or more of the token refreshes in 5 minutes failed (the identity provider unreachable, ` +
        'refusing the service, or the session store failing; a revoked grant is "terminal", not failed). Users will soon ' +
        'get 503 or 502 on the proxy. Look at Refresh by trigger on the dashboard and at "identity provider" lines in the refresh and proxy logs.',
    ),
    alarm(
      'ProxyLatencyP99Alarm',
      'proxy-latency-p99',
      own(props, 'ProxyLatency', {}, 'p99'),
      p99,
      `The proxy's 99th-percentile latency was ${p99} ms or more in 5 minutes. Look at TokenEndpointLatency and ` +
        'DataverseThrottled/DataverseRetryAfter on the dashboard: slow Dataverse, service protection limits, or refreshes.',
    ),
    alarm(
      'Api5xxRatioAlarm',
      'api-5xx-ratio',
      api5xxRatio,
      API_5XX_RATIO_PERCENT,
      `${API_5XX_RATIO_PERCENT} % or more of the HTTP API's responses in 5 minutes were 5xx (at least ${MIN_REQUESTS} requests). ` +
        'Look in the access logs for the route and at the function alarms for crashes; 502/503/504 JSON answers come from Entra or Dataverse failing.',
    ),
  ];
}

/** The operator's dashboard: sign-ins, refreshes, token latency, proxy, throttling, KMS, leases, functions and the API. */
export function createDashboard(scope: Construct, props: DashboardAndAlarmsProps): Dashboard {
  const fns = Object.entries(props.functions);
  const graph = (title: string, left: IMetric[], width = 8) => new GraphWidget({ title, left, width, height: 6 });
  const dashboard = new Dashboard(scope, 'Dashboard', {
    dashboardName: props.namePrefix.slice(0, 255),
    defaultInterval: Duration.hours(3),
  });
  dashboard.addWidgets(
    graph('Sign-ins', [
      own(props, 'SignIn', { outcome: 'ok' }, 'Sum', 'ok'),
      ...['invalid_state', 'access_denied', 'invalid_grant', 'temporarily_unavailable', 'other'].map((reason) =>
        own(props, 'SignIn', { outcome: 'failed', reason }, 'Sum', `failed: ${reason}`),
      ),
    ]),
    graph(
      'Refreshes by outcome and trigger',
      DIMENSION_VALUES.trigger.flatMap((trigger) =>
        ['ok', 'terminal', 'failed'].map((outcome) =>
          own(props, 'Refresh', { outcome, trigger }, 'Sum', `${outcome} (${trigger})`),
        ),
      ),
    ),
    graph('Token endpoint latency (ms)', [
      own(props, 'TokenEndpointLatency', {}, 'p50', 'p50'),
      own(props, 'TokenEndpointLatency', {}, 'p99', 'p99'),
    ]),
  );
  dashboard.addWidgets(
    graph(
      'Proxy calls by status class',
      DIMENSION_VALUES.statusClass.map((statusClass) => own(props, 'ProxyCall', { statusClass }, 'Sum', statusClass)),
    ),
    graph('Proxy latency (ms)', [
      own(props, 'ProxyLatency', {}, 'p50', 'p50'),
      own(props, 'ProxyLatency', {}, 'p99', 'p99'),
    ]),
    graph('Dataverse throttling (429) and Retry-After (s)', [
      own(props, 'DataverseThrottled', {}, 'Sum', '429s'),
      own(props, 'DataverseRetryAfter', {}, 'Maximum', 'Retry-After max (s)'),
    ]),
  );
  dashboard.addWidgets(
    graph(
      'KMS calls',
      DIMENSION_VALUES.operation.map((operation) => own(props, 'KmsCall', { operation }, 'Sum', operation)),
    ),
    graph('Refresh lease waits', [own(props, 'RefreshLeaseWait', {}, 'Sum', 'waits')]),
    graph(
      'Connection state changes',
      DIMENSION_VALUES.state.map((state) => own(props, 'ConnectionStateChange', { state }, 'Sum', state)),
    ),
  );
  dashboard.addWidgets(
    graph(
      'Lambda errors',
      fns.map(([name, fn]) => fn.metricErrors({ period: RATE_PERIOD, statistic: 'Sum', label: name })),
      8,
    ),
    graph(
      'Lambda throttles',
      fns.map(([name, fn]) => fn.metricThrottles({ period: RATE_PERIOD, statistic: 'Sum', label: name })),
      8,
    ),
    graph('API 4xx / 5xx', [
      props.stage.metricClientError({ period: RATE_PERIOD, statistic: 'Sum', label: '4xx' }),
      props.stage.metricServerError({ period: RATE_PERIOD, statistic: 'Sum', label: '5xx' }),
      props.stage.metricCount({ period: RATE_PERIOD, statistic: 'Sum', label: 'requests' }),
    ]),
  );
  return dashboard;
}

/** The stack-unique name prefix the construct's alarms use. */
export function namePrefixOf(scope: Construct): string {
  const stack = Stack.of(scope);
  const ids = scope.node.scopes.slice(scope.node.scopes.indexOf(stack) + 1).map((c) => c.node.id);
  return [stack.stackName, ...ids].join('-');
}
