import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, importSPKI } from 'jose';
import type * as oauth from 'oauth4webapi';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config/config.ts';
import { KeyServiceUnavailableError } from '../../shared/crypto/key-provider.ts';
import { KmsSigner } from '../../shared/crypto/kms-signer.ts';
import { LocalRsaSigner, SigningError } from '../../shared/crypto/signer.ts';
import { ServiceError } from '../../shared/errors/service-error.ts';
import { chooseTokenEndpointAuthMethod, privateKeyJwt } from '../../shared/oauth/client-auth.ts';
import { EntraClient } from '../../shared/oauth/client.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const THUMBPRINT = createHash('sha256').update('certificate DER').digest('base64url');
const TOKEN_ENDPOINT = 'https://login.microsoftonline.com/organizations/oauth2/v2.0/token';
// Entra's multi-tenant metadata: the issuer is a template, the token endpoint a real URL.
const ENTRA_AS = {
  issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0',
  token_endpoint: TOKEN_ENDPOINT,
} as oauth.AuthorizationServer;
const CLIENT = { client_id: '00001111-aaaa-2222-bbbb-3333cccc4444' };
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

async function assertionFor(auth: oauth.ClientAuth) {
  const body = new URLSearchParams();
  const headers = new Headers();
  await auth(ENTRA_AS, CLIENT, body, headers);
  return { body, headers, assertion: body.get('client_assertion')! };
}

describe('private_key_jwt client assertion', () => {
  it('carries exactly the header and claims Entra requires, signed PS256 by the key', async () => {
    const auth = privateKeyJwt(new LocalRsaSigner(privateKey), {
      certificateThumbprintS256: THUMBPRINT,
      now: () => NOW,
    });
    const { body, headers, assertion } = await assertionFor(auth);

    expect(body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(body.get('client_id')).toBe(CLIENT.client_id);
    expect(body.get('client_secret')).toBeNull();
    expect(headers.get('authorization')).toBeNull();

    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'PS256', typ: 'JWT', 'x5t#S256': THUMBPRINT });
    const key = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'PS256');
    const { payload } = await compactVerify(assertion, key, { algorithms: ['PS256'] });
    const claims = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
    const iat = NOW / 1000;
    expect(claims).toEqual({
      aud: TOKEN_ENDPOINT,
      iss: CLIENT.client_id,
      sub: CLIENT.client_id,
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      iat,
      nbf: iat,
      exp: iat + 300,
    });
  });

  it('never reuses a jti', async () => {
    const auth = privateKeyJwt(new LocalRsaSigner(privateKey), { certificateThumbprintS256: THUMBPRINT });
    const jti = async () => {
      const { assertion } = await assertionFor(auth);
      return (JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
    };
    expect(await jti()).not.toBe(await jti());
  });

  it('turns a signing failure into a 500 that names no key material, and a KMS outage into a 503 error', async () => {
    const refusing = {
      sign: async () => Promise.reject(new SigningError('KMS Sign failed (AccessDeniedException)')),
      publicKey: async () => publicKey,
    };
    const err = await assertionFor(privateKeyJwt(refusing, { certificateThumbprintS256: THUMBPRINT })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).status).toBe(500);
    expect((err as ServiceError).code).toBe('misconfigured');
    const busy = {
      sign: async () => Promise.reject(new KeyServiceUnavailableError('KMS unavailable (ThrottlingException)')),
      publicKey: async () => publicKey,
    };
    await expect(assertionFor(privateKeyJwt(busy, { certificateThumbprintS256: THUMBPRINT }))).rejects.toBeInstanceOf(
      KeyServiceUnavailableError,
    );
  });
});

describe('KMS signer', () => {
  const kms = mockClient(KMSClient);
  afterEach(() => kms.reset());
  const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  it('asks KMS Sign for RSASSA_PSS_SHA_256 over the SHA-256 digest of the signing input, with the configured key', async () => {
    const kmsSignature = Buffer.from('signature-from-kms');
    kms.on(SignCommand).resolves({ Signature: kmsSignature, KeyId: KEY_ARN, SigningAlgorithm: 'RSASSA_PSS_SHA_256' });
    const signer = new KmsSigner(KEY_ARN, () => new KMSClient({ region: 'eu-west-1' }));
    const { assertion } = await assertionFor(privateKeyJwt(signer, { certificateThumbprintS256: THUMBPRINT }));

    const [header, payload, signature] = assertion.split('.');
    expect(Buffer.from(signature!, 'base64url')).toEqual(kmsSignature);
    const calls = kms.commandCalls(SignCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.KeyId).toBe(KEY_ARN);
    expect(input.SigningAlgorithm).toBe('RSASSA_PSS_SHA_256');
    expect(input.MessageType).toBe('DIGEST');
    expect(Buffer.from(input.Message!)).toEqual(createHash('sha256').update(`${header}.${payload}`).digest());
    expect(kms.commandCalls(GetPublicKeyCommand)).toHaveLength(0);
  });

  it('signs the certificate with RSASSA_PKCS1_V1_5_SHA_256', async () => {
    kms.on(SignCommand).resolves({ Signature: Buffer.from('x') });
    await new KmsSigner(KEY_ARN, () => new KMSClient({ region: 'eu-west-1' })).sign(Buffer.from('tbs'), 'RS256');
    expect(kms.commandCalls(SignCommand)[0]!.args[0].input.SigningAlgorithm).toBe('RSASSA_PKCS1_V1_5_SHA_256');
  });

  it('maps throttling to a retryable key-service error and a refusal to a signing error', async () => {
    const signer = new KmsSigner(KEY_ARN, () => new KMSClient({ region: 'eu-west-1' }));
    kms
      .on(SignCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }))
      .rejectsOnce(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(signer.sign(Buffer.from('a'), 'PS256')).rejects.toBeInstanceOf(KeyServiceUnavailableError);
    await expect(signer.sign(Buffer.from('a'), 'PS256')).rejects.toBeInstanceOf(SigningError);
  });

  it('reads the public key with GetPublicKey and refuses a key that is not an RSA signing key', async () => {
    const der = publicKey.export({ type: 'spki', format: 'der' });
    kms
      .on(GetPublicKeyCommand)
      .resolvesOnce({ PublicKey: der, KeySpec: 'RSA_3072', KeyUsage: 'SIGN_VERIFY' })
      .resolvesOnce({ PublicKey: der, KeySpec: 'RSA_3072', KeyUsage: 'ENCRYPT_DECRYPT' });
    const signer = new KmsSigner(KEY_ARN, () => new KMSClient({ region: 'eu-west-1' }));
    expect((await signer.publicKey()).equals(publicKey)).toBe(true);
    await expect(signer.publicKey()).rejects.toBeInstanceOf(SigningError);
  });
});

describe('choosing the token-endpoint client authentication', () => {
  const entraMethods = ['client_secret_post', 'private_key_jwt', 'client_secret_basic'];

  it('prefers private_key_jwt when a key is configured and the provider supports it', () => {
    expect(chooseTokenEndpointAuthMethod({ hasKey: true, hasSecret: true }, entraMethods)).toBe('private_key_jwt');
  });

  it('uses client_secret_basic for a secret where supported, else client_secret_post', () => {
    expect(chooseTokenEndpointAuthMethod({ hasKey: false, hasSecret: true }, entraMethods)).toBe('client_secret_basic');
    expect(chooseTokenEndpointAuthMethod({ hasKey: false, hasSecret: true }, ['client_secret_post'])).toBe(
      'client_secret_post',
    );
    expect(chooseTokenEndpointAuthMethod({ hasKey: true, hasSecret: true }, ['client_secret_post'])).toBe(
      'client_secret_post',
    );
  });

  it('sends a secret in the body first for Entra, which lists Basic but does not form-decode it', () => {
    expect(
      chooseTokenEndpointAuthMethod({ hasKey: false, hasSecret: true, preferSecretInBody: true }, entraMethods),
    ).toBe('client_secret_post');
    expect(
      chooseTokenEndpointAuthMethod({ hasKey: false, hasSecret: true, preferSecretInBody: true }, [
        'client_secret_basic',
      ]),
    ).toBe('client_secret_basic');
    expect(
      chooseTokenEndpointAuthMethod({ hasKey: true, hasSecret: true, preferSecretInBody: true }, entraMethods),
    ).toBe('private_key_jwt');
  });

  it('for an Entra authority, the client picks client_secret_post; for another provider client_secret_basic', () => {
    const env = {
      CLIENT_ID: 'c',
      CLIENT_SECRET: 's',
      DYNAMICS_URL: 'https://contoso.crm.dynamics.com',
      PUBLIC_BASE_URL: 'https://auth.example.com',
      ALLOWED_RETURN_URLS: 'https://app.example.com',
    };
    const as = { issuer: 'x', token_endpoint_auth_methods_supported: entraMethods } as oauth.AuthorizationServer;
    const secret = async () => 's';
    const entra = new EntraClient(loadConfig(env), { clientSecret: secret });
    expect(entra.tokenEndpointAuthMethod(as)).toBe('client_secret_post');
    const other = new EntraClient(loadConfig({ ...env, ENTRA_AUTHORITY: 'https://idp.example.com/realms/crm' }), {
      clientSecret: secret,
    });
    expect(other.tokenEndpointAuthMethod(as)).toBe('client_secret_basic');
  });

  it('treats missing metadata as client_secret_basic only (OIDC Discovery default)', () => {
    expect(chooseTokenEndpointAuthMethod({ hasKey: false, hasSecret: true }, undefined)).toBe('client_secret_basic');
    expect(() => chooseTokenEndpointAuthMethod({ hasKey: true, hasSecret: false }, undefined)).toThrow(ConfigError);
  });

  it('is a public client (none) with no credentials, even where the provider does not list none', () => {
    expect(chooseTokenEndpointAuthMethod({ hasKey: false, hasSecret: false }, entraMethods)).toBe('none');
  });

  it('lets the explicit setting win, and refuses one the provider does not support with a clear error', () => {
    expect(
      chooseTokenEndpointAuthMethod({ explicit: 'client_secret_post', hasKey: true, hasSecret: true }, entraMethods),
    ).toBe('client_secret_post');
    expect(() =>
      chooseTokenEndpointAuthMethod({ explicit: 'private_key_jwt', hasKey: true, hasSecret: false }, [
        'client_secret_basic',
      ]),
    ).toThrow(
      /TOKEN_ENDPOINT_AUTH_METHOD is private_key_jwt, but the identity provider supports only client_secret_basic/,
    );
  });

  it('refuses configured credentials the provider cannot take', () => {
    expect(() =>
      chooseTokenEndpointAuthMethod({ hasKey: true, hasSecret: false }, ['client_secret_basic', 'client_secret_post']),
    ).toThrow(/allow private_key_jwt, but the identity provider supports only client_secret_basic, client_secret_post/);
  });
});

describe('client authentication configuration', () => {
  const base = {
    CLIENT_ID: 'c',
    DYNAMICS_URL: 'https://contoso.crm.dynamics.com',
    PUBLIC_BASE_URL: 'https://auth.example.com',
    ALLOWED_RETURN_URLS: 'https://app.example.com',
  };

  it('needs the certificate thumbprint with a key, and accepts it as base64url or hex', () => {
    expect(() => loadConfig({ ...base, CLIENT_ASSERTION_KEY_ID: 'alias/x' })).toThrow(
      /CLIENT_CERTIFICATE_THUMBPRINT_S256 is required/,
    );
    const hex = createHash('sha256').update('cert').digest('hex').toUpperCase();
    const config = loadConfig({ ...base, CLIENT_ASSERTION_KEY_ID: 'alias/x', CLIENT_CERTIFICATE_THUMBPRINT_S256: hex });
    expect(config.clientCertificateThumbprintS256).toBe(createHash('sha256').update('cert').digest('base64url'));
    expect(() =>
      loadConfig({ ...base, CLIENT_ASSERTION_KEY_ID: 'alias/x', CLIENT_CERTIFICATE_THUMBPRINT_S256: 'abc' }),
    ).toThrow(/SHA-256 thumbprint/);
  });

  it('refuses an unknown method and an explicit method without its credential', () => {
    expect(() => loadConfig({ ...base, TOKEN_ENDPOINT_AUTH_METHOD: 'tls_client_auth' })).toThrow(/must be one of/);
    expect(() => loadConfig({ ...base, TOKEN_ENDPOINT_AUTH_METHOD: 'private_key_jwt' })).toThrow(
      /needs CLIENT_ASSERTION_KEY_ID/,
    );
    expect(() => loadConfig({ ...base, TOKEN_ENDPOINT_AUTH_METHOD: 'client_secret_basic' })).toThrow(
      /needs CLIENT_SECRET_ARN/,
    );
    expect(() =>
      loadConfig({
        ...base,
        CLIENT_ASSERTION_KEY_ID: 'a',
        CLIENT_ASSERTION_KEY_FILE: 'b',
        CLIENT_CERTIFICATE_THUMBPRINT_S256: THUMBPRINT,
      }),
    ).toThrow(/not both/);
  });
});
