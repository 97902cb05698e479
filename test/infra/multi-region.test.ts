/**
 * Multi-Region mode: one stack per Region, MRSC global tables (replicas, witness), a KMS
 * multi-Region key with replica keys, per-Region health checks and latency records; cdk-nag clean.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  addMultiRegionStacks,
  multiRegionPlan,
  readMultiRegionPlan,
  type MultiRegionPlan,
} from '../../infra/multi-region.ts';
import { readSettings } from '../../infra/settings.ts';
import { nagFindings, newApp, NO_BUNDLING, resourcesOf } from './support.ts';

const ZONE = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' };

function deploy(plan: MultiRegionPlan, extra: Record<string, string> = {}) {
  const app = newApp(NO_BUNDLING);
  // With a hosted zone each Region validates its own certificate; the settings still ask for certificateArn.
  const context: Record<string, string> = {
    domainName: 'auth.example.com',
    certificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-4000-8000-000000000000',
    ...extra,
  };
  const settings = readSettings((name) => context[name]);
  const deployment = addMultiRegionStacks(app, settings.stackName, plan, settings.serviceProps, {
    account: '111122223333',
  });
  return { app, ...deployment, templates: deployment.stacks.map((s) => Template.fromStack(s)) };
}

describe('multi-Region deployment', () => {
  it(
    'three Regions: one stack each, MRSC global tables in the primary with replicas in the other two',
    { timeout: 120_000 },
    () => {
      const { stacks, templates } = deploy(multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, ZONE));
      expect(stacks.map((s) => s.region)).toEqual(['us-east-1', 'us-east-2', 'us-west-2']);
      const [primary, ...others] = templates;
      const tables = Object.values(resourcesOf(primary!, 'AWS::DynamoDB::GlobalTable'));
      expect(tables.map((t) => t.Properties.TableName).sort()).toEqual([
        'DynamicsAuthService-ApiKeys',
        'DynamicsAuthService-PendingLogins',
        'DynamicsAuthService-Sessions',
      ]);
      for (const table of tables) {
        expect(table.Properties.MultiRegionConsistency).toBe('STRONG');
        expect(table.Properties.Replicas.map((r: { Region: string }) => r.Region).sort()).toEqual([
          'us-east-1',
          'us-east-2',
          'us-west-2',
        ]);
        expect(table.Properties.GlobalTableWitnesses).toBeUndefined();
        // MRSC global tables do not support TTL (AWS docs); the sweeper deletes expired rows instead.
        expect(table.Properties.TimeToLiveSpecification).toBeUndefined();
      }
      for (const t of others) expect(Object.keys(resourcesOf(t, 'AWS::DynamoDB::GlobalTable'))).toHaveLength(0);
      // Every Region's functions name the same table names (their Region's replica).
      for (const t of templates) {
        const envs = Object.values(resourcesOf(t, 'AWS::Lambda::Function')).map(
          (f) => f.Properties.Environment?.Variables ?? {},
        );
        expect(
          envs.filter((e) => e.SESSIONS_TABLE).every((e) => e.SESSIONS_TABLE === 'DynamicsAuthService-Sessions'),
        ).toBe(true);
        expect(envs.some((e) => e.PENDING_LOGINS_TABLE === 'DynamicsAuthService-PendingLogins')).toBe(true);
      }
    },
  );

  it('a scheduled sweeper in the primary Region only deletes expired rows of the three global tables', () => {
    const { templates } = deploy(multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, ZONE));
    const [primary, ...others] = templates;
    const rules = Object.values(resourcesOf(primary!, 'AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties).toMatchObject({ ScheduleExpression: 'rate(6 hours)', State: 'ENABLED' });
    const sweepers = Object.entries(resourcesOf(primary!, 'AWS::Lambda::Function')).filter(([id]) =>
      id.includes('ExpiredRowSweeper'),
    );
    expect(sweepers).toHaveLength(1);
    const [sweeperId, sweeper] = sweepers[0]!;
    expect(JSON.stringify(rules[0]!.Properties.Targets)).toContain(sweeperId);
    expect(sweeper.Properties).toMatchObject({ Timeout: 300, ReservedConcurrentExecutions: 1 });
    const tableIds = Object.keys(resourcesOf(primary!, 'AWS::DynamoDB::GlobalTable'));
    const env = sweeper.Properties.Environment.Variables;
    expect(env).toEqual({
      PENDING_LOGINS_TABLE: 'DynamicsAuthService-PendingLogins',
      SESSIONS_TABLE: 'DynamicsAuthService-Sessions',
      API_KEYS_TABLE: 'DynamicsAuthService-ApiKeys',
    });
    // Scan and DeleteItem on exactly the three tables, nothing else on DynamoDB.
    const policies = Object.entries(resourcesOf(primary!, 'AWS::IAM::Policy')).filter(([id]) =>
      id.includes('ExpiredRowSweeper'),
    );
    expect(policies).toHaveLength(1);
    const statements = policies[0]![1].Properties.PolicyDocument.Statement as {
      Sid?: string;
      Action: string[] | string;
      Resource: unknown;
    }[];
    const sweep = statements.find((st) => st.Sid === 'SweepExpiredRows')!;
    expect([sweep.Action].flat().sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:Scan']);
    expect(
      (sweep.Resource as unknown[]).map((r) => tableIds.find((id) => JSON.stringify(r).includes(id))).sort(),
    ).toEqual([...tableIds].sort());
    expect(
      statements
        .flatMap((st) => [st.Action].flat())
        .filter((a) => a.startsWith('dynamodb:'))
        .sort(),
    ).toEqual(['dynamodb:DeleteItem', 'dynamodb:Scan']);
    for (const t of others) {
      expect(Object.keys(resourcesOf(t, 'AWS::Events::Rule'))).toHaveLength(0);
      expect(
        Object.keys(resourcesOf(t, 'AWS::Lambda::Function')).filter((id) => id.includes('ExpiredRowSweeper')),
      ).toHaveLength(0);
    }
  });

  it('two Regions and a witness: one replica and the witness', () => {
    const { templates } = deploy(multiRegionPlan(['eu-west-1', 'eu-central-1'], 'eu-west-2', ZONE));
    expect(templates).toHaveLength(2);
    for (const table of Object.values(resourcesOf(templates[0]!, 'AWS::DynamoDB::GlobalTable'))) {
      expect(table.Properties.Replicas.map((r: { Region: string }) => r.Region).sort()).toEqual([
        'eu-central-1',
        'eu-west-1',
      ]);
      expect(table.Properties.GlobalTableWitnesses).toEqual([{ Region: 'eu-west-2' }]);
    }
  });

  it('a multi-Region primary key in the primary Region and a replica key of it in each other Region', () => {
    const { templates } = deploy(multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, ZONE));
    const [primary, ...others] = templates;
    const keys = Object.values(resourcesOf(primary!, 'AWS::KMS::Key'));
    expect(keys).toHaveLength(1);
    expect(keys[0]!.Properties.MultiRegion).toBe(true);
    for (const t of others) {
      expect(Object.keys(resourcesOf(t, 'AWS::KMS::Key'))).toHaveLength(0);
      const replicas = Object.values(resourcesOf(t, 'AWS::KMS::ReplicaKey'));
      expect(replicas).toHaveLength(1);
      expect(replicas[0]!.DeletionPolicy).toBe('Retain');
      const statements = replicas[0]!.Properties.KeyPolicy.Statement as { Sid: string; Effect: string }[];
      expect(statements.map((s) => s.Sid)).toEqual(
        expect.arrayContaining(['KeyAdministration', 'DenyGrants', 'SessionTokenEnvelopeForRefresh']),
      );
      // The functions use this Region's replica, not the primary's ARN.
      const keyIds = Object.values(resourcesOf(t, 'AWS::Lambda::Function'))
        .map((f) => f.Properties.Environment?.Variables?.KMS_KEY_ID)
        .filter(Boolean);
      expect(keyIds.length).toBeGreaterThan(0);
      for (const id of keyIds) expect(JSON.stringify(id)).toMatch(/TokenKeyReplica/);
    }
  });

  it('each Region: a health check on its own name and a latency record for the service name', () => {
    const { stacks, templates } = deploy(multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, ZONE));
    templates.forEach((t, i) => {
      const region = stacks[i]!.region;
      t.hasResourceProperties('AWS::Route53::HealthCheck', {
        HealthCheckConfig: {
          Type: 'HTTPS',
          FullyQualifiedDomainName: `${region}.auth.example.com`,
          ResourcePath: '/openapi.json',
          FailureThreshold: 3,
        },
      });
      const records = Object.values(resourcesOf(t, 'AWS::Route53::RecordSet'));
      const latency = records.find((r) => r.Properties.Region);
      expect(latency!.Properties).toMatchObject({
        Name: 'auth.example.com.',
        Region: region,
        SetIdentifier: region,
        Type: 'A',
      });
      expect(latency!.Properties.HealthCheckId).toBeDefined();
      t.hasResourceProperties('AWS::CertificateManager::Certificate', {
        DomainName: 'auth.example.com',
        SubjectAlternativeNames: [`${region}.auth.example.com`],
      });
      expect(Object.keys(resourcesOf(t, 'AWS::ApiGatewayV2::DomainName'))).toHaveLength(2);
    });
  });

  it('is cdk-nag clean in every Region', () => {
    const { stacks } = deploy(multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, ZONE));
    for (const stack of stacks) expect(nagFindings(stack), stack.region).toEqual([]);
  });

  it("the client secret is named, so each Region reads its replica; one Region's ARN or an existing certificate key is refused", () => {
    const plan = multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, ZONE);
    const { templates } = deploy(plan, { clientSecretName: 'dynamics-auth/client-secret' });
    for (const t of templates) {
      expect(JSON.stringify(resourcesOf(t, 'AWS::IAM::Policy'))).toContain('secret:dynamics-auth/client-secret-??????');
    }
    expect(() =>
      deploy(plan, {
        clientSecretName: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:dynamics-auth/client-secret-AbCdEf',
      }),
    ).toThrow(/not one Region's ARN/);
    expect(() =>
      deploy(plan, {
        clientCertificateKey: 'arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef',
      }),
    ).toThrow(/an existing KMS key ARN names one Region; use clientCertificateKey=create/);
  });

  it(
    'a certificate credential: a multi-Region RSA signing key in the primary and a replica with the same policy rules in each other Region',
    { timeout: 120_000 },
    () => {
      const thumbprint = 'u6Wz0Qx4m3bqkJZ9p2Yv8sT1rN5cLdEaFgHiJkLmNoP';
      const { templates } = deploy(multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, ZONE), {
        clientCertificateKey: 'create',
        clientCertificateThumbprint: thumbprint,
      });
      const [primary, ...others] = templates;
      const signingKeys = Object.entries(resourcesOf(primary!, 'AWS::KMS::Key')).filter(
        ([, k]) => k.Properties.KeyUsage === 'SIGN_VERIFY',
      );
      expect(signingKeys).toHaveLength(1);
      const [primaryKeyId, primaryKey] = signingKeys[0]!;
      expect(primaryKey.Properties).toMatchObject({ KeySpec: 'RSA_3072', MultiRegion: true });
      const rules = (policy: { Statement: { Sid: string; Effect: string; Action: unknown; Principal: unknown }[] }) =>
        policy.Statement.map(({ Sid, Effect, Action, Principal }) => ({ Sid, Effect, Action, Principal }));
      const envs = (t: (typeof templates)[number]) =>
        Object.values(resourcesOf(t, 'AWS::Lambda::Function'))
          .map((f) => f.Properties.Environment?.Variables ?? {})
          .filter((e) => e.CLIENT_ASSERTION_KEY_ID);
      expect(JSON.stringify(envs(primary!).map((e) => e.CLIENT_ASSERTION_KEY_ID))).toContain(primaryKeyId);
      for (const t of others) {
        const replicas = Object.values(resourcesOf(t, 'AWS::KMS::ReplicaKey')).filter((r) =>
          /client-assertion/.test(r.Properties.Description),
        );
        expect(replicas).toHaveLength(1);
        expect(replicas[0]!.DeletionPolicy).toBe('Retain');
        // The replica of the primary's signing key (a cross-Region reference), with the same key policy rules.
        const reference = replicas[0]!.Properties.PrimaryKeyArn['Fn::GetStackOutput'];
        expect(reference.Region).toBe('us-east-1');
        expect(primary!.toJSON().Outputs[reference.OutputName].Value).toEqual({ 'Fn::GetAtt': [primaryKeyId, 'Arn'] });
        expect(rules(replicas[0]!.Properties.KeyPolicy)).toEqual(rules(primaryKey.Properties.KeyPolicy));
        // This Region's functions sign with this Region's replica, and present the one certificate.
        const env = envs(t);
        expect(env.length).toBeGreaterThan(0);
        for (const e of env) {
          expect(JSON.stringify(e.CLIENT_ASSERTION_KEY_ID)).toMatch(/ClientAssertionKeyReplica/);
          expect(e.CLIENT_CERTIFICATE_THUMBPRINT_S256).toBe(thumbprint);
        }
        expect(
          Object.values(resourcesOf(t, 'AWS::KMS::Key')).filter((k) => k.Properties.KeyUsage === 'SIGN_VERIFY'),
        ).toHaveLength(0);
        // Sign (PSS only) on this Region's replica.
        const signs = Object.values(resourcesOf(t, 'AWS::IAM::Policy')).flatMap((p) =>
          (p.Properties.PolicyDocument.Statement as { Sid?: string; Resource: unknown; Condition: unknown }[]).filter(
            (st) => st.Sid === 'SignClientAssertions',
          ),
        );
        expect(signs.length).toBeGreaterThan(0);
        for (const st of signs) {
          expect(JSON.stringify(st.Resource)).toMatch(/ClientAssertionKeyReplica/);
          expect(st.Condition).toEqual({ StringEquals: { 'kms:SigningAlgorithm': 'RSASSA_PSS_SHA_256' } });
        }
      }
      for (const t of templates)
        expect(envs(t).every((e) => e.CLIENT_CERTIFICATE_THUMBPRINT_S256 === thumbprint)).toBe(true);
    },
  );

  it('is cdk-nag clean in every Region with a certificate credential', { timeout: 120_000 }, () => {
    const { stacks } = deploy(multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2'], undefined, ZONE), {
      clientCertificateKey: 'create',
    });
    for (const stack of stacks) expect(nagFindings(stack), stack.region).toEqual([]);
  });

  it('refuses a custom domain without the hosted zone (a certificate ARN names one Region)', () => {
    expect(() => deploy(multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2']))).toThrow(
      /needs hostedZoneId and hostedZoneName/,
    );
  });

  it("refuses Region plans MRSC doesn't support", () => {
    expect(() => multiRegionPlan(['us-east-1', 'us-west-2'])).toThrow(
      /three regions, or two regions and a witnessRegion/,
    );
    expect(() => multiRegionPlan(['us-east-1', 'us-east-2', 'us-west-2', 'eu-west-1'])).toThrow(/three regions/);
    expect(() => multiRegionPlan(['us-east-1', 'eu-west-1', 'us-west-2'])).toThrow(/not in one Region set/);
    expect(() => multiRegionPlan(['us-east-1', 'us-east-2'], 'us-east-1')).toThrow(/must all differ/);
    expect(readMultiRegionPlan(() => undefined)).toBeUndefined();
    expect(
      readMultiRegionPlan((n) => ({ regions: 'us-east-1, us-east-2', witnessRegion: 'us-west-2' })[n as 'regions']),
    ).toEqual({
      regions: ['us-east-1', 'us-east-2'],
      witnessRegion: 'us-west-2',
    });
  });
});
