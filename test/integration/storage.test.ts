import { ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVault } from '../../shared/crypto/envelope.ts';
import { DecryptionError } from '../../shared/crypto/key-provider.ts';
import { sha256 } from '../../shared/crypto/random.ts';
import { jsonBody, signIn, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
const issued: { access_token?: string; refresh_token?: string; id_token?: string }[] = [];
beforeAll(async () => {
  stack = await startTestStack();
  stack.idp.server.service.on('beforeResponse', (res: { body: Record<string, string> }) => {
    issued.push({ ...res.body });
  });
});
afterAll(async () => stack?.stop());

/** Every byte DynamoDB holds for the sessions table, as text (binary attributes decoded as latin1 and base64). */
async function rawTableContents(): Promise<string> {
  const out = await stack.dynamoClient.send(new ScanCommand({ TableName: 'Sessions' }));
  const parts: string[] = [];
  for (const item of out.Items ?? []) {
    for (const [name, value] of Object.entries(item)) {
      if (value.B) parts.push(name, Buffer.from(value.B).toString('latin1'), Buffer.from(value.B).toString('base64'));
      else parts.push(name, JSON.stringify(value));
    }
  }
  return parts.join('\n');
}

const now = () => Math.floor(Date.now() / 1000);

describe('what the sessions table stores', () => {
  it('holds neither token in plaintext, nor the session token, before and after a rotation', async () => {
    const { sessionToken } = await signIn(stack);
    await stack
      .routes()
      .refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } });
    const raw = await rawTableContents();
    expect(issued.length).toBeGreaterThanOrEqual(2);
    for (const tokens of issued) {
      for (const secret of [tokens.access_token, tokens.refresh_token, tokens.id_token]) {
        expect(secret).toBeTruthy();
        expect(raw).not.toContain(secret!);
        // Not even a fragment: the JWT payload segment or the first half of an opaque token.
        const fragment = secret!.includes('.') ? secret!.split('.')[1]! : secret!.slice(0, 18);
        expect(raw).not.toContain(fragment);
      }
    }
    expect(raw).not.toContain(sessionToken);
    expect(raw).toContain(sha256(sessionToken));
  });

  it('refuses to decrypt one session’s ciphertext under another session’s encryption context', async () => {
    const a = await signIn(stack);
    const b = await signIn(stack);
    const sa = (await stack.services.sessions.get(sha256(a.sessionToken), now()))!;
    const vault = new TokenVault(stack.keyProvider);
    await expect(vault.open(sha256(b.sessionToken), sa.dataKey, 'access_token', sa.accessToken)).rejects.toBeInstanceOf(
      DecryptionError,
    );
    await expect(vault.open(sa.id, sa.dataKey, 'refresh_token', sa.accessToken)).rejects.toBeInstanceOf(
      DecryptionError,
    );
    expect(await vault.open(sa.id, sa.dataKey, 'access_token', sa.accessToken)).toMatch(/^eyJ/);
  });

  it('does not use a ciphertext copied into another row: the proxy fails closed and sends nothing', async () => {
    const a = await signIn(stack);
    const b = await signIn(stack);
    const sa = (await stack.services.sessions.get(sha256(a.sessionToken), now()))!;
    await stack.dynamoClient.send(
      new UpdateItemCommand({
        TableName: 'Sessions',
        Key: { id: { S: sha256(b.sessionToken) } },
        UpdateExpression: 'SET dataKey = :dk, accessToken = :at, refreshToken = :rt',
        ExpressionAttributeValues: {
          ':dk': { B: sa.dataKey },
          ':at': { B: sa.accessToken },
          ':rt': { B: sa.refreshToken },
        },
      }),
    );
    stack.dataverse.requests.length = 0;
    const fresh = stack.routes(stack.newInstance());
    const answer = await fresh.proxy({
      path: '/api/data/v9.2/WhoAmI',
      headers: { authorization: `Bearer ${b.sessionToken}` },
    });
    expect(answer.statusCode).toBe(500);
    expect(jsonBody(answer)).toMatchObject({ error: { code: 'session_unreadable' } });
    expect(stack.dataverse.requests).toHaveLength(0);
  });
});
