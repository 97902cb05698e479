/**
 * Table definitions shared by the CDK construct and the local runtime, so both create the same
 * tables. Every table expires items by `expiresAt` (epoch seconds): DynamoDB TTL, or the expired-row
 * sweeper where TTL is unsupported (shared/stores/sweeper.ts). Both delete only eventually, so every
 * read of an item that carries it also treats `expiresAt <= now` as absent.
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
  /** The table's one global secondary index, if it has one. */
  readonly ownerIndex?: OwnerIndexDefinition;
}

/**
 * A keys-only global secondary index (S partition and sort keys). Items that lack either attribute
 * are not in it (a sparse index), so rows written before the attributes existed are absent.
 */
export interface OwnerIndexDefinition {
  readonly indexName: string;
  readonly partitionKey: string;
  readonly sortKey: string;
}

/** What a Sessions row is: a signed-in user's session or a backend's managed connection. */
export type SessionRowKind = 'session' | 'connection';

/**
 * Sessions and connections by tenant, then user: Microsoft's guidance for multi-tenant apps is to
 * key users on `tid` + `oid` (claims reference, "Use claims to reliably identify a user"). One index
 * (CloudFormation adds one GSI per table update) serves both a tenant and a user within it; the kind
 * in the partition key keeps a session revocation from reading connections and the reverse.
 */
export const SESSIONS_BY_TENANT_INDEX: OwnerIndexDefinition = {
  indexName: 'ByTenant',
  partitionKey: 'tenantKey',
  sortKey: 'oid',
};

/** The index partition key of a row: written with the row at sign-in or connect, never after. */
export function tenantKey(kind: SessionRowKind, tenantId: string): string {
  return `${kind}#${tenantId}`;
}

/**
 * Short-lived items. Single-use ones, keyed by a SHA-256: pending logins (PKCE verifier, nonce,
 * returnTo, browser binding; by state), admin-consent requests (by state), native-client handoffs
 * (by handoff code), connect sessions (by connect token) and environment choices (by the chooser's
 * token). Also the webhook delivery log (kind `delivery`, shared/webhooks/delivery-log.ts).
 */
export const PENDING_LOGINS_TABLE: TableDefinition = {
  logicalName: 'PendingLogins',
  partitionKey: 'id',
  ttlAttribute: 'expiresAt',
  envVar: 'PENDING_LOGINS_TABLE',
};

/**
 * Sessions and managed connections: user claims and envelope-encrypted tokens, keyed by SHA-256 of
 * the session token (or of the connection's owner and id).
 */
export const SESSIONS_TABLE: TableDefinition = {
  logicalName: 'Sessions',
  partitionKey: 'id',
  ttlAttribute: 'expiresAt',
  envVar: 'SESSIONS_TABLE',
  ownerIndex: SESSIONS_BY_TENANT_INDEX,
};

/**
 * API keys for backends (managed connections), keyed by SHA-256(key), and each key's webhook
 * endpoints (one item of kind `webhook-endpoints`). TTL is on `expiresAt` like the other tables, but
 * neither kind of item carries that attribute: keys live until revoked, endpoints until deleted.
 */
export const API_KEYS_TABLE: TableDefinition = {
  logicalName: 'ApiKeys',
  partitionKey: 'id',
  ttlAttribute: 'expiresAt',
  envVar: 'API_KEYS_TABLE',
};

export const TABLES = [PENDING_LOGINS_TABLE, SESSIONS_TABLE, API_KEYS_TABLE] as const;
