import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { inSpan } from '../observability/tracing.ts';
import {
  StoreUnavailableError,
  type ApiKey,
  type ApiKeyStore,
  type ConnectSession,
  type ConnectSessionStore,
  type EnvironmentChoice,
  type DataverseEnvironment,
  type DiscoveredEnvironments,
  type EnvironmentToken,
  type Handoff,
  type HandoffStore,
  type PendingAdminConsent,
  type PendingLogin,
  type PendingLoginStore,
  type RotatedTokens,
  type RowOwner,
  type Session,
  type SessionStore,
} from './model.ts';
import { ownerCondition } from './revocation.ts';
import { SESSIONS_BY_TENANT_INDEX, tenantKey } from './tables.ts';
import type { ConnectionEventKind } from '../webhooks/connection-events.ts';

type Item = Record<string, AttributeValue>;

export interface DynamoClientOptions {
  endpoint?: string;
  region?: string;
}

/** The one place that builds the DynamoDB client (local mode points it at the embedded endpoint). */
export function createDynamoClient(options: DynamoClientOptions = {}): DynamoDBClient {
  return traceDynamoCalls(buildDynamoClient(options));
}

/**
 * Every call of the client in a span named after its operation, with the table name and HTTP status
 * (OpenTelemetry semantic conventions for DynamoDB); never a key, an item or an expression value.
 */
export function traceDynamoCalls(client: DynamoDBClient): DynamoDBClient {
  client.middlewareStack.add(
    (next, context) => (args) => {
      const operation = (context.commandName ?? 'Command').replace(/Command$/, '');
      const table = (args.input as { TableName?: unknown }).TableName;
      return inSpan(`DynamoDB.${operation}`, {
        'rpc.system': 'aws-api',
        'rpc.service': 'DynamoDB',
        'rpc.method': operation,
        'db.system': 'dynamodb',
        'db.operation': operation,
        ...(typeof table === 'string' ? { 'aws.dynamodb.table_names': [table] } : {}),
      }, async (span) => {
        try {
          const out = await next(args);
          const meta = (out.output as { $metadata?: { httpStatusCode?: number; requestId?: string } }).$metadata;
          if (meta?.httpStatusCode) span.setAttribute('http.response.status_code', meta.httpStatusCode);
          if (meta?.requestId) span.setAttribute('aws.request_id', meta.requestId);
          return out;
        } catch (err) {
          const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
          if (status) span.setAttribute('http.response.status_code', status);
          throw err;
        }
      });
    },
    { step: 'initialize', name: 'dynamicsAuthTraceSpan' },
  );
  return client;
}

function buildDynamoClient(options: DynamoClientOptions): DynamoDBClient {
  if (options.endpoint) {
    return new DynamoDBClient({
      endpoint: options.endpoint,
      region: options.region ?? 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 2,
    });
  }
  return new DynamoDBClient({
    region: options.region ?? process.env.AWS_REGION,
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 },
  });
}

const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(value) });
const b = (value: Uint8Array): AttributeValue => ({ B: value });

function str(item: Item, name: string): string {
  const v = item[name]?.S;
  if (v === undefined) throw new Error(`Stored item lacks attribute ${name}`);
  return v;
}
function num(item: Item, name: string): number {
  const v = item[name]?.N;
  if (v === undefined) throw new Error(`Stored item lacks attribute ${name}`);
  return Number(v);
}
function bin(item: Item, name: string): Uint8Array {
  const v = item[name]?.B;
  if (v === undefined) throw new Error(`Stored item lacks attribute ${name}`);
  return v;
}
const optStr = (item: Item, name: string) => item[name]?.S;

/** Runs a DynamoDB call; conditional failures come back as `false`, other failures as StoreUnavailableError. */
export async function attempt<T>(call: () => Promise<T>): Promise<T | false> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') {
      return false;
    }
    throw new StoreUnavailableError(`DynamoDB request failed (${(err as Error).name})`, { cause: err });
  }
}

type SingleUseKind = 'login' | 'handoff' | 'connect' | 'environment-choice' | 'admin-consent';

/**
 * Single-use items (pending logins, handoffs, connect sessions) share one table: written once under
 * a fresh id, consumed once by a conditional delete that returns the old item (DESIGN: state is
 * consumed once), and absent once past `expiresAt` even before TTL deletes them.
 */
class SingleUseItems {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async put(item: Item): Promise<void> {
    const ok = await attempt(() =>
      this.client.send(
        new PutItemCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(id)' }),
      ),
    );
    if (ok === false) throw new StoreUnavailableError('Id collision: the single-use item already exists');
  }

  async get(id: string, kind: SingleUseKind, nowSeconds: number): Promise<Item | undefined> {
    const out = await attempt(() =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { id: s(id) }, ConsistentRead: true })),
    );
    const item = out === false ? undefined : out.Item;
    if (!item || (item.kind?.S ?? 'login') !== kind) return undefined;
    return num(item, 'expiresAt') > nowSeconds ? item : undefined;
  }

  /**
   * Deletes the item only if it is of `kind`: the kind check is part of the delete's condition, so
   * naming another kind's id (a connect token sent as a handoff, a handoff sent as `state`) destroys
   * nothing. Rows written before `kind` existed are logins.
   */
  async consume(id: string, kind: SingleUseKind, nowSeconds: number): Promise<Item | undefined> {
    const out = await attempt(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { id: s(id) },
          ConditionExpression:
            kind === 'login' ? 'attribute_exists(id) AND (kind = :kind OR attribute_not_exists(kind))' : 'attribute_exists(id) AND kind = :kind',
          ExpressionAttributeValues: { ':kind': s(kind) },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    const item = out === false ? undefined : out.Attributes;
    if (!item || (item.kind?.S ?? 'login') !== kind) return undefined;
    return num(item, 'expiresAt') > nowSeconds ? item : undefined;
  }
}

export class DynamoPendingLoginStore implements PendingLoginStore {
  private readonly items: SingleUseItems;
  constructor(client: DynamoDBClient, tableName: string) {
    this.items = new SingleUseItems(client, tableName);
  }

  saveAdminConsent(request: PendingAdminConsent): Promise<void> {
    return this.items.put({ id: s(request.id), kind: s('admin-consent'), expiresAt: n(request.expiresAt) });
  }

  async consumeAdminConsent(id: string, nowSeconds: number): Promise<PendingAdminConsent | undefined> {
    const item = await this.items.consume(id, 'admin-consent', nowSeconds);
    return item ? { id: str(item, 'id'), expiresAt: num(item, 'expiresAt') } : undefined;
  }

  async save(login: PendingLogin): Promise<void> {
    const item: Item = {
      id: s(login.id),
      kind: s('login'),
      codeVerifier: s(login.codeVerifier),
      nonce: s(login.nonce),
      returnTo: s(login.returnTo),
      bindingHash: s(login.bindingHash),
      expiresAt: n(login.expiresAt),
    };
    if (login.native) item.clientChallenge = s(login.native.clientChallenge);
    if (login.environment) item.environment = s(login.environment);
    if (login.connect) {
      item.ownerKeyId = s(login.connect.ownerKeyId);
      item.connectionId = s(login.connect.connectionId);
      item.connectSessionId = s(login.connect.connectSessionId);
      if (login.connect.expectedTenantId) item.expectedTenantId = s(login.connect.expectedTenantId);
      if (login.connect.loginHint) item.loginHint = s(login.connect.loginHint);
    }
    await this.items.put(item);
  }

  async consume(id: string, nowSeconds: number): Promise<PendingLogin | undefined> {
    const item = await this.items.consume(id, 'login', nowSeconds);
    if (!item) return undefined;
    const login: PendingLogin = {
      id: str(item, 'id'),
      codeVerifier: str(item, 'codeVerifier'),
      nonce: str(item, 'nonce'),
      returnTo: str(item, 'returnTo'),
      bindingHash: str(item, 'bindingHash'),
      expiresAt: num(item, 'expiresAt'),
    };
    const challenge = optStr(item, 'clientChallenge');
    if (challenge) login.native = { clientChallenge: challenge };
    const environment = optStr(item, 'environment');
    if (environment) login.environment = environment;
    const ownerKeyId = optStr(item, 'ownerKeyId');
    if (ownerKeyId) {
      login.connect = {
        ownerKeyId,
        connectionId: str(item, 'connectionId'),
        connectSessionId: str(item, 'connectSessionId'),
        expectedTenantId: optStr(item, 'expectedTenantId'),
        loginHint: optStr(item, 'loginHint'),
      };
    }
    return login;
  }
}

export class DynamoHandoffStore implements HandoffStore {
  private readonly items: SingleUseItems;
  constructor(client: DynamoDBClient, tableName: string) {
    this.items = new SingleUseItems(client, tableName);
  }

  save(handoff: Handoff): Promise<void> {
    return this.items.put({
      id: s(handoff.id),
      kind: s('handoff'),
      clientChallenge: s(handoff.clientChallenge),
      sealedSessionToken: b(handoff.sealedSessionToken),
      sessionExpiresAt: n(handoff.sessionExpiresAt),
      expiresAt: n(handoff.expiresAt),
    });
  }

  async consume(id: string, nowSeconds: number): Promise<Handoff | undefined> {
    const item = await this.items.consume(id, 'handoff', nowSeconds);
    if (!item) return undefined;
    return {
      id: str(item, 'id'),
      clientChallenge: str(item, 'clientChallenge'),
      sealedSessionToken: bin(item, 'sealedSessionToken'),
      sessionExpiresAt: num(item, 'sessionExpiresAt'),
      expiresAt: num(item, 'expiresAt'),
    };
  }
}

export class DynamoConnectSessionStore implements ConnectSessionStore {
  private readonly items: SingleUseItems;
  constructor(client: DynamoDBClient, tableName: string) {
    this.items = new SingleUseItems(client, tableName);
  }

  save(connect: ConnectSession): Promise<void> {
    const item: Item = {
      id: s(connect.id),
      kind: s('connect'),
      ownerKeyId: s(connect.ownerKeyId),
      connectionId: s(connect.connectionId),
      expiresAt: n(connect.expiresAt),
    };
    if (connect.returnTo) item.returnTo = s(connect.returnTo);
    if (connect.expectedTenantId) item.expectedTenantId = s(connect.expectedTenantId);
    if (connect.loginHint) item.loginHint = s(connect.loginHint);
    if (connect.environment) item.environment = s(connect.environment);
    return this.items.put(item);
  }

  saveChoice(choice: EnvironmentChoice): Promise<void> {
    return this.items.put({
      id: s(choice.id),
      kind: s('environment-choice'),
      connectionRowId: s(choice.connectionRowId),
      connectionId: s(choice.connectionId),
      returnTo: s(choice.returnTo),
      expiresAt: n(choice.expiresAt),
    });
  }

  async findChoice(id: string, nowSeconds: number): Promise<EnvironmentChoice | undefined> {
    const item = await this.items.get(id, 'environment-choice', nowSeconds);
    return item ? toEnvironmentChoice(item) : undefined;
  }

  async consumeChoice(id: string, nowSeconds: number): Promise<EnvironmentChoice | undefined> {
    const item = await this.items.consume(id, 'environment-choice', nowSeconds);
    return item ? toEnvironmentChoice(item) : undefined;
  }

  async find(id: string, nowSeconds: number): Promise<ConnectSession | undefined> {
    const item = await this.items.get(id, 'connect', nowSeconds);
    return item ? toConnectSession(item) : undefined;
  }

  async consume(id: string, nowSeconds: number): Promise<ConnectSession | undefined> {
    const item = await this.items.consume(id, 'connect', nowSeconds);
    return item ? toConnectSession(item) : undefined;
  }
}

function toConnectSession(item: Item): ConnectSession {
  return {
    id: str(item, 'id'),
    ownerKeyId: str(item, 'ownerKeyId'),
    connectionId: str(item, 'connectionId'),
    returnTo: optStr(item, 'returnTo'),
    expectedTenantId: optStr(item, 'expectedTenantId'),
    loginHint: optStr(item, 'loginHint'),
    environment: optStr(item, 'environment'),
    expiresAt: num(item, 'expiresAt'),
  };
}

function toEnvironmentChoice(item: Item): EnvironmentChoice {
  return {
    id: str(item, 'id'),
    connectionRowId: str(item, 'connectionRowId'),
    connectionId: str(item, 'connectionId'),
    returnTo: str(item, 'returnTo'),
    expiresAt: num(item, 'expiresAt'),
  };
}

export class DynamoApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async find(id: string): Promise<ApiKey | undefined> {
    const out = await attempt(() =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { id: s(id) }, ConsistentRead: true })),
    );
    const item = out === false ? undefined : out.Item;
    if (!item || item.kind !== undefined) return undefined;
    const key = toApiKey(item);
    return key.revokedAt === undefined ? key : undefined;
  }

  async create(key: ApiKey): Promise<void> {
    const ok = await attempt(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            id: s(key.id),
            keyId: s(key.keyId),
            name: s(key.name),
            createdAt: n(key.createdAt),
            ...(key.allowImpersonation ? { allowImpersonation: { BOOL: true } } : {}),
          },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      ),
    );
    if (ok === false) throw new StoreUnavailableError('API key collision');
  }

  async list(): Promise<ApiKey[]> {
    const keys: ApiKey[] = [];
    let start: Item | undefined;
    do {
      const out = await attempt(() =>
        this.client.send(new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start, ConsistentRead: true })),
      );
      if (out === false) break;
      // Other kinds of item share the table (webhook endpoints): only key items have no `kind`.
      keys.push(...(out.Items ?? []).filter((item) => item.kind === undefined).map(toApiKey));
      start = out.LastEvaluatedKey;
    } while (start);
    return keys.sort((a, b) => a.createdAt - b.createdAt);
  }

  async revoke(keyId: string, nowMs: number): Promise<boolean> {
    const key = (await this.list()).find((k) => k.keyId === keyId && k.revokedAt === undefined);
    if (!key) return false;
    const ok = await attempt(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { id: s(key.id) },
          UpdateExpression: 'SET revokedAt = :now',
          ConditionExpression: 'attribute_exists(id)',
          ExpressionAttributeValues: { ':now': n(nowMs) },
        }),
      ),
    );
    return ok !== false;
  }
}

function toApiKey(item: Item): ApiKey {
  return {
    id: str(item, 'id'),
    keyId: str(item, 'keyId'),
    name: str(item, 'name'),
    createdAt: num(item, 'createdAt'),
    revokedAt: item.revokedAt?.N !== undefined ? Number(item.revokedAt.N) : undefined,
    // Keys stored before the flag existed have no attribute: disabled.
    allowImpersonation: item.allowImpersonation?.BOOL === true,
  };
}

export class DynamoSessionStore implements SessionStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    /** Sessions unused for longer than this are absent. */
    private readonly idleTimeoutSeconds = Number.POSITIVE_INFINITY,
  ) {}

  /** A conditional update of one session row: true if it was written, false if the condition failed. */
  private async update(id: string, expression: string, condition: string, values: Item = {}): Promise<boolean> {
    const ok = await attempt(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { id: s(id) },
          UpdateExpression: expression,
          ConditionExpression: condition,
          // DynamoDB refuses an empty ExpressionAttributeValues map.
          ExpressionAttributeValues: Object.keys(values).length > 0 ? values : undefined,
        }),
      ),
    );
    return ok !== false;
  }

  async get(id: string, nowSeconds: number): Promise<Session | undefined> {
    const out = await attempt(() =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { id: s(id) }, ConsistentRead: true })),
    );
    const item = out === false ? undefined : out.Item;
    if (!item) return undefined;
    const session = toSession(item);
    if (session.expiresAt <= nowSeconds) return undefined;
    // Managed connections serve backends without a user present: no idle timeout.
    if (!session.connection && nowSeconds * 1000 - session.lastSeenAt > this.idleTimeoutSeconds * 1000) return undefined;
    return session;
  }

  async putConnection(session: Session): Promise<void> {
    // The outbox entry (shared/webhooks/outbox.ts) is part of the same PutItem: the stream carries both.
    const item = { ...fromSession(session), ...connectionEvent('connected', session.version) };
    await attempt(() => this.client.send(new PutItemCommand({ TableName: this.tableName, Item: item })));
  }

  async markConnectionFailed(id: string, version: number, leaseId: string, reason: string, nowMs: number): Promise<void> {
    await this.update(
      id,
      'SET connStatus = :failed, lastError = :reason, failedAt = :now, connEvent = :event, connEventVersion = :now REMOVE leaseId, leaseUntil',
      'attribute_exists(ownerKeyId) AND version = :v AND leaseId = :lease',
      {
        ':failed': s('failed'),
        ':reason': s(reason),
        ':now': n(nowMs),
        ':event': s('failed' satisfies ConnectionEventKind),
        ':v': n(version),
        ':lease': s(leaseId),
      },
    );
  }

  async markDataverseRejected(id: string, version: number, untilMs: number): Promise<void> {
    await this.update(id, 'SET dvRejectedUntil = :until', 'attribute_exists(id) AND version = :v', {
      ':until': n(untilMs),
      ':v': n(version),
    });
  }

  async clearDataverseRejected(id: string): Promise<void> {
    await this.update(id, 'REMOVE dvRejectedUntil', 'attribute_exists(dvRejectedUntil)');
  }

  async touch(id: string, nowMs: number): Promise<void> {
    await this.update(id, 'SET lastSeenAt = :now', 'attribute_exists(id) AND lastSeenAt < :now', { ':now': n(nowMs) });
  }

  async create(session: Session): Promise<void> {
    const ok = await attempt(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: fromSession(session),
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      ),
    );
    if (ok === false) throw new StoreUnavailableError('Session id collision');
  }

  async acquireRefreshLease(
    id: string,
    version: number,
    leaseId: string,
    leaseUntilMs: number,
    nowMs: number,
  ): Promise<boolean> {
    return this.update(
      id,
      'SET leaseId = :lease, leaseUntil = :until',
      'attribute_exists(id) AND version = :v AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
      { ':lease': s(leaseId), ':until': n(leaseUntilMs), ':v': n(version), ':now': n(nowMs) },
    );
  }

  async releaseRefreshLease(id: string, leaseId: string): Promise<void> {
    await this.update(id, 'REMOVE leaseId, leaseUntil', 'leaseId = :lease', { ':lease': s(leaseId) });
  }

  async saveRotatedTokens(
    id: string,
    version: number,
    leaseId: string,
    tokens: RotatedTokens,
    nowMs: number,
  ): Promise<boolean> {
    const sets = ['dataKey = :dk', 'refreshToken = :rt', 'version = :next', 'refreshedAt = :now', 'lastSeenAt = :now'];
    const values: Item = {
      ':dk': b(tokens.dataKey),
      ':rt': b(tokens.refreshToken),
      ':next': n(version + 1),
      ':now': n(nowMs),
      ':v': n(version),
      ':lease': s(leaseId),
    };
    const removes = ['leaseId', 'leaseUntil'];
    if (tokens.accessToken !== undefined && tokens.accessTokenExpiresAt !== undefined) {
      sets.push('accessToken = :at', 'accessTokenExpiresAt = :atexp');
      values[':at'] = b(tokens.accessToken);
      values[':atexp'] = n(tokens.accessTokenExpiresAt);
      if (tokens.accessTokenLifetimeSeconds !== undefined) {
        sets.push('accessTokenLifetimeSeconds = :atlife');
        values[':atlife'] = n(tokens.accessTokenLifetimeSeconds);
      } else {
        removes.push('accessTokenLifetimeSeconds');
      }
      // The session slot's token is now the newest: its version is the row's.
      removes.push('accessVersion');
    }
    if (tokens.accessVersion !== undefined) {
      sets.push('accessVersion = :av');
      values[':av'] = n(tokens.accessVersion);
    }
    if (tokens.environmentTokens !== undefined) {
      sets.push('envTokens = :env');
      values[':env'] = fromEnvironmentTokens(tokens.environmentTokens);
    }
    // An update creates a missing item; the condition (false on a missing item) keeps a revoked row deleted.
    return this.update(id, `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`, 'version = :v AND leaseId = :lease', values);
  }

  async saveEnvironmentTokens(
    id: string,
    version: number,
    tokens: Record<string, EnvironmentToken>,
    leaseId?: string,
  ): Promise<boolean> {
    const values: Item = { ':env': fromEnvironmentTokens(tokens), ':v': n(version) };
    if (leaseId) values[':lease'] = s(leaseId);
    return this.update(
      id,
      `SET envTokens = :env${leaseId ? ' REMOVE leaseId, leaseUntil' : ''}`,
      leaseId ? 'version = :v AND leaseId = :lease' : 'version = :v',
      values,
    );
  }

  async saveDiscovered(id: string, discovered: DiscoveredEnvironments): Promise<void> {
    await this.update(id, 'SET envList = :list, envListAt = :at', 'attribute_exists(id)', {
      ':list': s(JSON.stringify(discovered.environments)),
      ':at': n(discovered.cachedAt),
    });
  }

  async setDefaultEnvironment(id: string, environment: string): Promise<void> {
    await this.update(id, 'SET defaultEnv = :env', 'attribute_exists(id)', { ':env': s(environment) });
  }

  async delete(id: string, owner?: RowOwner): Promise<boolean> {
    // The index is eventually consistent: a revocation deletes only a row that still is the owner's.
    const condition = owner ? ownerCondition(owner) : undefined;
    const out = await attempt(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { id: s(id) },
          ConditionExpression: condition?.expression,
          ExpressionAttributeValues: condition?.values,
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    return out !== false && out.Attributes !== undefined;
  }
}

/**
 * The outbox attributes of a connection row: which life-cycle change its last event-worthy write
 * was, and a version that grows with each such write. Other writes (rotation, lease, cool-down)
 * leave them as they are, so a stream record whose `connEventVersion` did not move is no event.
 */
function connectionEvent(kind: ConnectionEventKind, eventVersion: number): Item {
  return { connEvent: s(kind), connEventVersion: n(eventVersion) };
}

function fromSession(session: Session): Item {
  const item: Item = {
    id: s(session.id),
    oid: s(session.user.oid),
    tid: s(session.user.tid),
    sub: s(session.user.sub),
    dataKey: b(session.dataKey),
    accessToken: b(session.accessToken),
    refreshToken: b(session.refreshToken),
    accessTokenExpiresAt: n(session.accessTokenExpiresAt),
    version: n(session.version),
    createdAt: n(session.createdAt),
    lastSeenAt: n(session.lastSeenAt),
    expiresAt: n(session.expiresAt),
    // The revocation index's key (tables.ts): written with the row, so no later write is needed.
    [SESSIONS_BY_TENANT_INDEX.partitionKey]: s(tenantKey(session.connection ? 'connection' : 'session', session.user.tid)),
  };
  if (session.user.name) item.name = s(session.user.name);
  if (session.user.username) item.username = s(session.user.username);
  if (session.user.loginHint) item.loginHint = s(session.user.loginHint);
  if (session.refreshedAt !== undefined) item.refreshedAt = n(session.refreshedAt);
  if (session.accessTokenLifetimeSeconds !== undefined) item.accessTokenLifetimeSeconds = n(session.accessTokenLifetimeSeconds);
  if (session.dataverseRejectedUntil !== undefined) item.dvRejectedUntil = n(session.dataverseRejectedUntil);
  if (session.accessResource) item.accessResource = s(session.accessResource);
  if (session.accessVersion !== undefined) item.accessVersion = n(session.accessVersion);
  if (session.environmentTokens) item.envTokens = fromEnvironmentTokens(session.environmentTokens);
  if (session.defaultEnvironment) item.defaultEnv = s(session.defaultEnvironment);
  if (session.discovered) {
    item.envList = s(JSON.stringify(session.discovered.environments));
    item.envListAt = n(session.discovered.cachedAt);
  }
  if (session.connection) {
    item.ownerKeyId = s(session.connection.ownerKeyId);
    item.connectionId = s(session.connection.connectionId);
    item.connStatus = s(session.connection.status);
    if (session.connection.lastError) item.lastError = s(session.connection.lastError);
  }
  return item;
}

function toSession(item: Item): Session {
  return {
    id: str(item, 'id'),
    user: {
      oid: str(item, 'oid'),
      tid: str(item, 'tid'),
      sub: str(item, 'sub'),
      name: optStr(item, 'name'),
      username: optStr(item, 'username'),
      loginHint: optStr(item, 'loginHint'),
    },
    dataKey: bin(item, 'dataKey'),
    accessToken: bin(item, 'accessToken'),
    refreshToken: bin(item, 'refreshToken'),
    accessTokenExpiresAt: num(item, 'accessTokenExpiresAt'),
    accessTokenLifetimeSeconds: item.accessTokenLifetimeSeconds?.N !== undefined ? Number(item.accessTokenLifetimeSeconds.N) : undefined,
    version: num(item, 'version'),
    createdAt: num(item, 'createdAt'),
    refreshedAt: item.refreshedAt?.N !== undefined ? Number(item.refreshedAt.N) : undefined,
    lastSeenAt: item.lastSeenAt?.N !== undefined ? Number(item.lastSeenAt.N) : num(item, 'createdAt'),
    expiresAt: num(item, 'expiresAt'),
    leaseUntil: item.leaseUntil?.N !== undefined ? Number(item.leaseUntil.N) : undefined,
    dataverseRejectedUntil: item.dvRejectedUntil?.N !== undefined ? Number(item.dvRejectedUntil.N) : undefined,
    accessResource: optStr(item, 'accessResource'),
    accessVersion: item.accessVersion?.N !== undefined ? Number(item.accessVersion.N) : undefined,
    environmentTokens: item.envTokens?.M ? toEnvironmentTokens(item.envTokens.M) : undefined,
    defaultEnvironment: optStr(item, 'defaultEnv'),
    discovered: toDiscovered(item),
    connection: optStr(item, 'ownerKeyId')
      ? {
          ownerKeyId: str(item, 'ownerKeyId'),
          connectionId: str(item, 'connectionId'),
          status: optStr(item, 'connStatus') === 'failed' ? 'failed' : 'active',
          lastError: optStr(item, 'lastError'),
        }
      : undefined,
  };
}

function fromEnvironmentTokens(tokens: Record<string, EnvironmentToken>): AttributeValue {
  const map: Record<string, AttributeValue> = {};
  for (const [resource, token] of Object.entries(tokens)) {
    const entry: Item = { exp: n(token.expiresAt), v: n(token.version), at: n(token.refreshedAt) };
    if (token.accessToken) entry.token = b(token.accessToken);
    if (token.lifetimeSeconds !== undefined) entry.life = n(token.lifetimeSeconds);
    if (token.refusedWith) entry.refused = s(token.refusedWith);
    if (token.blockedUntil !== undefined) entry.blocked = n(token.blockedUntil);
    map[resource] = { M: entry };
  }
  return { M: map };
}

function toEnvironmentTokens(map: Record<string, AttributeValue>): Record<string, EnvironmentToken> {
  const tokens: Record<string, EnvironmentToken> = {};
  for (const [resource, value] of Object.entries(map)) {
    const entry = value.M;
    if (!entry) continue;
    tokens[resource] = {
      accessToken: entry.token?.B,
      expiresAt: num(entry, 'exp'),
      lifetimeSeconds: entry.life?.N !== undefined ? Number(entry.life.N) : undefined,
      version: num(entry, 'v'),
      refreshedAt: num(entry, 'at'),
      refusedWith: entry.refused?.S,
      blockedUntil: entry.blocked?.N !== undefined ? Number(entry.blocked.N) : undefined,
    };
  }
  return tokens;
}

/** The cached environment list; a row whose list cannot be read has none (it is read again). */
function toDiscovered(item: Item): DiscoveredEnvironments | undefined {
  const list = item.envList?.S;
  const at = item.envListAt?.N;
  if (list === undefined || at === undefined) return undefined;
  try {
    const environments = JSON.parse(list) as DataverseEnvironment[];
    return Array.isArray(environments) ? { cachedAt: Number(at), environments } : undefined;
  } catch {
    return undefined;
  }
}
