/** The service's DynamoDB tables (shared/stores/tables.ts defines their keys, TTL and indexes). */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, StreamViewType, Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { API_KEYS_TABLE, PENDING_LOGINS_TABLE, SESSIONS_TABLE, type TableDefinition } from '../shared/stores/tables.ts';
import { addOwnerIndex } from './owner-index.ts';
import type { DynamicsAuthServiceProps } from './props.ts';

/** Keys of `DynamicsAuthService.tables`. */
export type TableKey = 'pendingLogins' | 'sessions' | 'apiKeys';

export type ServiceTables = { readonly [key in TableKey]: ITable };

/**
 * One table in `scope` (construct id: the definition's logical name): the existing table named
 * `existingName`, imported, or a new on-demand table with point-in-time recovery.
 */
function defineTable(
  scope: Construct,
  def: TableDefinition,
  retain: boolean,
  existingName: string | undefined,
): ITable {
  if (existingName !== undefined) return Table.fromTableName(scope, def.logicalName, existingName);
  const created = new Table(scope, def.logicalName, {
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
}

/** The three tables, created in `scope` or taken from the `existing…TableName` props. */
export function defineTables(
  scope: Construct,
  props: Pick<
    DynamicsAuthServiceProps,
    'existingPendingLoginsTableName' | 'existingSessionsTableName' | 'existingApiKeysTableName'
  >,
): ServiceTables {
  return {
    // Minutes-long PKCE/state rows: nothing worth keeping once the stack is gone.
    pendingLogins: defineTable(scope, PENDING_LOGINS_TABLE, false, props.existingPendingLoginsTableName),
    // Users' sessions (encrypted refresh tokens): kept if the stack is deleted by mistake.
    sessions: defineTable(scope, SESSIONS_TABLE, true, props.existingSessionsTableName),
    // Backends' API keys (SHA-256 only): must survive a stack deletion. TTL on `expiresAt` like
    // the other tables; a key item without that attribute never expires.
    apiKeys: defineTable(scope, API_KEYS_TABLE, true, props.existingApiKeysTableName),
  };
}
