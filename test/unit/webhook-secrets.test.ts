import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenVault } from '../../shared/crypto/envelope.ts';
import { DecryptionError, type EncryptionContext, type KeyProvider } from '../../shared/crypto/key-provider.ts';
import { LocalKeyProvider } from '../../shared/crypto/local-key-provider.ts';
import { newEndpoint, rotatedSecrets, signingSecrets } from '../../shared/webhooks/endpoints.ts';
import { openWebhookSecret, sealWebhookSecret, webhookSecretContext } from '../../shared/webhooks/secrets.ts';

/** The local key provider, recording every encryption context it is asked for (KMS binds the same way). */
function recordingKeys(): KeyProvider & { contexts: EncryptionContext[] } {
  const inner = new LocalKeyProvider(randomBytes(32));
  const contexts: EncryptionContext[] = [];
  return {
    contexts,
    generateDataKey: (context) => (contexts.push(context), inner.generateDataKey(context)),
    decryptDataKey: (encrypted, context) => (contexts.push(context), inner.decryptDataKey(encrypted, context)),
  };
}

describe('webhook secrets at rest', () => {
  it('are sealed under their own encryption context: purpose, owner key id and endpoint id', async () => {
    const keys = recordingKeys();
    const sealed = await sealWebhookSecret(keys, 'ownerAAAAAAA', 'whep_1', 'whsec_c2VjcmV0');
    expect(keys.contexts).toEqual([
      { purpose: 'dynamics-auth/webhook-secret', owner: 'ownerAAAAAAA', endpoint: 'whep_1' },
    ]);
    expect(Buffer.from(sealed.ciphertext).toString('latin1')).not.toContain('whsec_');
    expect(await openWebhookSecret(keys, 'ownerAAAAAAA', 'whep_1', sealed)).toBe('whsec_c2VjcmV0');
  });

  it("cannot be opened as another owner's or another endpoint's secret", async () => {
    const keys = recordingKeys();
    const sealed = await sealWebhookSecret(keys, 'ownerAAAAAAA', 'whep_1', 'whsec_c2VjcmV0');
    await expect(openWebhookSecret(keys, 'ownerBBBBBBB', 'whep_1', sealed)).rejects.toThrow(DecryptionError);
    await expect(openWebhookSecret(keys, 'ownerAAAAAAA', 'whep_2', sealed)).rejects.toThrow(DecryptionError);
  });

  it("a session token's ciphertext cannot be opened as a webhook secret, nor a secret as a token", async () => {
    const keys = recordingKeys();
    const vault = new TokenVault(keys);
    // A session row whose id equals the endpoint id: only the purpose (and field) tell them apart.
    const tokens = await vault.seal('whep_1', { accessToken: 'at-secret', refreshToken: 'rt-secret' });
    await expect(
      openWebhookSecret(keys, 'ownerAAAAAAA', 'whep_1', { dataKey: tokens.dataKey, ciphertext: tokens.refreshToken }),
    ).rejects.toThrow(DecryptionError);
    const sealed = await sealWebhookSecret(keys, 'ownerAAAAAAA', 'whep_1', 'whsec_c2VjcmV0');
    await expect(
      new TokenVault(keys).open('whep_1', sealed.dataKey, 'refresh_token', sealed.ciphertext),
    ).rejects.toThrow(DecryptionError);
    expect(webhookSecretContext('o', 'e').purpose).not.toBe(keys.contexts[0]!.purpose);
  });
});

describe('secret rotation', () => {
  const keys = new LocalKeyProvider(randomBytes(32));
  const DAY = 24 * 3600;

  it('the old secret keeps signing for the overlap window, the new one first; then only the new one', async () => {
    const t0 = 1_800_000_000;
    const { endpoint, secret: first } = await newEndpoint({ keys }, 'ownerAAAAAAA', 'https://hooks.example.com/in', t0);
    expect(await signingSecrets(endpoint, { keys }, t0)).toEqual([first]);

    const { secrets, secret: second } = await rotatedSecrets({ keys }, endpoint, DAY, t0 + 60);
    const rotated = { ...endpoint, secrets };
    expect(second).not.toBe(first);
    expect(await signingSecrets(rotated, { keys }, t0 + 60)).toEqual([second, first]);
    expect(await signingSecrets(rotated, { keys }, t0 + 60 + DAY - 1)).toEqual([second, first]);
    expect(await signingSecrets(rotated, { keys }, t0 + 60 + DAY)).toEqual([second]);
  });

  it('a second rotation within the window drops the oldest: never more than two secrets sign', async () => {
    const t0 = 1_800_000_000;
    const { endpoint } = await newEndpoint({ keys }, 'ownerAAAAAAA', 'https://hooks.example.com/in', t0);
    const r1 = await rotatedSecrets({ keys }, endpoint, DAY, t0 + 10);
    const r2 = await rotatedSecrets({ keys }, { ...endpoint, secrets: r1.secrets }, DAY, t0 + 20);
    expect(r2.secrets).toHaveLength(2);
    expect(await signingSecrets({ ...endpoint, secrets: r2.secrets }, { keys }, t0 + 20)).toEqual([
      r2.secret,
      r1.secret,
    ]);
  });

  it('with a zero overlap the old secret stops signing at once', async () => {
    const { endpoint } = await newEndpoint({ keys }, 'ownerAAAAAAA', 'https://hooks.example.com/in', 100);
    const r = await rotatedSecrets({ keys }, endpoint, 0, 200);
    expect(await signingSecrets({ ...endpoint, secrets: r.secrets }, { keys }, 200)).toEqual([r.secret]);
  });
});
