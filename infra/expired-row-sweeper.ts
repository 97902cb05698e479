/**
 * The scheduled deletion of expired rows for multi-Region strongly consistent global tables, which do
 * not support DynamoDB TTL
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html).
 * One function in one Region is enough: a delete there is a strongly consistent write to every replica.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TABLES } from '../shared/stores/tables.ts';
import { lambdaCode } from './bundling.ts';
import { DEFAULT_PROJECT_ROOT, LAMBDA_RUNTIME } from './functions.ts';

/**
 * How often the sweep runs. Expired rows are already invisible to readers, so this only bounds
 * storage, and a Scan is billed for every row it reads, live or not (about 131,000 read units per
 * GB): every 15 minutes would cost ~$47/month per GB of table, every 6 hours ~$2 (docs/multi-region.md).
 */
export const SWEEP_INTERVAL = Duration.hours(6);
/** Per-run time limit; the handler stops starting deletes 10 s before it. */
export const SWEEP_TIMEOUT = Duration.minutes(5);

export interface ExpiredRowSweeperProps {
  /** The global tables, in the order of `TABLES` (pending logins, sessions, API keys). */
  readonly tables: readonly ITableV2[];
  /** Their physical names (the same in every Region), in the same order. */
  readonly tableNames: readonly string[];
  readonly projectRoot?: string;
}

export class ExpiredRowSweeper extends Construct {
  readonly function: LambdaFunction;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: ExpiredRowSweeperProps) {
    super(scope, id);
    if (props.tables.length !== TABLES.length || props.tableNames.length !== TABLES.length)
      throw new Error(`ExpiredRowSweeper needs the ${TABLES.length} service tables`);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Dynamics auth service: expired-row sweeper',
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    // Scan (keys and expiry only) and DeleteItem: it cannot read a row's sealed tokens through any other call, nor write.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'SweepExpiredRows',
        actions: ['dynamodb:Scan', 'dynamodb:DeleteItem'],
        resources: props.tables.map((t) => t.tableArn),
      }),
    );
    const environment = Object.fromEntries(TABLES.map((def, i) => [def.envVar, props.tableNames[i]!]));
    this.function = new LambdaFunction(this, 'Function', {
      description: 'Dynamics auth service: deletes expired rows from the multi-Region tables (no TTL in MRSC mode)',
      code: lambdaCode('functions/sweeper/handler.ts', props.projectRoot ?? DEFAULT_PROJECT_ROOT),
      handler: 'index.handler',
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: 256,
      timeout: SWEEP_TIMEOUT,
      // One run at a time: overlapping sweeps would only race each other's conditional deletes.
      reservedConcurrentExecutions: 1,
      role,
      logGroup,
      environment,
    });
    this.rule = new Rule(this, 'Schedule', {
      description: 'Deletes expired rows from the multi-Region tables',
      schedule: Schedule.rate(SWEEP_INTERVAL),
      targets: [new LambdaTarget(this.function, { retryAttempts: 0 })],
    });
    for (const table of props.tables) this.node.addDependency(table);
  }
}
