import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where `npm start` tells local tools (the example CLI, the README's commands) which URL and
 * DynamoDB endpoint it chose, so `PORT=0` or another PORT needs no copying of URLs:
 * `DYNAMICS_AUTH_LOCAL_SERVICE`, else `.local/service.json` in the project (next to the local key).
 */
export function serviceFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.DYNAMICS_AUTH_LOCAL_SERVICE ?? resolve(fileURLToPath(new URL('..', import.meta.url)), '.local', 'service.json')
  );
}

/** What the file holds: no secret, only where the running local service listens. */
export interface LocalServiceInfo {
  url: string;
  dynamodb: string;
  /** The development environments' Dataverse URLs by unique name, when `npm start` runs them. */
  environments?: Record<string, string>;
  /** The `npm start` process, so a file left behind by a killed process is ignored. */
  pid: number;
}

export function writeServiceFile(info: LocalServiceInfo, file = serviceFilePath()): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
}

/** Removes the file if it still names this process (another `npm start` may have replaced it). */
export function removeServiceFile(pid: number, file = serviceFilePath()): void {
  if (readServiceFile(file)?.pid === pid) rmSync(file, { force: true });
}

/** The running local service, or undefined when there is no file, it is unreadable or its process has ended. */
export function readServiceFile(file = serviceFilePath()): LocalServiceInfo | undefined {
  let info: Partial<LocalServiceInfo>;
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalServiceInfo>;
  } catch {
    return undefined;
  }
  if (typeof info.url !== 'string' || typeof info.dynamodb !== 'string' || !Number.isInteger(info.pid))
    return undefined;
  return isRunning(info.pid!) ? (info as LocalServiceInfo) : undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
