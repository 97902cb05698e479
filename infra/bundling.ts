/**
 * The ONE place that decides how a Lambda handler is bundled.
 *
 * `esbuildBuildOptions()` is the source of truth: the construct runs it through esbuild's JS API at
 * synth time (`lambdaCode()`, local bundling, no Docker), and a benchmark or any script can
 * reproduce the deployed bundle byte for byte with `bundleHandler()`. Change a setting here and both
 * follow.
 *
 * Why these settings:
 * - ESM output with the `.mjs` extension: Lambda's Node.js runtime loads `index.mjs` as an ES module
 *   (top-level await works, no CJS interop wrapper for our own code).
 * - Code splitting: what a function needs only sometimes — the KMS and Secrets Manager clients, the
 *   OAuth protocol library for a refresh — is imported with `import()` and lands in its own chunk,
 *   loaded on first use. A warm proxy request, and its cold start, never load it. (CDK's
 *   `NodejsFunction` cannot split, which is why the construct bundles through this module.)
 * - `@aws-sdk/*` (and `@smithy/*`) are bundled, not external: the SDK version is the one pinned in
 *   package-lock.json, not whatever the runtime happens to ship; tree-shaking keeps only the clients
 *   used.
 * - `banner`: some CommonJS dependencies call `require()` for Node built-ins; ESM has no `require`,
 *   so the banner defines one with `createRequire` (in every chunk). The import is aliased so it can
 *   never clash with a bundled module that imports `createRequire` itself.
 * - `mainFields: module, main`: prefer packages' ESM builds (better tree-shaking), fall back to CJS.
 * - minify + external source maps without sources content: small bundles (faster cold start), and
 *   with `NODE_OPTIONS=--enable-source-maps` stack traces still point at the TypeScript lines.
 * - Reproducible wherever it is built: esbuild is told it writes into the project root (with
 *   `write: false`, so it writes nothing there) and the files are then written where CDK or the
 *   caller wants them. Source maps' `sources` are therefore relative to the project root
 *   (`functions/proxy/handler.ts`, `node_modules/…`), never to the real output folder, and chunk
 *   names (content hashes that cover the maps) stay the same: `cdk synth -o elsewhere`, another CI
 *   layout, or the construct used from node_modules gives the same bytes and the same asset hash.
 * - `target: node22`: the syntax floor. The functions run on the newest Lambda Node.js runtime
 *   (see construct.ts); node22 output also runs unchanged on Node 22 and 24, so the same bundle can
 *   be exercised locally and in the benchmark.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import { Code } from 'aws-cdk-lib/aws-lambda';
import { build, buildSync, type BuildOptions, type BuildResult, type OutputFile } from 'esbuild';

/**
 * NODE_OPTIONS the functions run with (set by the construct; the cold-start benchmark uses the same):
 * stack traces through the external source maps.
 */
export const LAMBDA_NODE_OPTIONS = '--enable-source-maps';

export const LAMBDA_BUNDLE = {
  format: 'esm',
  /** The handler's file inside the asset is `index` + this extension; chunks go to `chunks/`. */
  outExtension: '.mjs',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  platform: 'node',
  target: 'node22',
  minify: true,
  /** External `.map` files next to each output file. */
  sourcemap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  /** Nothing is external: the AWS SDK v3 is bundled so its version is pinned. */
  external: [] as string[],
  banner:
    "import { createRequire as __dynamicsAuthCreateRequire } from 'node:module';" +
    'const require = __dynamicsAuthCreateRequire(import.meta.url);',
  logLevel: 'warning',
} as const;

/**
 * esbuild options for one handler (`entry` resolved against `projectRoot`): `index.mjs` (the handler,
 * `index.handler`), its chunks under `chunks/` and their source maps, as in-memory output files laid
 * out as if written to `projectRoot` (see "Reproducible" above). `writeBundle()` puts them on disk.
 */
export function esbuildBuildOptions(entry: string, projectRoot: string): BuildOptions & { write: false } {
  return {
    absWorkingDir: projectRoot,
    entryPoints: [entry],
    outdir: projectRoot,
    write: false,
    entryNames: 'index',
    chunkNames: LAMBDA_BUNDLE.chunkNames,
    outExtension: { '.js': LAMBDA_BUNDLE.outExtension },
    splitting: LAMBDA_BUNDLE.splitting,
    bundle: true,
    format: LAMBDA_BUNDLE.format,
    platform: LAMBDA_BUNDLE.platform,
    target: LAMBDA_BUNDLE.target,
    minify: LAMBDA_BUNDLE.minify,
    sourcemap: LAMBDA_BUNDLE.sourcemap,
    sourcesContent: LAMBDA_BUNDLE.sourcesContent,
    mainFields: [...LAMBDA_BUNDLE.mainFields],
    external: [...LAMBDA_BUNDLE.external],
    banner: { js: LAMBDA_BUNDLE.banner },
    logLevel: LAMBDA_BUNDLE.logLevel,
  };
}

/** Writes esbuild's in-memory output files (laid out under `projectRoot`) into `outdir`. */
export function writeBundle(outputFiles: readonly OutputFile[], outdir: string, projectRoot: string): void {
  for (const file of outputFiles) {
    const target = path.join(outdir, path.relative(projectRoot, file.path));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, file.contents);
  }
}

/** Bundles one handler into `outdir` exactly as the construct does (`extra`: e.g. `metafile`). */
export async function bundleHandler(
  entry: string,
  outdir: string,
  projectRoot: string,
  extra: Pick<BuildOptions, 'metafile'> = {},
): Promise<BuildResult<BuildOptions & { write: false }>> {
  const result = await build({ ...esbuildBuildOptions(entry, projectRoot), ...extra });
  writeBundle(result.outputFiles, outdir, projectRoot);
  return result;
}

/**
 * The Lambda code asset of one handler: bundled locally with esbuild at synth time (offline, no
 * Docker). The asset hash is the bundle's, so an unchanged bundle is never re-uploaded.
 */
export function lambdaCode(entry: string, projectRoot: string): Code {
  return Code.fromAsset(path.dirname(path.resolve(projectRoot, entry)), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the API; never pulled, because local bundling always runs (or fails loudly).
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-alpine'),
      local: {
        tryBundle(outputDir: string): boolean {
          const result = buildSync(esbuildBuildOptions(entry, projectRoot));
          writeBundle(result.outputFiles, outputDir, projectRoot);
          return true;
        },
      },
    },
  });
}
