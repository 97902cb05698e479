/**
 * The ONE place that decides how a Lambda handler is bundled.
 *
 * `LAMBDA_BUNDLE` is the source of truth; `nodejsBundlingOptions()` hands it to CDK's
 * `NodejsFunction` (which runs esbuild locally), and `esbuildBuildOptions()` hands the very same
 * settings to esbuild's JS API, so a benchmark (or any script) can reproduce the deployed bundle
 * byte for byte without CDK. Change a setting here and both paths follow.
 *
 * Why these settings:
 * - ESM output with the `.mjs` extension: Lambda's Node.js runtime loads `index.mjs` as an ES module
 *   (top-level await works, no CJS interop wrapper for our own code).
 * - `@aws-sdk/*` (and `@smithy/*`) are bundled, not external: the SDK version is the one pinned in
 *   package-lock.json, not whatever the runtime happens to ship; tree-shaking keeps only the clients
 *   used.
 * - `banner`: some CommonJS dependencies call `require()` for Node built-ins; ESM has no `require`,
 *   so the banner defines one with `createRequire`. The import is aliased so it can never clash with
 *   a bundled module that imports `createRequire` itself.
 * - `mainFields: module, main`: prefer packages' ESM builds (better tree-shaking), fall back to CJS.
 * - minify + external source map without sources content: small bundle (faster cold start), and
 *   with `NODE_OPTIONS=--enable-source-maps` stack traces still point at the TypeScript lines.
 * - `target: node22`: the syntax floor. The functions run on the newest Lambda Node.js runtime
 *   (see construct.ts); node22 output also runs unchanged on Node 22 and 24, so the same bundle can
 *   be exercised locally and in the benchmark.
 */
import type { BuildOptions } from 'esbuild';
import {
  type BundlingOptions,
  LogLevel,
  OutputFormat,
  SourceMapMode,
} from 'aws-cdk-lib/aws-lambda-nodejs';

export const LAMBDA_BUNDLE = {
  /** esbuild `format`. */
  format: 'esm',
  /** File the handler is written to inside the asset (`index` + this extension). */
  outExtension: '.mjs',
  platform: 'node',
  target: 'node22',
  minify: true,
  /** External `.map` file next to the bundle (`//# sourceMappingURL=index.mjs.map`). */
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

/** Bundling options for `NodejsFunction`, derived from `LAMBDA_BUNDLE`. */
export function nodejsBundlingOptions(): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: LAMBDA_BUNDLE.target,
    minify: LAMBDA_BUNDLE.minify,
    sourceMap: LAMBDA_BUNDLE.sourcemap,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: LAMBDA_BUNDLE.sourcesContent,
    mainFields: [...LAMBDA_BUNDLE.mainFields],
    externalModules: [...LAMBDA_BUNDLE.external],
    bundleAwsSDK: true,
    banner: LAMBDA_BUNDLE.banner,
    logLevel: LogLevel.WARNING,
    // Never fall back to Docker: esbuild is a devDependency and bundles locally (and offline).
    forceDockerBundling: false,
  };
}

/**
 * The same settings for esbuild's JS API: `esbuild.build(esbuildBuildOptions(entry, outdir))` writes
 * `<outdir>/index.mjs` (+ `index.mjs.map`) exactly as `NodejsFunction` does (CDK runs
 * `esbuild --bundle <entry> --target=… --platform=node --format=esm --outfile=<out>/index.mjs --minify
 * --sourcemap --sources-content=false --log-level=warning --banner:js=… --main-fields=module,main`).
 * `entry` is resolved against `projectRoot` (esbuild's working directory), like CDK does.
 */
export function esbuildBuildOptions(entry: string, outdir: string, projectRoot: string): BuildOptions {
  return {
    absWorkingDir: projectRoot,
    entryPoints: [entry],
    outfile: `${outdir}/index${LAMBDA_BUNDLE.outExtension}`,
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
