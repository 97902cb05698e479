/**
 * Webhook delivery's infrastructure: the Sessions stream as the outbox (filtered to connection
 * rows), the delivery queue's retry budget and dead-letter queue, encryption and TLS-only queues,
 * least-privilege roles, and the dead-letter alarms on the alarm topic. Synthesized without bundling.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_SECRET_PURPOSE } from '../../shared/crypto/context.ts';
import { MAX_DELIVERY_ATTEMPTS, RETRY_SPAN_SECONDS } from '../../shared/webhooks/retry-schedule.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import { asArray, type Json, nagFindings, newApp, NO_BUNDLING, refId, resourcesOf, roleStatements } from './support.ts';

const BASE = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://org.crm.dynamics.com',
  allowedReturnUrls: ['https://app.example.com'],
};

let stack: DynamicsAuthStack;
let template: Template;
let importedTemplate: Template;
const byId = (prefix: string, type: string): [string, Json] => {
  const found = Object.entries(resourcesOf(template, type)).filter(([id]) => id.startsWith(prefix));
  expect(found, `${type} ${prefix}`).toHaveLength(1);
  return found[0]!;
};

beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  stack = new DynamicsAuthStack(app, 'Hooks', { service: BASE, alarmEmail: 'ops@example.com' });
  const imported = new DynamicsAuthStack(app, 'HooksImported', {
    service: { ...BASE, existingSessionsTableName: 'sessions-elsewhere' },
  });
  app.synth(); // throws on any unacknowledged cdk-nag finding
  template = Template.fromStack(stack);
  importedTemplate = Template.fromStack(imported);
});

describe('webhook delivery infrastructure', () => {
  it('turns on the Sessions stream with old and new images (the outbox)', () => {
    const [, sessions] = byId('ServiceSessions', 'AWS::DynamoDB::Table');
    expect(sessions.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
  });

  it('feeds only connection rows to the outbox processor, reporting partial failures', () => {
    const [, mapping] = Object.entries(resourcesOf(template, 'AWS::Lambda::EventSourceMapping')).find(
      ([, r]) => r.Properties.StartingPosition !== undefined,
    )!;
    expect(mapping.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(mapping.Properties.BisectBatchOnFunctionError).toBe(true);
    const patterns = mapping.Properties.FilterCriteria.Filters.map((f: Json) => JSON.parse(f.Pattern));
    expect(patterns).toEqual([
      { dynamodb: { NewImage: { ownerKeyId: { S: [{ exists: true }] } } } },
      { eventName: ['REMOVE'], dynamodb: { OldImage: { ownerKeyId: { S: [{ exists: true }] } } } },
    ]);
    expect(refId(mapping.Properties.DestinationConfig.OnFailure.Destination)).toMatch(/^ServiceWebhooksDeadLetters/);
    expect(mapping.Properties.MaximumRecordAgeInSeconds).toBe(24 * 3600);
  });

  it('moves a message to the dead-letter queue after the last attempt, and keeps it longer than the retry schedule', () => {
    const [dlqId, dlq] = byId('ServiceWebhooksDeadLetters', 'AWS::SQS::Queue');
    const [, queue] = byId('ServiceWebhooksDeliveries', 'AWS::SQS::Queue');
    expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(MAX_DELIVERY_ATTEMPTS);
    expect(refId(queue.Properties.RedrivePolicy.deadLetterTargetArn)).toBe(dlqId);
    expect(queue.Properties.MessageRetentionPeriod).toBeGreaterThanOrEqual(4 * 24 * 3600);
    expect(queue.Properties.MessageRetentionPeriod).toBeGreaterThan(RETRY_SPAN_SECONDS);
    expect(dlq.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(RETRY_SPAN_SECONDS).toBeGreaterThanOrEqual(24 * 3600);
  });

  it('encrypts every queue and refuses non-TLS access to it', () => {
    const queues = resourcesOf(template, 'AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(2);
    for (const q of Object.values(queues)) expect(q.Properties.SqsManagedSseEnabled).toBe(true);
    const policies = Object.values(resourcesOf(template, 'AWS::SQS::QueuePolicy'));
    const tlsDenied = new Set(
      policies.flatMap((p) =>
        asArray(p.Properties.PolicyDocument.Statement)
          .filter((s: Json) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false')
          .flatMap(() => asArray(p.Properties.Queues).map(refId)),
      ),
    );
    expect(tlsDenied.size).toBe(2);
  });

  it('gives the delivery function only what it needs: endpoint reads, log writes, secret decryption, its queues', () => {
    const [, fn] = byId('ServiceWebhooksDeliveryFunction', 'AWS::Lambda::Function');
    const statements = roleStatements(template, refId(fn.Properties.Role)!);
    const actions = [...new Set(statements.flatMap((s) => asArray(s.Action)))].sort();
    expect(actions).toEqual(
      [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'kms:Decrypt',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
        'sqs:SendMessage',
        // Active tracing (infra/observability.ts): the only actions on "*".
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ].sort(),
    );
    const kms = statements.find((s) => asArray(s.Action).includes('kms:Decrypt'))!;
    expect(kms.Condition.StringEquals['kms:EncryptionContext:purpose']).toBe(WEBHOOK_SECRET_PURPOSE);
    expect(fn.Properties.Environment.Variables).toMatchObject({
      WEBHOOK_QUEUE_URL: expect.anything(),
      WEBHOOK_DLQ_URL: expect.anything(),
    });
  });

  it('lets the outbox processor read endpoints, send to the delivery queue and read only the Sessions stream', () => {
    const [, fn] = byId('ServiceWebhooksOutboxFunction', 'AWS::Lambda::Function');
    const statements = roleStatements(template, refId(fn.Properties.Role)!);
    expect([...new Set(statements.flatMap((s) => asArray(s.Action)))].sort()).toEqual(
      [
        'dynamodb:DescribeStream',
        'dynamodb:GetItem',
        'dynamodb:GetRecords',
        'dynamodb:GetShardIterator',
        'dynamodb:ListStreams',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ].sort(),
    );
    const stream = statements.find((s) => asArray(s.Action).includes('dynamodb:GetRecords'))!;
    const [sessionsId] = byId('ServiceSessions', 'AWS::DynamoDB::Table');
    expect(asArray(stream.Resource)).toEqual([{ 'Fn::GetAtt': [sessionsId, 'StreamArn'] }]);
  });

  it('alarms on dead letters through the alarm topic, whose policy names the alarm', () => {
    const alarms = Object.entries(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter(([, a]) =>
      String(a.Properties.AlarmName).endsWith('webhook-dead-letters'),
    );
    expect(alarms).toHaveLength(1);
    const [alarmId, alarm] = alarms[0]!;
    expect(alarm.Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
    expect(alarm.Properties.AlarmActions).toHaveLength(1);
    const topicPolicy = Object.values(resourcesOf(template, 'AWS::SNS::TopicPolicy'))[0]!;
    const publish = asArray(topicPolicy.Properties.PolicyDocument.Statement).find(
      (s: Json) => s.Action === 'sns:Publish' && s.Effect === 'Allow',
    );
    expect(JSON.stringify(publish.Condition.ArnEquals)).toContain(alarmId);
  });

  it('is not wired (and nothing half-built) when the Sessions table is imported without a stream', () => {
    expect(Object.keys(resourcesOf(importedTemplate, 'AWS::SQS::Queue'))).toHaveLength(0);
    expect(Object.keys(resourcesOf(importedTemplate, 'AWS::Lambda::EventSourceMapping'))).toHaveLength(0);
  });

  it('has no cdk-nag finding', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});
