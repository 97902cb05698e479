/**
 * Webhook delivery: the Sessions table's stream as the outbox, a processor function that turns
 * connection changes into delivery messages, an SQS queue with a dead-letter queue, a delivery
 * function that signs and sends them with backoff, and alarms on the dead letters.
 * See docs/webhook-delivery.md.
 */
import { acknowledgeTracingPolicy, type functionTelemetry } from './observability.ts';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  Architecture,
  EventSourceMapping,
  FilterCriteria,
  Function as LambdaFunction,
  type Runtime,
  StartingPosition,
} from 'aws-cdk-lib/aws-lambda';
import { SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONNECTION_RECORD_FILTERS } from '../shared/webhooks/connection-events.ts';
import { MAX_DELIVERY_ATTEMPTS, RETRY_SPAN_SECONDS } from '../shared/webhooks/retry-schedule.ts';
import { lambdaCode } from './bundling.ts';
import { grantWebhookSecretKeyUse } from './webhooks.ts';

/** Each delivery attempt is bounded by the sender's 5 s timeout; a batch of 10 runs in parallel. */
export const DELIVERY_FUNCTION_TIMEOUT = Duration.seconds(30);
/** Lambda's advice for SQS sources: the queue's visibility timeout at least six times the function's. */
export const DELIVERY_QUEUE_VISIBILITY = Duration.seconds(6 * 30);
/** Longer than the whole retry schedule (about 27.6 h) with room for a backlog. */
export const DELIVERY_RETENTION = Duration.days(4);
/** SQS's maximum. A standard queue's message keeps its first enqueue time in the DLQ, so this counts from then. */
export const DEAD_LETTER_RETENTION = Duration.days(14);

export interface WebhookDeliveryProps {
  /** The Sessions table, with a NEW_AND_OLD_IMAGES stream. */
  readonly sessions: ITable;
  readonly apiKeys: ITable;
  /** Where the deliveries log goes (short-lived items with a TTL). */
  readonly pendingLogins: ITable;
  readonly key: IKey;
  readonly projectRoot: string;
  readonly runtime: Runtime;
  readonly logRetention: RetentionDays;
  /** The service functions' environment (one configuration for every function of the service). */
  readonly environment: Readonly<Record<string, string>>;
  /** The service functions' logs and traces settings (infra/observability.ts functionTelemetry). */
  readonly telemetry: ReturnType<typeof functionTelemetry>;
  /** Whether active tracing is on (its X-Ray statement is then acknowledged on each role). */
  readonly tracing?: boolean;
  /** Alarm names start with this (the service's own alarm prefix). */
  readonly alarmNamePrefix: string;
}

export class WebhookDelivery extends Construct {
  readonly queue: Queue;
  /**
   * Deliveries that failed every attempt or were refused, and descriptions (shard, sequence numbers)
   * of Sessions stream batches the outbox processor gave up on.
   */
  readonly deadLetterQueue: Queue;
  readonly processor: LambdaFunction;
  readonly delivery: LambdaFunction;
  readonly alarms: readonly Alarm[];
  /** Key-policy statements for the token key (the delivery role opens webhook secrets). */
  readonly keyPolicyStatements: readonly PolicyStatement[];

  constructor(scope: Construct, id: string, props: WebhookDeliveryProps) {
    super(scope, id);
    const queueProps = { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true };
    this.deadLetterQueue = new Queue(this, 'DeadLetters', { ...queueProps, retentionPeriod: DEAD_LETTER_RETENTION });
    this.queue = new Queue(this, 'Deliveries', {
      ...queueProps,
      retentionPeriod: DELIVERY_RETENTION,
      visibilityTimeout: DELIVERY_QUEUE_VISIBILITY,
      // The last attempt's failure makes the next receive exceed this: SQS moves the message to the DLQ.
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_DELIVERY_ATTEMPTS },
    });

    const fn = (
      name: string,
      entry: string,
      description: string,
      timeout: Duration,
      environment: Record<string, string>,
    ) => {
      const logGroup = new LogGroup(this, `${name}Logs`, {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new Role(this, `${name}Role`, {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description,
      });
      acknowledgeTracingPolicy(role, { tracing: props.tracing });
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'WriteOwnLogs',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      );
      return new LambdaFunction(this, `${name}Function`, {
        description,
        code: lambdaCode(entry, props.projectRoot),
        handler: 'index.handler',
        runtime: props.runtime,
        architecture: Architecture.ARM_64,
        memorySize: 256,
        timeout,
        role,
        logGroup,
        ...props.telemetry,
        environment: { ...props.environment, ...props.telemetry.environment, ...environment },
      });
    };

    this.processor = fn(
      'Outbox',
      'functions/webhook-outbox/handler.ts',
      'Dynamics auth service: connection changes to webhook deliveries',
      Duration.seconds(30),
      {
        API_KEYS_TABLE: props.apiKeys.tableName,
        WEBHOOK_QUEUE_URL: this.queue.queueUrl,
      },
    );
    this.processor.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [props.apiKeys.tableArn] }),
    );
    this.queue.grantSendMessages(this.processor);
    // Stream reads scoped to the Sessions stream itself (the event source's own grant adds ListStreams on "*").
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/iam-policy-example-lamda-process-dynamodb-streams.html
    this.processor.addToRolePolicy(
      new PolicyStatement({
        actions: [
          'dynamodb:DescribeStream',
          'dynamodb:GetRecords',
          'dynamodb:GetShardIterator',
          'dynamodb:ListStreams',
        ],
        resources: [props.sessions.tableStreamArn!],
      }),
    );
    new EventSourceMapping(this, 'OutboxStream', {
      target: this.processor,
      eventSourceArn: props.sessions.tableStreamArn!,
      startingPosition: StartingPosition.LATEST,
      batchSize: 100,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      retryAttempts: 10,
      maxRecordAge: Duration.days(1),
      // A batch given up on is described in the dead-letter queue (and raises its alarm).
      onFailure: new SqsDlq(this.deadLetterQueue),
      // Only connection rows: browser sessions' writes never invoke the processor.
      filters: CONNECTION_RECORD_FILTERS.map((pattern) => FilterCriteria.filter(pattern)),
    });

    this.delivery = fn(
      'Delivery',
      'functions/webhook-delivery/handler.ts',
      'Dynamics auth service: signs and sends webhooks',
      DELIVERY_FUNCTION_TIMEOUT,
      {
        API_KEYS_TABLE: props.apiKeys.tableName,
        PENDING_LOGINS_TABLE: props.pendingLogins.tableName,
        KMS_KEY_ID: props.key.keyArn,
        WEBHOOK_QUEUE_URL: this.queue.queueUrl,
        WEBHOOK_DLQ_URL: this.deadLetterQueue.queueUrl,
      },
    );
    this.delivery.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [props.apiKeys.tableArn] }),
    );
    this.delivery.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [props.pendingLogins.tableArn] }),
    );
    // Opening an endpoint's signing secret: Decrypt only, only under the webhook-secret context.
    this.keyPolicyStatements = [
      grantWebhookSecretKeyUse(props.key, this.delivery.role!, ['kms:Decrypt'], 'WebhookSecretOpeningForDelivery'),
    ];
    this.deadLetterQueue.grantSendMessages(this.delivery);
    this.delivery.addEventSource(
      new SqsEventSource(this.queue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 5 }),
    );

    this.alarms = this.createAlarms(props);
  }

  /** The alarm on the dead-letter queue; the service adds its alarm-topic action with its other alarms. */
  private createAlarms(props: WebhookDeliveryProps): Alarm[] {
    const hours = (RETRY_SPAN_SECONDS / 3600).toFixed(1);
    return [
      new Alarm(this, 'DeadLettersAlarm', {
        alarmName: `${props.alarmNamePrefix}-webhook-dead-letters`,
        alarmDescription:
          `Webhook deliveries failed every attempt (${MAX_DELIVERY_ATTEMPTS} over about ${hours} h) or were refused ` +
          '(not https, private address, redirect, 4xx), or the outbox processor gave up on Sessions stream records; ' +
          `they wait in ${this.deadLetterQueue.queueName}. Look at "admin webhooks deliveries" and the webhook ` +
          "functions' logs, fix (or ask the receiver to fix) the endpoint, then redrive (docs/webhook-delivery.md).",
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
  }
}
