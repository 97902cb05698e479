/**
 * How the functions name the client secret. AWS Secrets Manager API Reference, GetSecretValue
 * `SecretId`: "if your secret has a name that ends in a hyphen followed by six characters ... and you
 * try to use that as a partial ARN, then those characters cause Secrets Manager to assume that you're
 * specifying a complete ARN". A secret imported by name has no ARN suffix, so the functions get its
 * name (SecretId accepts a name) or its complete ARN, never a partial ARN.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { DynamicsAuthService, type DynamicsAuthServiceProps } from '../../infra/construct.ts';
import {
  asArray,
  FN_NAMES,
  functionsByName,
  type Json,
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
const READERS = ['callback', 'refresh', 'proxy', 'connections', 'environments', 'logout'];

/** A `Fn::Join` of literals and `AWS::Partition` as the string it becomes in the aws partition. */
function flatten(value: Json): string {
  if (typeof value === 'string') return value;
  const [sep, parts] = value['Fn::Join'] as [string, Json[]];
  return parts.map((p) => (p?.Ref === 'AWS::Partition' ? 'aws' : flatten(p))).join(sep);
}

function synth(
  clientSecret: DynamicsAuthServiceProps['clientSecret'] | ((s: Stack) => DynamicsAuthServiceProps['clientSecret']),
) {
  const stack = new Stack(new App({ context: NO_BUNDLING }), 'Secrets', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const secret = typeof clientSecret === 'function' ? clientSecret(stack) : clientSecret;
  new DynamicsAuthService(stack, 'Service', { ...BASE, clientSecret: secret });
  const template = Template.fromStack(stack);
  const fns = functionsByName(template);
  const env = (name: (typeof FN_NAMES)[number]) =>
    resourcesOf(template, 'AWS::Lambda::Function')[fns[name]]!.Properties.Environment.Variables as Record<string, Json>;
  const readResources = (name: (typeof FN_NAMES)[number]) =>
    roleStatements(template, roleOf(template, fns[name]))
      .filter((s) => asArray(s.Action).includes('secretsmanager:GetSecretValue'))
      .map((s) => flatten(s.Resource));
  return { env, readResources };
}

describe('client secret imported by name (GetSecretValue SecretId: partial-ARN rule)', () => {
  // The first two end in a hyphen plus six characters, exactly the names a partial ARN breaks.
  it.each(['dynamics-auth/client-secret', 'prod/entra-abc123', 'dynamics/client'])(
    '%s: the functions get the name itself, never a partial ARN; IAM matches its random suffix',
    (name) => {
      const { env, readResources } = synth(name);
      for (const fn of FN_NAMES) {
        expect(env(fn).CLIENT_SECRET_ARN, fn).toBe(name);
        expect(readResources(fn)).toEqual(
          READERS.includes(fn) ? [`arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-??????`] : [],
        );
      }
    },
  );

  it('an ISecret imported by name (Secret.fromSecretNameV2) is passed by name too', () => {
    const { env, readResources } = synth((s) => Secret.fromSecretNameV2(s, 'Imported', 'crm/oauth-secret'));
    expect(env('callback').CLIENT_SECRET_ARN).toBe('crm/oauth-secret');
    expect(readResources('callback')).toEqual([
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm/oauth-secret-??????',
    ]);
  });

  it('a complete ARN is passed unchanged and is the only IAM resource', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dynamics-auth/client-secret-AbC123';
    const { env, readResources } = synth(arn);
    expect(env('proxy').CLIENT_SECRET_ARN).toBe(arn);
    expect(readResources('proxy')).toEqual([arn]);
  });
});
