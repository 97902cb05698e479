import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  StoreUnavailableError,
  type DiscoveredEnvironments,
  type EnvironmentToken,
  type RotatedTokens,
  type RowOwner,
  type Session,
  type SessionStore,
} from '../model.ts';
import { ownerCondition } from '../revocation.ts';
import type { ConnectionEventKind } from '../../webhooks/connection-events.ts';
import { b, n, s, type Item } from './attributes.ts';
import { attempt, request } from './requests.ts';
import { connectionEvent, fromEnvironmentTokens, fromSession, toSession } from './session-items.ts';

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
    const out = await request(() =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { id: s(id) }, ConsistentRead: true })),
    );
    if (!out.Item) return undefined;
    const session = toSession(out.Item);
    if (session.expiresAt <= nowSeconds) return undefined;
    // Managed connections serve backends without a user present: no idle timeout.
    const idleMs = nowSeconds * 1000 - session.lastSeenAt;
    if (!session.connection && idleMs > this.idleTimeoutSeconds * 1000) return undefined;
    return session;
  }

  async putConnection(session: Session): Promise<void> {
    // The outbox entry (shared/webhooks/outbox.ts) is part of the same PutItem: the stream carries both.
    const item = { ...fromSession(session), ...connectionEvent('connected', session.version) };
    await request(() => this.client.send(new PutItemCommand({ TableName: this.tableName, Item: item })));
  }

  async markConnectionFailed(
    id: string,
    version: number,
    leaseId: string,
    reason: string,
    nowMs: number,
  ): Promise<void> {
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
    return this.update(
      id,
      `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
      'version = :v AND leaseId = :lease',
      values,
    );
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
