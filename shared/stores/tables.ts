/**
 * Table definitions shared by the CDK construct and the local runtime, so both create the same
 * tables. Both tables keep their items' TTL in `expiresAt` (epoch seconds); DynamoDB deletes
 * expired items only eventually, so every read also treats `expiresAt <= now` as absent.
 */
export interface TableDefinition {
  /** Logical name used for construct ids and local table names. */
  readonly logicalName: string;
  /** Partition key attribute (type S). */
  readonly partitionKey: string;
  /** Attribute DynamoDB TTL is enabled on (epoch seconds). */
  readonly ttlAttribute: string;
  /** Environment variable that carries the table name to the functions. */
  readonly envVar: string;
}

/** Pending logins: PKCE verifier, nonce, returnTo and browser binding, keyed by SHA-256(state). */
export const PENDING_LOGINS_TABLE: TableDefinition = {
  logicalName: 'PendingLogins',
  partitionKey: 'id',
  ttlAttribute: 'expiresAt',
  envVar: 'PENDING_LOGINS_TABLE',
};

/** Sessions: user claims and envelope-encrypted tokens, keyed by SHA-256(session token). */
export const SESSIONS_TABLE: TableDefinition = {
  logicalName: 'Sessions',
  partitionKey: 'id',
  ttlAttribute: 'expiresAt',
  envVar: 'SESSIONS_TABLE',
};

export const TABLES = [PENDING_LOGINS_TABLE, SESSIONS_TABLE] as const;
