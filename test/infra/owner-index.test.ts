/**
 * The Sessions table's ByTenant index (revocation by tenant and user): keys only, on the table
 * (single-Region) and on the global table (multi-Region), and on no other table.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DynamicsAuthService } from '../../infra/construct.ts';
import { addMultiRegionStacks, multiRegionPlan } from '../../infra/multi-region.ts';
import { readSettings } from '../../infra/settings.ts';
import { SESSIONS_BY_TENANT_INDEX } from '../../shared/stores/tables.ts';
import { type Json, nagFindings, newApp, NO_BUNDLING, resourcesOf } from './support.ts';

const BASE = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://org.crm.dynamics.com',
  allowedReturnUrls: ['https://app.example.com'],
  publicBaseUrl: 'https://auth.example.com',
};

const EXPECTED_INDEX = {
  IndexName: SESSIONS_BY_TENANT_INDEX.indexName,
  KeySchema: [
    { AttributeName: 'tenantKey', KeyType: 'HASH' },
    { AttributeName: 'oid', KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: 'KEYS_ONLY' },
};

/** Each table's logical ID and its indexes. */
function indexesByTable(template: Template, type: string): Record<string, Json[]> {
  return Object.fromEntries(
    Object.entries(resourcesOf(template, type)).map(([id, r]) => [
      id,
      (r.Properties?.GlobalSecondaryIndexes ?? []) as Json[],
    ]),
  );
}

describe('the revocation index', () => {
  // Synthesizing a whole stack takes tens of seconds on a busy machine.
  it('is one keys-only index on the Sessions table only, keyed by tenant then user', { timeout: 120_000 }, () => {
    const stack = new Stack(newApp(NO_BUNDLING), 'Indexed');
    new DynamicsAuthService(stack, 'Service', BASE);
    const template = Template.fromStack(stack);
    const tables = indexesByTable(template, 'AWS::DynamoDB::Table');
    const sessions = Object.keys(tables).filter((id) => id.includes('Sessions'));
    expect(sessions).toHaveLength(1);
    for (const [id, indexes] of Object.entries(tables)) {
      expect(indexes, id).toEqual(id === sessions[0] ? [EXPECTED_INDEX] : []);
    }
    expect(resourcesOf(template, 'AWS::DynamoDB::Table')[sessions[0]!]!.Properties!.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'tenantKey', AttributeType: 'S' },
        { AttributeName: 'oid', AttributeType: 'S' },
      ]),
    );
    expect(nagFindings(stack)).toEqual([]);
  });

  it('is on the Sessions global table in multi-Region mode (every replica has it)', { timeout: 120_000 }, () => {
    const app = newApp(NO_BUNDLING);
    const context: Record<string, string> = {
      domainName: 'auth.example.com',
      certificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-4000-8000-000000000000',
    };
    const settings = readSettings((name) => context[name]);
    const plan = multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, {
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      zoneName: 'example.com',
    });
    const { stacks } = addMultiRegionStacks(app, settings.stackName, plan, settings.serviceProps, {
      account: '111122223333',
    });
    const global = indexesByTable(Template.fromStack(stacks[0]!), 'AWS::DynamoDB::GlobalTable');
    const sessions = Object.keys(global).filter((id) => id.includes('Sessions'));
    expect(sessions).toHaveLength(1);
    for (const [id, indexes] of Object.entries(global)) {
      expect(indexes, id).toEqual(id === sessions[0] ? [EXPECTED_INDEX] : []);
    }
  });
});
