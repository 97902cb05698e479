/** The real CLI path: `npx cdk synth --quiet` on a fresh clone (no context, no AWS account, offline). */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './support.ts';

function cdk(args: string[]) {
  const outdir = mkdtempSync(path.join(tmpdir(), 'dynamics-auth-cdk-out-'));
  const result = spawnSync('npx', ['cdk', ...args, '--no-notices', '--output', outdir], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    env: {
      ...process.env,
      // No account, no credentials, no network: synth must not need any of them.
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: '',
      AWS_REGION: 'eu-west-1',
      CDK_DISABLE_CLI_TELEMETRY: 'true',
    },
  });
  return { ...result, outdir };
}

describe('npx cdk synth', () => {
  it('synthesizes with no context at all (placeholders), cdk-nag clean', { timeout: 180_000 }, () => {
    const r = cdk(['synth', '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    const templatePath = path.join(r.outdir, 'DynamicsAuthService.template.json');
    expect(existsSync(templatePath)).toBe(true);
    const template = JSON.parse(readFileSync(templatePath, 'utf8'));
    expect(Object.keys(template.Outputs)).toEqual(expect.arrayContaining(['ApiUrl', 'RedirectUri']));
    expect(r.stderr).not.toMatch(/AwsSolutions-/);
    // The placeholders are called out.
    expect(r.stderr).toMatch(/"clientId" is still the placeholder/);
    expect(r.stderr).toMatch(/"allowedReturnUrls" is still the placeholder \(http:\/\/localhost:5173 would be trusted/);
    // No publicBaseUrl: browser apps on another site never send the SameSite=Lax session cookie.
    expect(r.stderr).toMatch(/Browser apps send the session cookie only to a service on their own site/);
  });

  it('fails with a message naming a bad setting', { timeout: 120_000 }, () => {
    const r = cdk(['synth', '--quiet', '-c', 'throttleRate=fast']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Invalid setting "throttleRate"/);
  });
});
