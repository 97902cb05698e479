import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Handoff, HandoffStore } from '../model.ts';
import { b, bin, n, num, s, str } from './attributes.ts';
import { SingleUseItems } from './single-use.ts';

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
