/**
 * Certificate credentials in multi-Region mode: the client-assertion key is a KMS multi-Region key,
 * so an assertion signed through any Region's replica verifies with the primary's public key, and
 * the one certificate made from the primary (one x5t#S256) is valid for every Region
 * (https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html).
 */
import { constants, createPublicKey, verify } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, importSPKI } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../shared/crypto/certificate.ts';
import { SigningError } from '../../shared/crypto/signer.ts';
import { privateKeyJwt } from '../../shared/oauth/client-auth.ts';
import { MultiRegionKms } from '../support/multi-region-kms.ts';

const PRIMARY = 'us-east-1';
const REPLICA = 'us-west-2';
const TOKEN_ENDPOINT = 'https://login.microsoftonline.com/organizations/oauth2/v2.0/token';
const restores: (() => void)[] = [];

function signerIn(kms: MultiRegionKms, region: string, keyId: string) {
  const mocked = kms.signerIn(region, MultiRegionKms.arn(region, keyId));
  restores.push(mocked.restore);
  return mocked;
}

afterEach(() => {
  for (const restore of restores.splice(0)) restore();
});

describe('client assertions signed in any Region with a multi-Region key', () => {
  it("an assertion signed via the replica verifies with the primary's public key and names the primary's certificate", async () => {
    const kms = new MultiRegionKms();
    const keyId = kms.createSigningKey(PRIMARY, [REPLICA]);
    const primary = signerIn(kms, PRIMARY, keyId);
    const replica = signerIn(kms, REPLICA, keyId);

    // The operator makes one certificate, from the primary key.
    const certificate = await createSelfSignedCertificate(primary.signer, { subject: 'CN=dynamics-auth', days: 365 });
    const certificateKey = createPublicKey(certificate.pem);

    // The replica Region's functions sign the assertion.
    const auth = privateKeyJwt(replica.signer, { certificateThumbprintS256: certificate.thumbprintS256 });
    const body = new URLSearchParams();
    await auth(
      { issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0', token_endpoint: TOKEN_ENDPOINT },
      { client_id: 'app' },
      body,
      new Headers(),
    );
    const assertion = body.get('client_assertion')!;
    expect(replica.calls()).toBe(1);

    expect(decodeProtectedHeader(assertion)['x5t#S256']).toBe(certificate.thumbprintS256);
    const primaryKey = await importSPKI(
      (await primary.signer.publicKey()).export({ type: 'spki', format: 'pem' }) as string,
      'PS256',
    );
    await expect(compactVerify(assertion, primaryKey, { algorithms: ['PS256'] })).resolves.toBeDefined();
    const fromCertificate = await importSPKI(certificateKey.export({ type: 'spki', format: 'pem' }) as string, 'PS256');
    await expect(compactVerify(assertion, fromCertificate, { algorithms: ['PS256'] })).resolves.toBeDefined();
  });

  it("a raw PS256 signature from the replica verifies with the primary key; another key's does not", async () => {
    const kms = new MultiRegionKms();
    const keyId = kms.createSigningKey(PRIMARY, [REPLICA]);
    const otherId = kms.createSigningKey(PRIMARY, [REPLICA]);
    const data = Buffer.from('header.payload');
    const primaryPublic = await signerIn(kms, PRIMARY, keyId).signer.publicKey();
    const pss = { key: primaryPublic, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    expect(verify('sha256', data, pss, await signerIn(kms, REPLICA, keyId).signer.sign(data, 'PS256'))).toBe(true);
    expect(verify('sha256', data, pss, await signerIn(kms, REPLICA, otherId).signer.sign(data, 'PS256'))).toBe(false);
  });

  it('a single-Region key cannot be used from another Region (why the deployment makes a multi-Region key)', async () => {
    const kms = new MultiRegionKms();
    const keyId = kms.createSigningKey(PRIMARY, [REPLICA], false);
    await expect(signerIn(kms, REPLICA, keyId).signer.sign(Buffer.from('x'), 'PS256')).rejects.toBeInstanceOf(
      SigningError,
    );
    // Nor does the primary's ARN work at another Region's endpoint.
    const mrk = kms.createSigningKey(PRIMARY, [REPLICA]);
    const wrongArn = kms.signerIn(REPLICA, MultiRegionKms.arn(PRIMARY, mrk));
    restores.push(wrongArn.restore);
    await expect(wrongArn.signer.sign(Buffer.from('x'), 'PS256')).rejects.toBeInstanceOf(SigningError);
  });
});
