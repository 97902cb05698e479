import { describe, expect, it } from 'vitest';
import { MAX_ENVIRONMENT_TOKENS, withEnvironmentToken } from '../../shared/auth/resource-tokens.ts';
import type { EnvironmentToken } from '../../shared/stores/model.ts';

const token = (refreshedAt: number): EnvironmentToken => ({
  accessToken: new Uint8Array(4096),
  expiresAt: refreshedAt + 3_600_000,
  version: refreshedAt,
  refreshedAt,
});

describe('per-environment access tokens on a session row', () => {
  it(`keeps at most ${MAX_ENVIRONMENT_TOKENS}, evicting the least recently refreshed`, () => {
    let tokens: Record<string, EnvironmentToken> | undefined;
    for (let i = 0; i < 40; i++)
      tokens = withEnvironmentToken(tokens, `https://org${i}.crm.dynamics.com`, token(1_000 + i));
    expect(Object.keys(tokens!)).toHaveLength(MAX_ENVIRONMENT_TOKENS);
    expect(tokens!['https://org39.crm.dynamics.com']).toBeDefined();
    expect(tokens!['https://org24.crm.dynamics.com']).toBeDefined();
    expect(tokens!['https://org23.crm.dynamics.com']).toBeUndefined();
    // 16 tokens of 4 KB (above the sizes Entra is seen to issue) stay far below DynamoDB's 400 KB item limit.
    const bytes = Object.values(tokens!).reduce((sum, t) => sum + (t.accessToken?.length ?? 0), 0);
    expect(bytes).toBeLessThan(100 * 1024);
  });

  it('replacing an environment’s token keeps the others', () => {
    const first = withEnvironmentToken(undefined, 'https://a.crm.dynamics.com', token(1));
    const both = withEnvironmentToken(first, 'https://b.crm.dynamics.com', token(2));
    const again = withEnvironmentToken(both, 'https://a.crm.dynamics.com', token(3));
    expect(Object.keys(again).sort()).toEqual(['https://a.crm.dynamics.com', 'https://b.crm.dynamics.com']);
    expect(again['https://a.crm.dynamics.com']!.refreshedAt).toBe(3);
  });
});
