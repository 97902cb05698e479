/** `npx cdk synth` of the multi-Region mode: offline, no account, one template per Region, cdk-nag clean. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './support.ts';

describe('npx cdk synth -c regions=...', () => {
  it('synthesizes one stack per Region offline, cdk-nag clean', { timeout: 240_000 }, () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'dynamics-auth-cdk-out-'));
    const context = {
      regions: 'us-east-1,us-east-2',
      witnessRegion: 'us-west-2',
      domainName: 'auth.example.com',
      certificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-4000-8000-000000000000',
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
    };
    const r = spawnSync(
      'npx',
      [
        'cdk',
        'synth',
        '--quiet',
        '--no-notices',
        '--output',
        outdir,
        ...Object.entries(context).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
      ],
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        timeout: 220_000,
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: '',
          AWS_SECRET_ACCESS_KEY: '',
          AWS_PROFILE: '',
          AWS_REGION: 'eu-west-1',
          CDK_DISABLE_CLI_TELEMETRY: 'true',
        },
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/AwsSolutions-/);
    const template = (region: string) =>
      JSON.parse(readFileSync(path.join(outdir, `DynamicsAuthService-${region}.template.json`), 'utf8')) as {
        Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      };
    const types = (region: string) => Object.values(template(region).Resources).map((r) => r.Type);
    expect(types('us-east-1')).toEqual(
      expect.arrayContaining(['AWS::DynamoDB::GlobalTable', 'AWS::KMS::Key', 'AWS::Route53::HealthCheck']),
    );
    expect(types('us-east-2')).toEqual(expect.arrayContaining(['AWS::KMS::ReplicaKey', 'AWS::Route53::HealthCheck']));
    expect(types('us-east-2')).not.toContain('AWS::DynamoDB::GlobalTable');
    const witnesses = Object.values(template('us-east-1').Resources)
      .filter((r) => r.Type === 'AWS::DynamoDB::GlobalTable')
      .map((r) => r.Properties.GlobalTableWitnesses);
    expect(witnesses).toEqual(Array(3).fill([{ Region: 'us-west-2' }]));
  });

  it('refuses a Region plan multi-Region strong consistency does not support', { timeout: 120_000 }, () => {
    const r = spawnSync(
      'npx',
      ['cdk', 'synth', '--quiet', '--no-notices', '-c', 'regions=us-east-1,eu-west-1,us-west-2'],
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        timeout: 100_000,
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: '',
          AWS_SECRET_ACCESS_KEY: '',
          AWS_PROFILE: '',
          AWS_REGION: 'eu-west-1',
          CDK_DISABLE_CLI_TELEMETRY: 'true',
        },
      },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not in one Region set that supports multi-Region strong consistency/);
  });
});
