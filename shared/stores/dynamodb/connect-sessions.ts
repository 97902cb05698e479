import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ConnectSession, ConnectSessionStore, EnvironmentChoice } from '../model.ts';
import { n, num, optStr, s, str, type Item } from './attributes.ts';
import { SingleUseItems } from './single-use.ts';

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
