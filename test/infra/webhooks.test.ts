/**
 * Webhook secrets' key use in every kind of deployment: the created key, an existing key (its owner
 * adds the output statements) and each replica key of a multi-Region deployment.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { addMultiRegionStacks, multiRegionPlan } from '../../infra/multi-region.ts';
import { readSettings } from '../../infra/settings.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import { WEBHOOK_SECRET_PURPOSE } from '../../shared/crypto/context.ts';
import { functionsByName, newApp, NO_BUNDLING, resourcesOf, roleOf } from './support.ts';

const SERVICE = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://org.crm.dynamics.com',
  allowedReturnUrls: ['https://app.example.com'],
};
const WEBHOOK_CONDITION = {
  StringEquals: { 'kms:EncryptionContext:purpose': WEBHOOK_SECRET_PURPOSE },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['purpose', 'owner', 'endpoint'] },
};

describe('webhook secrets: key use', () => {
  let existing: Template;
  beforeAll(() => {
    const app = newApp(NO_BUNDLING);
    const stack = new DynamicsAuthStack(app, 'ExistingKey', {
      service: {
        ...SERVICE,
        existingKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      },
    });
    existing = Template.fromStack(stack);
  });

  it('an existing key: the stack outputs the webhooks role’s statement, GenerateDataKey under the webhook-secret context only', () => {
    const statements = JSON.parse(JSON.stringify(existing.toJSON().Outputs.WebhookKeyPolicyStatements.Value));
    const text = JSON.stringify(statements);
    expect(text).toContain(roleOf(existing, functionsByName(existing).webhooks));
    expect(text).toContain(WEBHOOK_SECRET_PURPOSE);
    expect(text).toContain('kms:GenerateDataKey');
    expect(text).not.toContain('kms:Decrypt');
  });

  it('a multi-Region deployment: each replica key’s policy lets that Region’s webhooks role seal secrets', () => {
    const app = newApp(NO_BUNDLING);
    const context: Record<string, string> = {};
    const settings = readSettings((name) => context[name]);
    const { stacks } = addMultiRegionStacks(
      app,
      settings.stackName,
      multiRegionPlan(['us-east-1', 'us-west-2'], 'us-east-2'),
      { ...settings.serviceProps, ...SERVICE },
      {
        account: '111122223333',
      },
    );
    const replica = Template.fromStack(stacks[1]!);
    const [key] = Object.values(resourcesOf(replica, 'AWS::KMS::ReplicaKey'));
    const statement = (
      key!.Properties.KeyPolicy.Statement as {
        Sid: string;
        Condition: unknown;
        Action: unknown;
        Principal: { AWS: unknown };
      }[]
    ).find((s) => s.Sid === 'WebhookSecretSealingForWebhooks');
    expect(statement?.Action).toBe('kms:GenerateDataKey');
    expect(statement?.Condition).toEqual(WEBHOOK_CONDITION);
    expect(JSON.stringify(statement?.Principal)).toContain(roleOf(replica, functionsByName(replica).webhooks));
  });
});
