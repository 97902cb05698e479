/**
 * Certificate credentials in the construct: an asymmetric RSA KMS key (created or existing) that
 * only the token-calling functions may use, for kms:Sign with RSASSA-PSS, and nothing else.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DynamicsAuthServiceProps } from '../../infra/construct.ts';
import { readSettings, type SettingName } from '../../infra/settings.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import {
  allIamStatements,
  asArray,
  FN_NAMES,
  functionsByName,
  type Json,
  nagFindings,
  newApp,
  NO_BUNDLING,
  resourcesOf,
  roleOf,
  roleStatements,
} from './support.ts';

const BASE: DynamicsAuthServiceProps = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://org.crm.dynamics.com',
  allowedReturnUrls: ['https://app.example.com'],
};
const THUMBPRINT = 'hXwCCAr4wltI6HkAMiACv5hOt5J-WmOg0sNtd3ZEuj4';
const EXISTING_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const TOKEN_CALLERS = ['callback', 'refresh', 'proxy', 'connections', 'environments', 'logout'];

let created: DynamicsAuthStack;
let existing: DynamicsAuthStack;
let pending: DynamicsAuthStack;
beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  created = new DynamicsAuthStack(app, 'CertCreatedKey', {
    service: { ...BASE, clientCertificate: { thumbprintS256: THUMBPRINT } },
  });
  existing = new DynamicsAuthStack(app, 'CertExistingKey', {
    service: {
      ...BASE,
      clientCertificate: { keyArn: EXISTING_KEY, thumbprintS256: THUMBPRINT },
      tokenEndpointAuthMethod: 'private_key_jwt',
    },
  });
  pending = new DynamicsAuthStack(app, 'CertPending', { service: { ...BASE, clientCertificate: {} } });
  app.synth(); // throws on any unacknowledged cdk-nag finding
});

/** The kms:Sign statements of a function's role. */
function signStatements(template: Template, fn: string) {
  const fnId = functionsByName(template)[fn as (typeof FN_NAMES)[number]];
  return roleStatements(template, roleOf(template, fnId)).filter((s) =>
    asArray(s.Action).some((a: string) => a.startsWith('kms:Sign') || a === 'kms:GetPublicKey'),
  );
}

describe('client certificate key', () => {
  it('creates an RSA_3072 SIGN_VERIFY key, retained, whose policy lets IAM grant only Sign', () => {
    const template = Template.fromStack(created);
    const keys = Object.values(resourcesOf(template, 'AWS::KMS::Key')).filter(
      (k) => k.Properties.KeySpec === 'RSA_3072',
    );
    expect(keys).toHaveLength(1);
    const key = keys[0]!;
    expect(key.Properties.KeyUsage).toBe('SIGN_VERIFY');
    expect(key.DeletionPolicy).toBe('Retain');
    const usage = (key.Properties.KeyPolicy.Statement as Json[]).find((s) => s.Sid === 'AllowIamPoliciesToSign');
    expect(usage.Action).toBe('kms:Sign');
  });

  it('grants kms:Sign with RSASSA_PSS_SHA_256 on that key to the token-calling functions only, never GetPublicKey', () => {
    for (const stack of [created, existing]) {
      const template = Template.fromStack(stack);
      for (const fn of FN_NAMES) {
        const statements = signStatements(template, fn);
        if (!TOKEN_CALLERS.includes(fn)) {
          expect(statements, fn).toEqual([]);
          continue;
        }
        expect(statements, fn).toHaveLength(1);
        expect(statements[0]!.Action).toBe('kms:Sign');
        expect(statements[0]!.Condition).toEqual({ StringEquals: { 'kms:SigningAlgorithm': 'RSASSA_PSS_SHA_256' } });
      }
    }
    const existingTemplate = Template.fromStack(existing);
    expect(signStatements(existingTemplate, 'refresh')[0]!.Resource).toBe(EXISTING_KEY);
    expect(
      allIamStatements(existingTemplate).some(({ statement }) =>
        asArray(statement.Action).includes('kms:GetPublicKey'),
      ),
    ).toBe(false);
  });

  it('hands the functions the key and thumbprint (and the explicit method) once the thumbprint is known', () => {
    const env = (stack: DynamicsAuthStack) =>
      Object.values(resourcesOf(Template.fromStack(stack), 'AWS::Lambda::Function'))[0]!.Properties.Environment
        .Variables as Record<string, Json>;
    expect(env(existing)).toMatchObject({
      CLIENT_ASSERTION_KEY_ID: EXISTING_KEY,
      CLIENT_CERTIFICATE_THUMBPRINT_S256: THUMBPRINT,
      TOKEN_ENDPOINT_AUTH_METHOD: 'private_key_jwt',
    });
    expect(env(created).CLIENT_ASSERTION_KEY_ID).toBeDefined();
    expect(env(pending).CLIENT_ASSERTION_KEY_ID).toBeUndefined();
    expect(env(pending).CLIENT_CERTIFICATE_THUMBPRINT_S256).toBeUndefined();
    // The key exists and may be signed with already, so the certificate can be made before use.
    expect(signStatements(Template.fromStack(pending), 'callback')).toHaveLength(1);
  });

  it('is cdk-nag clean and refuses a malformed thumbprint', () => {
    for (const stack of [created, existing, pending]) expect(nagFindings(stack)).toEqual([]);
    expect(
      () =>
        new DynamicsAuthStack(newApp(NO_BUNDLING), 'Bad', {
          service: { ...BASE, clientCertificate: { thumbprintS256: 'AB:CD' } },
        }),
    ).toThrow(/thumbprintS256/);
  });
});

describe('client certificate settings (-c)', () => {
  const read = (ctx: Partial<Record<SettingName, unknown>>) => readSettings((name) => ctx[name]);

  it('creates the key with clientCertificateKey=create, or uses an existing key ARN, with the thumbprint once known', () => {
    expect(read({ clientCertificateKey: 'create' }).serviceProps.clientCertificate).toEqual({});
    expect(
      read({
        clientCertificateKey: EXISTING_KEY,
        clientCertificateThumbprint: THUMBPRINT,
        tokenEndpointAuthMethod: 'private_key_jwt',
      }).serviceProps,
    ).toMatchObject({
      clientCertificate: { keyArn: EXISTING_KEY, thumbprintS256: THUMBPRINT },
      tokenEndpointAuthMethod: 'private_key_jwt',
    });
    expect(read({}).serviceProps.clientCertificate).toBeUndefined();
  });

  it('refuses an alias, a malformed thumbprint, a thumbprint without a key and an unknown method', () => {
    expect(() => read({ clientCertificateKey: 'alias/dynamics-auth' })).toThrow(/clientCertificateKey/);
    expect(() => read({ clientCertificateKey: 'create', clientCertificateThumbprint: 'BC02C3B9' })).toThrow(
      /clientCertificateThumbprint/,
    );
    expect(() => read({ clientCertificateThumbprint: THUMBPRINT })).toThrow(/needs clientCertificateKey/);
    expect(() => read({ tokenEndpointAuthMethod: 'tls_client_auth' })).toThrow(/tokenEndpointAuthMethod/);
  });
});
