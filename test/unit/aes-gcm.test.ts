import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redeemHandoff } from '../../shared/auth/native.ts';
import { AES_GCM_OVERHEAD, openAesGcm, sealAesGcm } from '../../shared/crypto/aes-gcm.ts';
import { TokenVault } from '../../shared/crypto/envelope.ts';
import { DecryptionError } from '../../shared/crypto/key-provider.ts';
import { LocalKeyProvider } from '../../shared/crypto/local-key-provider.ts';
import type { Services } from '../../shared/runtime.ts';
import type { Handoff } from '../../shared/stores/model.ts';

/**
 * Blobs written by the releases before the three AES-GCM users shared one primitive (a test master
 * key of 32 bytes of 0x07; made-up token values). Stored rows must stay readable across upgrades.
 */
const STORED = {
  masterKey: Buffer.alloc(32, 7),
  sessionId: 'session-hash-1',
  accessField: 'access_token@https://contoso.crm.dynamics.com' as const,
  dataKey: 'AQLAIq7NGuGoQA+AzKG8kBMU+AgSb9o0jfJjpHVAw81Q7pQFozqb9+XMFaKxkS+v5L/DgqJuEkxswl/oiQ==',
  accessToken: 'AccQKz5hZmPy/V/71XY04oSKU8TBfsU1HFAUeGNolhxFquLSJSKtDievUUwVOQLdzQ==',
  refreshToken: 'Ac+p6qIvNWcr4cZt0p8oQl61NwX53uM2MdwlXf1Q3FhTEjc5jIzU+eRIcGbEzGB7ut8=',
  handoff: 'jW0orq60O_P9551gq7lnRDHWgDx8e7lujtwueNqAHSw',
  verifier: 'v'.repeat(43),
  sealedSessionToken:
    'o8+48QJ+vygaVJB2zOtHF2EpRPakjeLAolHhyq710mUuP+Bn9ZOpS/WqzW5gNvo04JthdPGbDyC1Rbxqu2YIU88eHmu/eWs=',
};
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

/** Just enough of the services for a handoff redemption: a store holding one handoff, and a clock. */
function servicesHolding(handoff: Handoff): Services {
  const handoffs = { save: async () => {}, consume: async (id: string) => (id === handoff.id ? handoff : undefined) };
  return { handoffs, now: () => 1_800_000_000_000 } as unknown as Services;
}

describe('AES-256-GCM sealing', () => {
  const key = Buffer.alloc(32, 1);
  const aad = Buffer.from('row-1');

  it('opens what it sealed, only with the same key and additional data', () => {
    const sealed = sealAesGcm(key, 'secret text', aad);
    expect(sealed.length).toBe('secret text'.length + AES_GCM_OVERHEAD);
    expect(openAesGcm(key, sealed, aad).toString('utf8')).toBe('secret text');
    expect(() => openAesGcm(key, sealed, Buffer.from('row-2'))).toThrow();
    expect(() => openAesGcm(Buffer.alloc(32, 2), sealed, aad)).toThrow();
  });

  it('uses a fresh IV each time, and refuses a tampered or truncated blob', () => {
    const a = sealAesGcm(key, 'same', aad);
    expect(a.equals(sealAesGcm(key, 'same', aad))).toBe(false);
    const tampered = Buffer.from(a);
    tampered[12] = tampered[12]! ^ 1;
    expect(() => openAesGcm(key, tampered, aad)).toThrow();
    expect(() => openAesGcm(key, a.subarray(0, AES_GCM_OVERHEAD - 1), aad)).toThrow();
    expect(() => openAesGcm(key, a.subarray(0, a.length - 4), aad)).toThrow();
  });
});

describe('rows sealed by earlier releases stay readable', () => {
  it('a session’s tokens and its locally wrapped data key', async () => {
    const vault = new TokenVault(new LocalKeyProvider(STORED.masterKey));
    const dataKey = b64(STORED.dataKey);
    expect(await vault.open(STORED.sessionId, dataKey, STORED.accessField, b64(STORED.accessToken))).toBe(
      'example-access-token',
    );
    expect(await vault.open(STORED.sessionId, dataKey, 'refresh_token', b64(STORED.refreshToken))).toBe(
      'example-refresh-token',
    );
    await expect(vault.open(STORED.sessionId, dataKey, 'access_token', b64(STORED.accessToken))).rejects.toBeInstanceOf(
      DecryptionError,
    );
    await expect(
      vault.open('session-hash-2', dataKey, 'refresh_token', b64(STORED.refreshToken)),
    ).rejects.toBeInstanceOf(DecryptionError);
  });

  it('a native client’s handoff', async () => {
    const handoff: Handoff = {
      id: createHash('sha256').update(STORED.handoff).digest('base64url'),
      clientChallenge: createHash('sha256').update(STORED.verifier).digest('base64url'),
      sealedSessionToken: b64(STORED.sealedSessionToken),
      sessionExpiresAt: 1_800_003_600,
      expiresAt: 1_800_000_060,
    };
    const redeemed = await redeemHandoff(servicesHolding(handoff), {
      handoff: STORED.handoff,
      client_verifier: STORED.verifier,
    });
    expect(redeemed).toEqual({ sessionToken: 'example-session-token-0123456789abcdefghijk', expiresAt: 1_800_003_600 });
  });

  it('what the new code seals has the old layout: a version byte before the data key and each token', async () => {
    const keys = new LocalKeyProvider(STORED.masterKey);
    const sealed = await new TokenVault(keys).seal('s', { accessToken: 'a', refreshToken: 'rr' });
    expect([sealed.dataKey.length, sealed.accessToken.length, sealed.refreshToken.length]).toEqual([
      1 + AES_GCM_OVERHEAD + 32,
      1 + AES_GCM_OVERHEAD + 1,
      1 + AES_GCM_OVERHEAD + 2,
    ]);
    expect([sealed.dataKey[0], sealed.accessToken[0], sealed.refreshToken[0]]).toEqual([1, 1, 1]);
  });
});
