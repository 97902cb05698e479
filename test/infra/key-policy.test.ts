/**
 * The token key's policy: administration for the account, use for the function roles only. Whoever
 * the key policy lets use the key can unwrap every stored session given read access to the table, so
 * the policy itself (not IAM policies elsewhere in the account) decides who that is.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTION_PURPOSE, WEBHOOK_SECRET_PURPOSE } from '../../shared/crypto/context.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import {
  asArray,
  FN_NAMES,
  type Fn,
  functionsByName,
  type Json,
  nagFindings,
  newApp,
  NO_BUNDLING,
  refId,
  resourcesOf,
  roleOf,
} from './support.ts';

const DATA_PLANE = /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt|CreateGrant|\*)/;
/** The operations each function performs on the key (shared/crypto/envelope.ts via shared/auth). */
const KEY_USE: Partial<Record<Fn, string[]>> = {
  callback: ['kms:GenerateDataKey'],
  refresh: ['kms:Decrypt', 'kms:GenerateDataKey'],
  proxy: ['kms:Decrypt', 'kms:GenerateDataKey'],
  connections: ['kms:Decrypt', 'kms:GenerateDataKey'],
  environments: ['kms:Decrypt', 'kms:GenerateDataKey'],
  // Decrypts the refresh token to revoke it where the provider offers RFC 7009 revocation.
  logout: ['kms:Decrypt'],
};
const CONTEXT_CONDITION = {
  StringEquals: { 'kms:EncryptionContext:purpose': ENCRYPTION_PURPOSE },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['purpose', 'session'] },
};
/** The webhooks function seals webhook signing secrets, under their own context only (infra/webhooks.ts). */
const WEBHOOK_KEY_USE: Partial<Record<Fn, string[]>> = { webhooks: ['kms:GenerateDataKey'] };
const WEBHOOK_CONTEXT_CONDITION = {
  StringEquals: { 'kms:EncryptionContext:purpose': WEBHOOK_SECRET_PURPOSE },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['purpose', 'owner', 'endpoint'] },
};

let stack: DynamicsAuthStack;
let template: Template;
let statements: Json[];
let fns: Record<Fn, string>;

beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  stack = new DynamicsAuthStack(app, 'KeyPolicy', {
    service: {
      clientId: '11111111-2222-3333-4444-555555555555',
      dynamicsUrl: 'https://org.crm.dynamics.com',
      allowedReturnUrls: ['https://app.example.com'],
    },
  });
  app.synth(); // throws on a dependency cycle or an unacknowledged cdk-nag finding
  template = Template.fromStack(stack);
  fns = functionsByName(template);
  const keyId = refId(stack.resolve(stack.service.key.keyArn))!;
  statements = resourcesOf(template, 'AWS::KMS::Key')[keyId]!.Properties.KeyPolicy.Statement;
});

const isRoot = (principal: Json) => /:root/.test(JSON.stringify(principal));

describe('token key policy', () => {
  it('no statement lets the account root (any IAM policy in the account) use the key for data', () => {
    const rootAllows = statements.filter((s) => s.Effect === 'Allow' && isRoot(s.Principal));
    expect(rootAllows.length).toBeGreaterThan(0);
    for (const s of rootAllows) {
      const dataPlane = asArray<string>(s.Action).filter((a) => DATA_PLANE.test(a));
      expect(dataPlane, s.Sid).toEqual([]);
    }
  });

  it('administration (with kms:PutKeyPolicy) stays with the account root, so the key stays manageable', () => {
    const admin = statements.find((s) => s.Sid === 'KeyAdministration');
    expect(admin).toMatchObject({ Effect: 'Allow', Resource: '*' });
    expect(isRoot(admin.Principal)).toBe(true);
    expect(asArray(admin.Action)).toEqual(expect.arrayContaining(['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion']));
    expect(admin.Condition).toBeUndefined();
  });

  it('grants data-key use only to the function roles that need it, each its own operations, under the encryption context', () => {
    const uses = new Map<string, string[]>();
    const webhookUses = new Map<string, string[]>();
    for (const s of statements.filter((st) => st.Effect === 'Allow')) {
      const dataPlane = asArray<string>(s.Action).filter((a) => DATA_PLANE.test(a));
      if (dataPlane.length === 0) continue;
      // One named role per statement, as its ARN (never the root, never "*").
      const arn = s.Principal.AWS;
      expect(arn['Fn::GetAtt']?.[1], JSON.stringify(s.Principal)).toBe('Arn');
      expect(s.Resource).toBe('*');
      // Each statement is for session tokens or for webhook secrets, never both or neither.
      const byPurpose =
        s.Condition?.StringEquals?.['kms:EncryptionContext:purpose'] === WEBHOOK_SECRET_PURPOSE ? webhookUses : uses;
      expect(s.Condition).toEqual(byPurpose === uses ? CONTEXT_CONDITION : WEBHOOK_CONTEXT_CONDITION);
      byPurpose.set(refId(arn)!, [...(byPurpose.get(refId(arn)!) ?? []), ...dataPlane]);
    }
    const expected = (use: Partial<Record<Fn, string[]>>) =>
      new Map(FN_NAMES.filter((n) => use[n]).map((n) => [roleOf(template, fns[n]), [...use[n]!].sort()]));
    const sorted = (m: Map<string, string[]>) => new Map([...m].map(([role, actions]) => [role, actions.sort()]));
    expect(sorted(uses)).toEqual(expected(KEY_USE));
    // The webhook delivery function only opens secrets (infra/webhook-delivery.ts).
    const deliveryRole = refId(stack.resolve(stack.service.webhooks!.delivery.role!.roleArn))!;
    expect(sorted(webhookUses)).toEqual(new Map([...expected(WEBHOOK_KEY_USE), [deliveryRole, ['kms:Decrypt']]]));
  });

  it('explicitly denies kms:CreateGrant to every principal', () => {
    const deny = statements.filter((s) => s.Effect === 'Deny');
    expect(deny).toEqual([
      expect.objectContaining({ Action: 'kms:CreateGrant', Principal: { AWS: '*' }, Resource: '*' }),
    ]);
    expect(deny[0].Condition).toBeUndefined();
  });

  it('is cdk-nag clean', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});
