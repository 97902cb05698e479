import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { TokenVault } from '../../shared/crypto/envelope.ts';
import { DecryptionError, KeyServiceUnavailableError } from '../../shared/crypto/key-provider.ts';
import { KmsKeyProvider } from '../../shared/crypto/kms-key-provider.ts';
import { LocalKeyProvider } from '../../shared/crypto/local-key-provider.ts';

const kms = mockClient(KMSClient);
const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const newKms = () =>
  new KmsKeyProvider(
    KEY_ARN,
    () => new KMSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
  );

/** A fake KMS: the "wrapped" key is the plaintext key prefixed with the context it was made for. */
function fakeKms() {
  kms.on(GenerateDataKeyCommand).callsFake((input: { EncryptionContext: Record<string, string> }) => {
    const key = randomBytes(32);
    return {
      Plaintext: key,
      CiphertextBlob: Buffer.concat([Buffer.from(`${JSON.stringify(input.EncryptionContext)}|`), key]),
    };
  });
  kms
    .on(DecryptCommand)
    .callsFake((input: { CiphertextBlob: Uint8Array; EncryptionContext: Record<string, string> }) => {
      const blob = Buffer.from(input.CiphertextBlob);
      const sep = blob.indexOf('|');
      if (blob.subarray(0, sep).toString() !== JSON.stringify(input.EncryptionContext)) {
        throw Object.assign(new Error('InvalidCiphertextException'), { name: 'InvalidCiphertextException' });
      }
      return { Plaintext: blob.subarray(sep + 1) };
    });
}

beforeEach(() => kms.reset());

describe('KMS key provider', () => {
  it('asks KMS for an AES-256 data key bound to the purpose and the session key hash', async () => {
    fakeKms();
    const vault = new TokenVault(newKms());
    await vault.seal('session-hash-1', { accessToken: 'a', refreshToken: 'r' });
    const input = kms.commandCalls(GenerateDataKeyCommand)[0]!.args[0].input;
    expect(input.KeyId).toBe(KEY_ARN);
    expect(input.KeySpec).toBe('AES_256');
    expect(input.EncryptionContext).toEqual({ purpose: 'dynamics-auth/session-tokens', session: 'session-hash-1' });
  });

  it('decrypts the data key with the same encryption context, once, then serves warm requests from memory', async () => {
    fakeKms();
    const sealed = await new TokenVault(newKms()).seal('s1', { accessToken: 'access-1', refreshToken: 'refresh-1' });
    const cold = new TokenVault(newKms());
    for (let i = 0; i < 100; i++) {
      expect(await cold.open('s1', sealed.dataKey, 'access_token', sealed.accessToken)).toBe('access-1');
    }
    expect(await cold.open('s1', sealed.dataKey, 'refresh_token', sealed.refreshToken)).toBe('refresh-1');
    const decrypts = kms.commandCalls(DecryptCommand);
    expect(decrypts).toHaveLength(1);
    expect(decrypts[0]!.args[0].input.EncryptionContext).toEqual({
      purpose: 'dynamics-auth/session-tokens',
      session: 's1',
    });
  });

  it('reuses the cached data key for a rotation: no KMS call', async () => {
    fakeKms();
    const vault = new TokenVault(newKms());
    const first = await vault.seal('s1', { accessToken: 'a1', refreshToken: 'r1' });
    const second = await vault.seal('s1', { accessToken: 'a2', refreshToken: 'r2' }, first.dataKey);
    expect(Buffer.from(second.dataKey).equals(Buffer.from(first.dataKey))).toBe(true);
    expect(kms.commandCalls(GenerateDataKeyCommand)).toHaveLength(1);
    expect(await vault.open('s1', second.dataKey, 'refresh_token', second.refreshToken)).toBe('r2');
  });

  it('bounds the cache by age and by use count', async () => {
    fakeKms();
    let now = 0;
    const sealed = await new TokenVault(newKms()).seal('s1', { accessToken: 'a', refreshToken: 'r' });
    const vault = new TokenVault(newKms(), { maxAgeMs: 1_000, maxUses: 3, now: () => now });
    for (let i = 0; i < 3; i++) await vault.open('s1', sealed.dataKey, 'access_token', sealed.accessToken);
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(1);
    await vault.open('s1', sealed.dataKey, 'access_token', sealed.accessToken); // 4th use: expired by count
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(2);
    now = 1_000; // expired by age
    await vault.open('s1', sealed.dataKey, 'access_token', sealed.accessToken);
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(3);
  });

  it('fails to decrypt a ciphertext under another session’s context (KMS refuses)', async () => {
    fakeKms();
    const sealed = await new TokenVault(newKms()).seal('s1', { accessToken: 'a', refreshToken: 'r' });
    await expect(
      new TokenVault(newKms()).open('s2', sealed.dataKey, 'access_token', sealed.accessToken),
    ).rejects.toBeInstanceOf(DecryptionError);
  });

  it('maps KMS throttling to a retryable error', async () => {
    kms.on(GenerateDataKeyCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(new TokenVault(newKms()).seal('s1', { accessToken: 'a', refreshToken: 'r' })).rejects.toBeInstanceOf(
      KeyServiceUnavailableError,
    );
  });
});

describe('local key provider', () => {
  it('binds wrapped data keys to their encryption context like KMS', async () => {
    const local = new LocalKeyProvider(randomBytes(32));
    const key = await local.generateDataKey({ purpose: 'p', session: 'a' });
    expect(
      Buffer.from(await local.decryptDataKey(key.encrypted, { session: 'a', purpose: 'p' })).equals(
        Buffer.from(key.plaintext),
      ),
    ).toBe(true);
    await expect(local.decryptDataKey(key.encrypted, { purpose: 'p', session: 'b' })).rejects.toBeInstanceOf(
      DecryptionError,
    );
  });

  it('seals tokens larger than KMS’s 4 KB Encrypt limit', async () => {
    const vault = new TokenVault(new LocalKeyProvider(randomBytes(32)));
    const big = 'x'.repeat(12_000);
    const sealed = await vault.seal('s', { accessToken: big, refreshToken: big });
    expect(await vault.open('s', sealed.dataKey, 'access_token', sealed.accessToken)).toBe(big);
  });
});

describe('per-environment binding', () => {
  it('an access token sealed for one environment cannot be opened as another’s, nor as the session’s own', async () => {
    const { accessTokenField } = await import('../../shared/crypto/envelope.ts');
    const vault = new TokenVault(new LocalKeyProvider(randomBytes(32)));
    const a = 'https://contoso.crm.dynamics.com';
    const b = 'https://fabrikam.crm4.dynamics.com';
    const sealed = await vault.seal(
      'sid',
      { accessToken: 'token-for-a', refreshToken: 'r' },
      undefined,
      accessTokenField(a),
    );
    await expect(vault.open('sid', sealed.dataKey, accessTokenField(a), sealed.accessToken)).resolves.toBe(
      'token-for-a',
    );
    await expect(vault.open('sid', sealed.dataKey, accessTokenField(b), sealed.accessToken)).rejects.toBeInstanceOf(
      DecryptionError,
    );
    await expect(vault.open('sid', sealed.dataKey, 'access_token', sealed.accessToken)).rejects.toBeInstanceOf(
      DecryptionError,
    );
    await expect(vault.open('sid', sealed.dataKey, 'refresh_token', sealed.accessToken)).rejects.toBeInstanceOf(
      DecryptionError,
    );
  });
});
