/**
 * Cold start: bundles every function with exactly the settings the CDK construct uses
 * (`esbuildBuildOptions` from infra/bundling.ts), then measures module initialisation in fresh
 * `node` processes, interleaved with a baseline bundle (one DynamoDB client).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { esbuildBuildOptions } from '../infra/bundling.ts';
import type { FunctionName } from '../shared/http/routes.ts';
import { median, round } from './stats.ts';

const run = promisify(execFile);

export const FUNCTIONS: readonly FunctionName[] = ['login', 'callback', 'refresh', 'proxy', 'session', 'logout'];
export const BASELINE_ENTRY = 'bench/cold-start-baseline.ts';

export interface BundleInit {
  entry: string;
  bytes: number;
  kb: number;
  initMs: { median: number; min: number; max: number; samples: number[] };
}

export interface ColdStartResult {
  /** Node.js that ran the bundles (Lambda runs nodejs22.x or newer; see infra/bundling.ts). */
  node: string;
  /** Measured rounds (each: one fresh process per bundle, order rotated); a warm-up round is discarded. */
  rounds: number;
  baseline: BundleInit;
  functions: Record<string, BundleInit & { ratio: number }>;
  /** The proxy bundle's largest contributors (esbuild metafile, bytes in the minified output). */
  proxyTopInputs: { input: string; bytesInOutput: number }[];
  /** The same, summed per npm package (or `(repo)` for the project's own files). */
  proxyTopPackages: { package: string; bytesInOutput: number }[];
  /** True when a second build with `metafile: true` produced byte-identical output (so the metafile describes the measured bundle). */
  metafileMatchesBundle: boolean;
}

const INIT_SCRIPT =
  'const t = performance.now(); const m = await import(process.argv[1]); const ms = performance.now() - t;' +
  "if (typeof m.handler !== 'function' && !('client' in m)) throw new Error('no export');" +
  'process.stdout.write(String(ms));';

/** The environment of a fresh Lambda-like process: no NODE_OPTIONS, no loaders, quiet logs. */
function initEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_REGION: 'eu-west-1',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

async function initOnce(file: string): Promise<number> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', INIT_SCRIPT, pathToFileURL(file).href], {
    env: initEnv(),
    timeout: 30_000,
  });
  const ms = Number(stdout.trim());
  if (!Number.isFinite(ms)) throw new Error(`init of ${file} printed ${JSON.stringify(stdout)}`);
  return ms;
}

function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at === -1) return '(repo)';
  const rest = input.slice(at + 'node_modules/'.length).split('/');
  return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
}

export async function measureColdStart(projectRoot: string, rounds = 12): Promise<ColdStartResult> {
  const dir = await mkdtemp(join(tmpdir(), 'dyn-bench-bundles-'));
  try {
    const targets: { name: string; entry: string; file: string }[] = [
      { name: 'baseline', entry: BASELINE_ENTRY, file: '' },
      ...FUNCTIONS.map((name) => ({ name, entry: `functions/${name}/handler.ts`, file: '' })),
    ];
    for (const t of targets) {
      const outdir = join(dir, t.name);
      await esbuild.build(esbuildBuildOptions(t.entry, outdir, projectRoot));
      t.file = join(outdir, 'index.mjs');
    }

    // The metafile comes from a second build of the proxy with `metafile: true` (an analysis-only
    // option); it is checked to be byte-identical to the measured bundle.
    const metaDir = join(dir, 'proxy-meta');
    const meta = await esbuild.build({ ...esbuildBuildOptions('functions/proxy/handler.ts', metaDir, projectRoot), metafile: true });
    const proxyFile = targets.find((t) => t.name === 'proxy')!.file;
    const [a, b] = await Promise.all([readFile(proxyFile), readFile(join(metaDir, 'index.mjs'))]);
    const metafileMatchesBundle = a.equals(b);
    const output = Object.entries(meta.metafile!.outputs).find(([path]) => path.endsWith('index.mjs'))![1];
    const inputs = Object.entries(output.inputs)
      .map(([input, v]) => ({ input, bytesInOutput: v.bytesInOutput }))
      .sort((x, y) => y.bytesInOutput - x.bytesInOutput);
    const byPackage = new Map<string, number>();
    for (const i of inputs) byPackage.set(packageOf(i.input), (byPackage.get(packageOf(i.input)) ?? 0) + i.bytesInOutput);

    // Interleaved: every round starts one fresh process per bundle, in a rotated order.
    const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r <= rounds; r++) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + r) % targets.length]!;
        const ms = await initOnce(t.file);
        if (r > 0) samples.get(t.name)!.push(ms); // round 0 warms the file cache and is discarded
      }
    }

    const describe = async (t: (typeof targets)[number]): Promise<BundleInit> => {
      const bytes = (await stat(t.file)).size;
      const s = samples.get(t.name)!;
      return {
        entry: t.entry,
        bytes,
        kb: round(bytes / 1024, 1),
        initMs: { median: round(median(s), 2), min: round(Math.min(...s), 2), max: round(Math.max(...s), 2), samples: s.map((v) => round(v, 2)) },
      };
    };
    const baseline = await describe(targets[0]!);
    const functions: ColdStartResult['functions'] = {};
    for (const t of targets.slice(1)) {
      const d = await describe(t);
      functions[t.name] = { ...d, ratio: round(d.initMs.median / baseline.initMs.median, 2) };
    }
    return {
      node: process.version,
      rounds,
      baseline,
      functions,
      proxyTopInputs: inputs.slice(0, 10),
      proxyTopPackages: [...byPackage]
        .map(([pkg, bytesInOutput]) => ({ package: pkg, bytesInOutput }))
        .sort((x, y) => y.bytesInOutput - x.bytesInOutput)
        .slice(0, 10),
      metafileMatchesBundle,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
