import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../shared/crypto/random.ts';
import { signIn, startTestStack, type TestStack } from '../support/stack.ts';

/** Access tokens that live 2 minutes, under the default REFRESH_SKEW_SECONDS of 120. */
const TTL_SECONDS = 120;

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ accessTokenTtlSeconds: TTL_SECONDS });
});
afterAll(async () => stack?.stop());

const refreshRequests = () => stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An instance whose clock runs `offsetMs` ahead (the IdP and Dataverse keep real time). */
function instanceAhead() {
  const clock = { offsetMs: 0 };
  const services = stack.newInstance({ now: () => Date.now() + clock.offsetMs });
  return { clock, routes: stack.routes(services) };
}

describe('refresh ahead of expiry with short-lived access tokens', () => {
  it('2-minute tokens: consecutive requests make no token call, and the token is refreshed once in its last quarter, before it expires', async () => {
    expect(stack.config.refreshSkewSeconds).toBe(120);
    const { sessionToken } = await signIn(stack);
    const { clock, routes } = instanceAhead();
    const before = refreshRequests().length;
    const whoAmI = () => routes.proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });

    for (let i = 0; i < 5; i++) expect((await whoAmI()).statusCode).toBe(200);
    clock.offsetMs = 80_000; // 40 s left: more than a quarter of the lifetime
    expect((await whoAmI()).statusCode).toBe(200);
    expect(refreshRequests().length - before).toBe(0);

    clock.offsetMs = 95_000; // 25 s left: within the last quarter (30 s)
    expect((await whoAmI()).statusCode).toBe(200);
    expect(refreshRequests().length - before).toBe(1);
    // The new token's expiry is reckoned on real time (the IdP's): back on it, it has 2 minutes left.
    clock.offsetMs = 0;
    for (let i = 0; i < 3; i++) expect((await whoAmI()).statusCode).toBe(200);
    expect(refreshRequests().length - before).toBe(1);
  });

  it('a row stored without the token lifetime keeps the skew rule (refreshes when it expires within REFRESH_SKEW_SECONDS)', async () => {
    const { sessionToken } = await signIn(stack);
    await stack.dynamoClient.send(
      new UpdateItemCommand({
        TableName: 'Sessions',
        Key: { id: { S: sha256(sessionToken) } },
        UpdateExpression: 'REMOVE accessTokenLifetimeSeconds',
      }),
    );
    const before = refreshRequests().length;
    const answer = await stack.routes().proxy({ path: '/api/data/v9.2/WhoAmI', headers: bearer(sessionToken) });
    expect(answer.statusCode).toBe(200);
    expect(refreshRequests().length - before).toBe(1);
  });
});
