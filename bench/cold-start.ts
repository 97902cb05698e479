/**
 * Cold start: bundles every function with exactly the settings the CDK construct uses
 * (`bundleHandler` from infra/bundling.ts), then measures module initialisation in fresh
 * `node` processes, interleaved with a baseline bundle (one DynamoDB client).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { bundleHandler, LAMBDA_NODE_OPTIONS } from '../infra/bundling.ts';
import { FUNCTIONS as ROUTE_FUNCTIONS, type FunctionName } from '../shared/http/routes.ts';
import { median, round } from './stats.ts';

const run = promisify(execFile);

export const FUNCTIONS: readonly FunctionName[] = ROUTE_FUNCTIONS.map((f) => f.name);
export const BASELINE_ENTRY = 'bench/cold-start-baseline.ts';

export interface BundleInit {
  entry: string;
  /** Bytes loaded at cold start: index.mjs and every chunk it imports statically (transitively). */
  bytes: number;
  kb: number;
  /** index.mjs alone. */
  entryBytes: number;
  /** Every output file, lazily loaded chunks included. */
  totalBytes: number;
  initMs: { median: number; min: number; max: number; samples: number[] };
}

export interface ColdStartResult {
  /** Node.js that ran the bundles (Lambda runs nodejs24.x; see infra/construct.ts). */
  node: string;
  /** Measured rounds (each: one fresh process per bundle, order rotated); a warm-up round is discarded. */
  rounds: number;
  baseline: BundleInit;
  functions: Record<string, BundleInit & { ratio: number }>;
  /** The proxy bundle's largest contributors (esbuild metafile, bytes in the minified output). */
  proxyTopInputs: { input: string; bytesInOutput: number }[];
  /** The same, summed per npm package (or `(repo)` for the project's own files). */
  proxyTopPackages: { package: string; bytesInOutput: number }[];
}

const INIT_SCRIPT =
  'const t = performance.now(); const m = await import(process.argv[1]); const ms = performance.now() - t;' +
  "if (typeof m.handler !== 'function' && !('client' in m)) throw new Error('no export');" +
  'process.stdout.write(String(ms));';

/**
 * The environment of a fresh Lambda-like process: the NODE_OPTIONS the construct gives the
 * functions (source-mapped stack traces cost start-up time too), no loaders, quiet logs.
 */
export function coldStartEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_OPTIONS: LAMBDA_NODE_OPTIONS,
    AWS_REGION: 'eu-west-1',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

async function initOnce(file: string): Promise<number> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', INIT_SCRIPT, pathToFileURL(file).href], {
    env: coldStartEnv(),
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
    const targets: {
      name: string;
      entry: string;
      file: string;
      sizes: { loaded: number; entry: number; total: number };
    }[] = [
      { name: 'baseline', entry: BASELINE_ENTRY, file: '', sizes: { loaded: 0, entry: 0, total: 0 } },
      ...FUNCTIONS.map((name) => ({
        name,
        entry: `functions/${name}/handler.ts`,
        file: '',
        sizes: { loaded: 0, entry: 0, total: 0 },
      })),
    ];
    let proxyInputs: { input: string; bytesInOutput: number }[] = [];
    for (const t of targets) {
      const outdir = join(dir, t.name);
      // `metafile` only adds analysis; the files written are those of the construct's build.
      const result = await bundleHandler(t.entry, outdir, projectRoot, { metafile: true });
      t.file = join(outdir, 'index.mjs');
      const outputs = Object.entries(result.metafile!.outputs).filter(([path]) => path.endsWith('.mjs'));
      const byPath = new Map(outputs);
      // Metafile paths are relative to the project root, where esbuild is told it writes.
      const entryPath = outputs.find(([path]) => path === 'index.mjs' || path.endsWith('/index.mjs'))![0];
      // What a cold start loads: the entry and, transitively, its static imports (not `import()`).
      const loaded = new Set<string>();
      const visit = (path: string) => {
        if (loaded.has(path)) return;
        loaded.add(path);
        for (const imp of byPath.get(path)?.imports ?? [])
          if (imp.kind === 'import-statement' && byPath.has(imp.path)) visit(imp.path);
      };
      visit(entryPath);
      t.sizes = {
        loaded: [...loaded].reduce((sum, path) => sum + byPath.get(path)!.bytes, 0),
        entry: byPath.get(entryPath)!.bytes,
        total: outputs.reduce((sum, [, o]) => sum + o.bytes, 0),
      };
      if (t.name === 'proxy') {
        const perInput = new Map<string, number>();
        for (const path of loaded) {
          for (const [input, v] of Object.entries(byPath.get(path)!.inputs))
            perInput.set(input, (perInput.get(input) ?? 0) + v.bytesInOutput);
        }
        proxyInputs = [...perInput]
          .map(([input, bytesInOutput]) => ({ input, bytesInOutput }))
          .sort((x, y) => y.bytesInOutput - x.bytesInOutput);
      }
    }
    const inputs = proxyInputs;
    const byPackage = new Map<string, number>();
    for (const i of inputs)
      byPackage.set(packageOf(i.input), (byPackage.get(packageOf(i.input)) ?? 0) + i.bytesInOutput);

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
      const bytes = t.sizes.loaded;
      const s = samples.get(t.name)!;
      return {
        entry: t.entry,
        bytes,
        kb: round(bytes / 1024, 1),
        entryBytes: t.sizes.entry,
        totalBytes: t.sizes.total,
        initMs: {
          median: round(median(s), 2),
          min: round(Math.min(...s), 2),
          max: round(Math.max(...s), 2),
          samples: s.map((v) => round(v, 2)),
        },
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
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
