/**
 * Data that must survive: the stateful resources' logical IDs and physical names are pinned, so a
 * refactor that renames a construct (which CloudFormation treats as "delete the old, create a new,
 * empty one") fails here first; retained tables refuse deletion; a re-created stack can take the
 * retained tables and key instead of creating new, empty ones.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSettings, type SettingName } from '../../infra/settings.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import {
  asArray,
  FN_NAMES,
  functionsByName,
  type Json,
  nagFindings,
  newApp,
  NO_BUNDLING,
  PROJECT_ROOT,
  resourcesOf,
  roleOf,
  roleStatements,
} from './support.ts';

const EXPECTED_FILE = path.join(PROJECT_ROOT, 'test/infra/stateful-resources.expected.json');
const GENERATED = '(generated from the stack name and logical ID)';
/** A KMS key has no name: KMS assigns its id (the alias is its stable name). */
const KMS_ASSIGNED = '(key id assigned by KMS; see the alias)';
/** Every resource type whose replacement loses data or breaks clients. */
const STATEFUL = [
  'AWS::DynamoDB::Table',
  'AWS::KMS::Key',
  'AWS::KMS::Alias',
  'AWS::ApiGatewayV2::Api',
  'AWS::ApiGatewayV2::Stage',
  'AWS::ApiGatewayV2::DomainName',
];
const PHYSICAL_NAME: Record<string, string | undefined> = {
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::KMS::Alias': 'AliasName',
  'AWS::ApiGatewayV2::Api': 'Name',
  'AWS::ApiGatewayV2::Stage': 'StageName',
  'AWS::ApiGatewayV2::DomainName': 'DomainName',
};

/** The deployable stack exactly as infra/app.ts builds it from CDK context. */
function deployStack(app: App, context: Partial<Record<SettingName, string>>): DynamicsAuthStack {
  const settings = readSettings((name) => context[name]);
  return new DynamicsAuthStack(app, settings.stackName, { service: settings.serviceProps });
}

/** Logical ID, type, physical name and retention of every stateful resource; the secrets the functions name. */
function statefulInventory(template: Template): Json {
  const resources = Object.entries(resourcesOf(template))
    .filter(([, r]) => STATEFUL.includes(r.Type))
    .map(([logicalId, r]) => {
      const nameProperty = PHYSICAL_NAME[r.Type];
      return {
        logicalId,
        type: r.Type,
        physicalName: nameProperty ? (r.Properties?.[nameProperty] ?? GENERATED) : KMS_ASSIGNED,
        deletionPolicy: r.DeletionPolicy ?? 'Delete',
        ...(r.Type === 'AWS::DynamoDB::Table'
          ? { deletionProtection: r.Properties.DeletionProtectionEnabled ?? false }
          : {}),
      };
    })
    .sort((a, b) => a.logicalId.localeCompare(b.logicalId));
  const secretRefs: Record<string, Json> = {};
  for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
    for (const name of ['CLIENT_SECRET_ARN', 'ORIGIN_VERIFY_SECRET_ID']) {
      const value = fn.Properties.Environment.Variables[name];
      if (value !== undefined) secretRefs[name] = value;
    }
  }
  return { resources, secretRefs };
}

let template: Template;
let existing: DynamicsAuthStack;
let existingTemplate: Template;
beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  const stack = deployStack(app, {
    clientSecretName: 'dynamics-auth/client-secret',
    originVerifySecretName: 'dynamics-auth/origin-secret',
    domainName: 'auth.example.com',
    certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666',
  });
  existing = deployStack(app, {
    stackName: 'Recreated',
    existingSessionsTableName: 'DynamicsAuthService-ServiceSessions-OLD',
    existingApiKeysTableName: 'DynamicsAuthService-ServiceApiKeys-OLD',
    existingKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  });
  app.synth();
  template = Template.fromStack(stack);
  existingTemplate = Template.fromStack(existing);
});

describe('stateful resources are pinned', () => {
  it('logical IDs and physical names of tables, key, alias, API, stage, domain and secret references match the checked-in list', () => {
    const expected = JSON.parse(readFileSync(EXPECTED_FILE, 'utf8'));
    expect(statefulInventory(template)).toEqual(expected);
  });

  it('sessions and API keys: retained with deletion protection; pending logins: neither', () => {
    const tables = Object.entries(resourcesOf(template, 'AWS::DynamoDB::Table'));
    const byName = (prefix: string) => tables.find(([id]) => id.startsWith(prefix))![1];
    for (const prefix of ['ServiceSessions', 'ServiceApiKeys']) {
      expect(byName(prefix)).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      expect(byName(prefix).Properties.DeletionProtectionEnabled, prefix).toBe(true);
    }
    expect(byName('ServicePendingLogins').DeletionPolicy).toBe('Delete');
    expect(byName('ServicePendingLogins').Properties.DeletionProtectionEnabled ?? false).toBe(false);
  });

  it('the key has an alias under the stack name, and the outputs name the retained table and key', () => {
    template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/DynamicsAuthService/Service/session-tokens',
    });
    const outputs = template.toJSON().Outputs;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['SessionsTable', 'TokenKeyArn', 'ApiKeysTable']));
    expect(outputs).not.toHaveProperty('TokenKeyPolicyStatements');
  });
});

describe('existing tables and key (a re-created stack keeps its data)', () => {
  const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  it('creates only the pending-logins table, no key and no alias', () => {
    const tables = resourcesOf(existingTemplate, 'AWS::DynamoDB::Table');
    expect(Object.keys(tables)).toEqual([expect.stringMatching(/^ServicePendingLogins/)]);
    existingTemplate.resourceCountIs('AWS::KMS::Key', 0);
    existingTemplate.resourceCountIs('AWS::KMS::Alias', 0);
  });

  it('the functions use the existing names and key, and their roles are granted on exactly those', () => {
    const fns = functionsByName(existingTemplate);
    for (const name of FN_NAMES) {
      const env = resourcesOf(existingTemplate, 'AWS::Lambda::Function')[fns[name]]!.Properties.Environment.Variables;
      expect(env.SESSIONS_TABLE).toBe('DynamicsAuthService-ServiceSessions-OLD');
      expect(env.API_KEYS_TABLE).toBe('DynamicsAuthService-ServiceApiKeys-OLD');
      expect(env.KMS_KEY_ID).toBe(KEY);
    }
    const proxy = JSON.stringify(roleStatements(existingTemplate, roleOf(existingTemplate, fns.proxy)));
    expect(proxy).toContain(':table/DynamicsAuthService-ServiceSessions-OLD"');
    expect(proxy).toContain(':table/DynamicsAuthService-ServiceApiKeys-OLD"');
    const kms = roleStatements(existingTemplate, roleOf(existingTemplate, fns.proxy)).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('kms:')),
    );
    expect(kms.map((s) => s.Resource)).toEqual([KEY]);
  });

  it('outputs the key-policy statements the existing key needs: one per key-using role, its own operations', () => {
    const value = existingTemplate.toJSON().Outputs.TokenKeyPolicyStatements.Value;
    const text = JSON.stringify(value);
    const fns = functionsByName(existingTemplate);
    for (const name of ['callback', 'refresh', 'proxy', 'connections', 'environments', 'logout'] as const) {
      expect(text).toContain(roleOf(existingTemplate, fns[name]));
    }
    for (const name of ['login', 'session', 'openapi'] as const) {
      expect(text).not.toContain(roleOf(existingTemplate, fns[name]));
    }
    expect(text).toContain('kms:EncryptionContext:purpose');
    expect(existing.service.keyPolicyStatements).toHaveLength(6);
  });

  it('is cdk-nag clean', () => {
    expect(nagFindings(existing)).toEqual([]);
  });

  it.each<[SettingName, string]>([
    ['existingSessionsTableName', 'a'],
    ['existingApiKeysTableName', 'has space'],
    ['existingKeyArn', 'alias/dynamics-auth'],
    ['existingKeyArn', 'arn:aws:kms:eu-west-1:123456789012:alias/x'],
  ])('rejects %s=%j with an error naming it', (name, value) => {
    expect(() => readSettings((n) => (n === name ? value : undefined))).toThrow(
      new RegExp(`^Invalid setting "${name}"`),
    );
  });
});
