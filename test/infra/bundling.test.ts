/**
 * Reproducible assets: a function's bundle (and so its asset hash) does not depend on where it is
 * built, so `cdk synth -o other/dir`, another CI layout or the construct used from node_modules does
 * not redeploy every function. And the cold-start benchmark runs bundles the way Lambda does.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Architecture, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { coldStartEnv } from '../../bench/cold-start.ts';
import { bundleHandler, lambdaCode } from '../../infra/bundling.ts';
import { DynamicsAuthService, LAMBDA_RUNTIME } from '../../infra/construct.ts';
import { NO_BUNDLING, PROJECT_ROOT, resourcesOf } from './support.ts';

const ENTRY = 'functions/proxy/handler.ts'; // code splitting: chunk names carry content hashes

/** Synthesizes one function's asset into `outdir`; returns its asset hash and directory. */
function synthAsset(outdir: string): { hash: string; dir: string } {
  const app = new App({ outdir });
  const stack = new Stack(app, 'Asset');
  new LambdaFunction(stack, 'Fn', {
    code: lambdaCode(ENTRY, PROJECT_ROOT),
    handler: 'index.handler',
    runtime: LAMBDA_RUNTIME,
    architecture: Architecture.ARM_64,
  });
  const assembly = app.synth();
  const fn = Object.values(resourcesOf(Template.fromStack(stack), 'AWS::Lambda::Function'))[0]!;
  const hash = (fn.Properties.Code.S3Key as string).replace(/\.zip$/, '');
  return { hash, dir: path.join(assembly.directory, `asset.${hash}`) };
}

/** Every file under `dir`, relative path → content. */
function files(dir: string): Map<string, string> {
  const names = readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
  return new Map(
    names.filter((n) => n.includes('.')).map((n) => [n, readFileSync(path.join(dir, n), 'utf8')] as const),
  );
}

describe('reproducible bundles', () => {
  it(
    'asset hashes are the same whatever the cloud assembly directory (cdk synth -o elsewhere)',
    { timeout: 120_000 },
    () => {
      const root = mkdtempSync(path.join(tmpdir(), 'dynamics-auth-assets-'));
      const deep = path.join(root, 'ci', 'workspace', 'build', 'out');
      mkdirSync(deep, { recursive: true });
      const near = synthAsset(path.join(root, 'cdk.out'));
      const far = synthAsset(deep);
      expect(far.hash).toBe(near.hash);
      expect(files(far.dir)).toEqual(files(near.dir));
    },
  );

  it(
    'bundleHandler writes byte-identical files into any directory; source maps name project paths',
    { timeout: 120_000 },
    async () => {
      const root = mkdtempSync(path.join(tmpdir(), 'dynamics-auth-bundle-'));
      const a = path.join(root, 'a');
      const b = path.join(root, 'x', 'y', 'z', 'b');
      await bundleHandler(ENTRY, a, PROJECT_ROOT);
      await bundleHandler(ENTRY, b, PROJECT_ROOT);
      const left = files(a);
      expect([...left.keys()]).toEqual(expect.arrayContaining(['index.mjs', 'index.mjs.map']));
      expect(files(b)).toEqual(left);
      const map = JSON.parse(left.get('index.mjs.map')!) as { sources: string[] };
      // The project's own files relative to the project root, never to wherever the bundle was written
      // (dependencies may resolve outside it: a hoisted or symlinked node_modules).
      expect(map.sources).toContain('functions/proxy/handler.ts');
      const own = map.sources.filter((source) => !source.includes('node_modules/'));
      expect(own.length).toBeGreaterThan(10);
      for (const source of own) expect(source, source).toMatch(/^(functions|shared)\//);
    },
  );
});

describe('cold-start benchmark', () => {
  it('runs the bundles with the NODE_OPTIONS the functions get in Lambda', () => {
    const stack = new Stack(new App({ context: NO_BUNDLING }), 'NodeOptions');
    new DynamicsAuthService(stack, 'Service', {
      clientId: '11111111-2222-3333-4444-555555555555',
      dynamicsUrl: 'https://org.crm.dynamics.com',
      allowedReturnUrls: ['https://app.example.com'],
    });
    const options = new Set(
      Object.values(resourcesOf(Template.fromStack(stack), 'AWS::Lambda::Function')).map(
        (fn) => fn.Properties.Environment.Variables.NODE_OPTIONS,
      ),
    );
    expect([...options]).toEqual(['--enable-source-maps']);
    expect(coldStartEnv().NODE_OPTIONS).toBe('--enable-source-maps');
  });
});
