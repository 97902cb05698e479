import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamicsAuthService, type DynamicsAuthServiceProps } from '../../infra/construct.ts';
import { nagFindings, newApp, NO_BUNDLING, resourcesOf, type Json } from './support.ts';

const BASE: DynamicsAuthServiceProps = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://contoso.crm.dynamics.com',
  allowedReturnUrls: ['https://app.example.com'],
};
const LAYER = 'arn:aws:lambda:eu-west-1:111122223333:layer:AWSOpenTelemetryDistroJs:7';

let template: Template;
let withLayer: Template;
let untraced: Template;
let topicId: string;
let stack: Stack;
beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  stack = new Stack(app, 'Observed', { env: { region: 'eu-west-1', account: '111122223333' } });
  const topic = new Topic(stack, 'Alarms', { enforceSSL: true });
  new DynamicsAuthService(stack, 'Service', { ...BASE, alarmTopic: topic, logLevel: 'WARN' });
  const layered = new Stack(app, 'Layered', { env: { region: 'eu-west-1', account: '111122223333' } });
  new DynamicsAuthService(layered, 'Service', { ...BASE, otelLayerArn: LAYER, metricsNamespace: 'Contoso/Auth' });
  const off = new Stack(app, 'Untraced');
  new DynamicsAuthService(off, 'Service', { ...BASE, tracing: false });
  for (const s of [stack, layered, off]) expect(nagFindings(s)).toEqual([]);
  app.synth();
  template = Template.fromStack(stack);
  withLayer = Template.fromStack(layered);
  untraced = Template.fromStack(off);
  topicId = Object.keys(resourcesOf(template, 'AWS::SNS::Topic'))[0]!;
});

const functions = (t: Template) =>
  Object.values(resourcesOf(t, 'AWS::Lambda::Function')).filter((f) => f.Properties.Handler === 'index.handler');

describe('logs and traces in the function configuration', () => {
  it('every function logs JSON with Lambda-set levels (application from logLevel) and has active tracing', () => {
    expect(functions(template)).toHaveLength(17); // the 15 route functions and the webhook outbox and delivery functions;
    for (const fn of functions(template)) {
      expect(fn.Properties.LoggingConfig).toMatchObject({
        LogFormat: 'JSON',
        ApplicationLogLevel: 'WARN',
        SystemLogLevel: 'INFO',
      });
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Environment.Variables.POWERTOOLS_METRICS_NAMESPACE).toBe('DynamicsAuth');
      expect(fn.Properties.Layers).toBeUndefined();
      expect(fn.Properties.Environment.Variables.AWS_LAMBDA_EXEC_WRAPPER).toBeUndefined();
    }
  });

  it('with otelLayerArn every function gets the ADOT layer and its wrapper; the namespace is configurable', () => {
    for (const fn of functions(withLayer)) {
      expect(fn.Properties.Layers).toEqual([LAYER]);
      expect(fn.Properties.Environment.Variables).toMatchObject({
        AWS_LAMBDA_EXEC_WRAPPER: '/opt/otel-instrument',
        POWERTOOLS_METRICS_NAMESPACE: 'Contoso/Auth',
      });
    }
  });

  it('tracing: false turns active tracing off and grants no X-Ray actions', () => {
    for (const fn of functions(untraced)) expect(fn.Properties.TracingConfig).toBeUndefined();
    expect(JSON.stringify(untraced.toJSON())).not.toContain('xray:');
  });

  it('the X-Ray grant is exactly the two trace-writing actions', () => {
    const xray = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Json[]).filter((s) => JSON.stringify(s.Action).includes('xray:')),
    );
    expect(xray).toHaveLength(17);
    for (const s of xray) {
      expect(s).toMatchObject({ Effect: 'Allow', Resource: '*' });
      expect([...(s.Action as string[])].sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    }
  });

  it('rejects an otelLayerArn that is not an AWSOpenTelemetryDistroJs layer', () => {
    expect(
      () =>
        new DynamicsAuthService(new Stack(new App(), 'Bad'), 'S', {
          ...BASE,
          otelLayerArn: 'arn:aws:lambda:eu-west-1:111122223333:layer:other:1',
        }),
    ).toThrow(/otelLayerArn/);
  });
});

describe('rate alarms', () => {
  const rateAlarms = () =>
    Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter((a) =>
      /ratio|p99/.test(a.Properties.AlarmName as string),
    );

  it('three rate alarms, each notifying the topic on ALARM and on OK', () => {
    const alarms = rateAlarms();
    expect(alarms.map((a) => (a.Properties.AlarmName as string).replace(/^Observed-Service-/, '')).sort()).toEqual([
      'api-5xx-ratio',
      'proxy-latency-p99',
      'refresh-failure-ratio',
    ]);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: topicId }]);
    }
  });

  it('refresh failure ratio: failed over all refreshes of the three triggers, from 5 refreshes up', () => {
    const a = rateAlarms().find((x) => /refresh-failure-ratio/.test(x.Properties.AlarmName as string))!.Properties;
    const expression = (a.Metrics as Json[]).find((m) => m.Expression)!.Expression as string;
    const failed = 'failed_ahead + failed_on401 + failed_explicit';
    const total = `(ok_ahead + ok_on401 + ok_explicit + ${failed} + terminal_ahead + terminal_on401 + terminal_explicit)`;
    expect(expression).toBe(`IF(${total} >= 5, 100 * (${failed}) / ${total}, 0)`);
    expect(a.Threshold).toBe(10);
    const inputs = (a.Metrics as Json[]).filter((m) => m.MetricStat);
    expect(inputs).toHaveLength(9);
    for (const m of inputs) {
      expect(m.MetricStat.Metric.Namespace).toBe('DynamicsAuth');
      expect(m.MetricStat.Metric.MetricName).toBe('Refresh');
      expect(m.MetricStat.Metric.Dimensions.map((d: Json) => d.Name).sort()).toEqual(['outcome', 'service', 'trigger']);
    }
  });

  it('API 5xx ratio: 5xx over requests of the stage, from 20 requests up', () => {
    const a = rateAlarms().find((x) => /api-5xx-ratio/.test(x.Properties.AlarmName as string))!.Properties;
    expect((a.Metrics as Json[]).find((m) => m.Expression)!.Expression).toBe(
      'IF(requests >= 20, 100 * errors / requests, 0)',
    );
    const names = (a.Metrics as Json[])
      .filter((m) => m.MetricStat)
      .map((m) => [m.Id, m.MetricStat.Metric.Namespace, m.MetricStat.Metric.MetricName]);
    expect(names.sort()).toEqual([
      ['errors', 'AWS/ApiGateway', '5xx'],
      ['requests', 'AWS/ApiGateway', 'Count'],
    ]);
    expect(a.Threshold).toBe(5);
  });

  it('proxy p99 latency from the service metric ProxyLatency', () => {
    const a = rateAlarms().find((x) => /proxy-latency-p99/.test(x.Properties.AlarmName as string))!.Properties;
    expect(a).toMatchObject({
      Namespace: 'DynamicsAuth',
      MetricName: 'ProxyLatency',
      ExtendedStatistic: 'p99',
      Threshold: 5000,
    });
  });

  it('the topic policy lets CloudWatch publish for the rate alarms too', () => {
    const policy = Object.values(resourcesOf(template, 'AWS::SNS::TopicPolicy'))[0]!;
    const statement = (policy.Properties.PolicyDocument.Statement as Json[]).find(
      (s) => s.Principal?.Service === 'cloudwatch.amazonaws.com',
    )!;
    const arns = JSON.stringify(statement.Condition.ArnEquals['aws:SourceArn']);
    for (const id of Object.keys(resourcesOf(template, 'AWS::CloudWatch::Alarm'))) expect(arns).toContain(id);
  });
});

describe('dashboard', () => {
  it('one dashboard with the service metrics, Lambda errors and throttles and the API 4xx/5xx', () => {
    const dashboards = Object.values(resourcesOf(template, 'AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const join = dashboards[0]!.Properties.DashboardBody['Fn::Join'][1] as Json[];
    const body = JSON.parse(join.map((part) => (typeof part === 'string' ? part : 'REF')).join('')) as {
      widgets: { properties: { title: string; metrics: Json[][] } }[];
    };
    const titles = body.widgets.map((w) => w.properties.title);
    expect(titles).toEqual([
      'Sign-ins',
      'Refreshes by outcome and trigger',
      'Token endpoint latency (ms)',
      'Proxy calls by status class',
      'Proxy latency (ms)',
      'Dataverse throttling (429) and Retry-After (s)',
      'KMS calls',
      'Refresh lease waits',
      'Connection state changes',
      'Lambda errors',
      'Lambda throttles',
      'API 4xx / 5xx',
    ]);
    const metricNames = new Set(body.widgets.flatMap((w) => w.properties.metrics.map((m) => `${m[0]}/${m[1]}`)));
    for (const metric of [
      'SignIn',
      'Refresh',
      'TokenEndpointLatency',
      'ProxyCall',
      'ProxyLatency',
      'DataverseThrottled',
      'DataverseRetryAfter',
      'KmsCall',
      'RefreshLeaseWait',
      'ConnectionStateChange',
    ]) {
      expect(metricNames).toContain(`DynamicsAuth/${metric}`);
    }
    for (const metric of ['AWS/Lambda/Errors', 'AWS/Lambda/Throttles', 'AWS/ApiGateway/4xx', 'AWS/ApiGateway/5xx'])
      expect(metricNames).toContain(metric);
    const stats = body.widgets[2]!.properties.metrics.map((m) => (m.at(-1) as { stat: string }).stat);
    expect(stats).toEqual(['p50', 'p99']);
    // Dimensions of the service's own metrics come from the closed sets only (plus the service name).
    for (const w of body.widgets)
      for (const m of w.properties.metrics)
        if (m[0] === 'DynamicsAuth') {
          const names = m.slice(2, -1).filter((_, i) => i % 2 === 0);
          for (const name of names)
            expect(['service', 'outcome', 'reason', 'trigger', 'statusClass', 'operation', 'state']).toContain(name);
        }
  });
});
