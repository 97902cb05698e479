/**
 * Which error codes the source can produce, read from the source itself: every
 * `new ServiceError('<code>'` literal, per file, and per function through its handler's imports.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The service's own code: the Dataverse stand-in (local/dataverse/) answers Dataverse's errors, not the service's. */
const SOURCE_DIRS = ['shared', 'functions', 'local'];
const NOT_THE_SERVICE = /^local\/dataverse\//;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Source files (repo-relative) of the service's own code. */
export function sourceFiles(): string[] {
  return SOURCE_DIRS.flatMap((d) => walk(join(ROOT, d)))
    .map((p) => relative(ROOT, p))
    .filter((p) => !NOT_THE_SERVICE.test(p));
}

/** The codes a file throws: `new ServiceError('code'` (a code must be a literal for this to see it). */
export function codesThrownIn(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/\bServiceError\(\s*'([^']*)'/g)].map((m) => m[1]!);
}

/** `new ServiceError(` calls whose code is not a string literal (invisible to codesThrownIn). */
export function nonLiteralThrows(file: string): number {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/\bnew ServiceError\(\s*([^\s)])/g)].filter((m) => m[1] !== "'").length;
}

/** Value imports (not `import type`) and dynamic imports of a file, resolved to repo-relative paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [
    ...[...text.matchAll(/^(?:import|export)\s+(?!type\s)[^'";]*?from\s+'([^']+)'/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]!),
  ];
  return specifiers.flatMap((s) => {
    const path = s.startsWith('#shared/')
      ? join('shared', s.slice('#shared/'.length))
      : s.startsWith('.')
        ? join(dirname(file), s)
        : undefined;
    return path !== undefined && existsSync(join(ROOT, path)) ? [path] : [];
  });
}

/** Every file a handler loads (transitively, value imports only). */
export function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    pending.push(...importsOf(file));
  }
  return seen;
}

/** The codes a function's handler can answer with: those thrown anywhere in its import closure. */
export function codesReachableFrom(handlerFile: string): Set<string> {
  return new Set([...importClosure(handlerFile)].flatMap(codesThrownIn));
}
