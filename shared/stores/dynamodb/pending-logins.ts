import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { PendingAdminConsent, PendingLogin, PendingLoginStore } from '../model.ts';
import { n, num, optStr, s, str, type Item } from './attributes.ts';
import { SingleUseItems } from './single-use.ts';

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
