import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { constants, createHash, generateKeyPairSync, privateEncrypt, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../shared/crypto/certificate.ts';
import { LocalRsaSigner } from '../../shared/crypto/signer.ts';
import { certCommand } from '../../tools/cert.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
const NOW = new Date('2026-03-01T10:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'cert-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function checkCertificate(x509: X509Certificate, subject: string) {
  expect(x509.subject).toBe(subject);
  expect(x509.issuer).toBe(subject);
  expect(x509.publicKey.equals(publicKey)).toBe(true);
  expect(x509.verify(publicKey)).toBe(true);
  expect(x509.ca).toBe(false);
}

describe('self-signed certificate for the client assertion key', () => {
  it('is a valid X.509 certificate for the key, with the requested subject and validity, and its SHA-256 thumbprint', async () => {
    const cert = await createSelfSignedCertificate(new LocalRsaSigner(privateKey), {
      subject: 'CN=dynamics-auth, O=Contoso, C=NL',
      days: 365,
      now: NOW,
    });
    const x509 = new X509Certificate(cert.der);
    checkCertificate(x509, 'CN=dynamics-auth\nO=Contoso\nC=NL');
    expect(new Date(x509.validFrom).getTime()).toBe(NOW.getTime() - 5 * 60_000);
    expect(new Date(x509.validTo).getTime() - new Date(x509.validFrom).getTime()).toBe(365 * 86_400_000);
    expect(cert.thumbprintS256).toBe(createHash('sha256').update(x509.raw).digest('base64url'));
    expect(x509.fingerprint256.replace(/:/g, '')).toBe(
      Buffer.from(cert.thumbprintS256, 'base64url').toString('hex').toUpperCase(),
    );
    expect(x509.fingerprint.replace(/:/g, '')).toBe(cert.thumbprintSha1Hex);
    expect(new X509Certificate(cert.pem).raw.equals(cert.der)).toBe(true);
  });

  it('uses GeneralizedTime past 2049 and refuses bad subjects and lifetimes', async () => {
    const signer = new LocalRsaSigner(privateKey);
    const cert = await createSelfSignedCertificate(signer, {
      subject: 'CN=late',
      days: 3650,
      now: new Date('2045-06-01T00:00:00Z'),
    });
    expect(new Date(new X509Certificate(cert.der).validTo).getUTCFullYear()).toBe(2055);
    await expect(createSelfSignedCertificate(signer, { subject: 'O=no common name', days: 10 })).rejects.toThrow(/CN=/);
    await expect(createSelfSignedCertificate(signer, { subject: 'CN=a+OU=b', days: 10 })).rejects.toThrow(RangeError);
    await expect(createSelfSignedCertificate(signer, { subject: 'CN=a', days: 0 })).rejects.toThrow(/days/);
  });
});

describe('admin cert create', () => {
  const kms = mockClient(KMSClient);
  afterEach(() => kms.reset());
  const lines = () => {
    const out: string[] = [];
    return { out, sink: { log: (l: string) => out.push(l), error: (l: string) => out.push(l) } };
  };

  it('makes the certificate from a KMS key with GetPublicKey and a PKCS#1 v1.5 Sign of the digest', async () => {
    // The KMS mock signs like KMS does for MessageType DIGEST: PKCS#1 v1.5 over DigestInfo(SHA-256).
    const digestInfoPrefix = Buffer.from('3031300d060960864801650304020105000420', 'hex');
    kms.on(GetPublicKeyCommand).resolves({
      PublicKey: publicKey.export({ type: 'spki', format: 'der' }),
      KeySpec: 'RSA_3072',
      KeyUsage: 'SIGN_VERIFY',
    });
    kms.on(SignCommand).callsFake((input: { Message: Uint8Array }) => ({
      Signature: privateEncrypt(
        { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
        Buffer.concat([digestInfoPrefix, input.Message]),
      ),
    }));
    const out = join(dir, 'kms.pem');
    const { out: printed, sink } = lines();
    const code = await certCommand(
      [
        'create',
        '--key',
        'alias/dynamics-auth-assertion',
        '--subject',
        'CN=dynamics-auth',
        '--days',
        '30',
        '--out',
        out,
      ],
      sink,
    );
    expect(code).toBe(0);
    const x509 = new X509Certificate(readFileSync(out));
    checkCertificate(x509, 'CN=dynamics-auth');
    const sign = kms.commandCalls(SignCommand)[0]!.args[0].input;
    expect(sign).toMatchObject({
      KeyId: 'alias/dynamics-auth-assertion',
      SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
      MessageType: 'DIGEST',
    });
    expect(printed.join('\n')).toContain(
      `CLIENT_CERTIFICATE_THUMBPRINT_S256=${createHash('sha256').update(x509.raw).digest('base64url')}`,
    );
  });

  it('makes the certificate from a local key file, and refuses incomplete arguments', async () => {
    const keyFile = join(dir, 'key.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const { out: printed, sink } = lines();
    expect(await certCommand(['create', '--key-file', keyFile, '--subject', 'CN=local'], sink)).toBe(0);
    checkCertificate(new X509Certificate(printed[0]!), 'CN=local');
    expect(await certCommand(['create', '--subject', 'CN=x'], lines().sink)).toBe(2);
    expect(await certCommand(['create', '--key', 'k', '--key-file', keyFile, '--subject', 'CN=x'], lines().sink)).toBe(
      2,
    );
  });
});
