/**
 * Parsers of single CDK context values for infra/settings.ts: each returns the value or throws a
 * `SettingsError` naming the setting.
 */
import { isHttpsOrLoopbackHttp, withoutTrailingSlash } from '../shared/config/urls.ts';
import type { SettingName } from './settings.ts';

export class SettingsError extends Error {
  constructor(setting: SettingName, value: unknown, message: string) {
    super(`Invalid setting "${setting}" (-c ${setting}=${String(value)}): ${message}`);
    this.name = 'SettingsError';
  }
}

export { GUID } from '../shared/config/guid.ts';
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_COMPLETE_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
export const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
/**
 * One plain address: a dot-atom local part (RFC 5322, no quoted strings, no display name) and a DNS
 * domain of at least two labels whose last one starts with a letter (no IP literals).
 */
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const EMAIL_ADDRESS = new RegExp(
  `^${ATEXT}(?:\\.${ATEXT})*@(?:${LABEL}\\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`,
);

/** Is `value` a single email address SNS can subscribe (at most 254 characters, local part 64)? */
export function isEmailAddress(value: string): boolean {
  return value.length <= 254 && EMAIL_ADDRESS.test(value) && value.indexOf('@') <= 64;
}

/** Reads one context value; empty strings count as "not set". */
export type ContextReader = (name: SettingName) => unknown;

export function text(read: ContextReader, name: SettingName): string | undefined {
  const raw = read(name);
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
    throw new SettingsError(name, JSON.stringify(raw), 'expected a single value');
  }
  const value = String(raw).trim();
  return value === '' ? undefined : value;
}

export function url(name: SettingName, value: string, opts: { httpsOnly: boolean; pathAllowed: boolean }): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new SettingsError(name, value, 'expected an absolute URL such as https://example.com');
  }
  if (!(opts.httpsOnly ? parsed.protocol === 'https:' : isHttpsOrLoopbackHttp(parsed))) {
    throw new SettingsError(name, value, `must use https${opts.httpsOnly ? '' : ' (http only for localhost)'}`);
  }
  if (parsed.search || parsed.hash) throw new SettingsError(name, value, 'must not have a query string or fragment');
  if (parsed.username || parsed.password) throw new SettingsError(name, value, 'must not contain credentials');
  if (!opts.pathAllowed && parsed.pathname !== '/') throw new SettingsError(name, value, 'must not have a path');
  return withoutTrailingSlash(value);
}

/** A Secrets Manager secret name, or a complete secret ARN (a partial ARN is refused). */
export function secretReference(read: ContextReader, name: SettingName): string | undefined {
  const value = text(read, name);
  if (value === undefined) return undefined;
  if (value.startsWith('arn:')) {
    if (!SECRET_COMPLETE_ARN.test(value)) {
      throw new SettingsError(
        name,
        value,
        'an ARN must be the complete secret ARN (ending in the 6-character suffix); or pass the secret name',
      );
    }
  } else if (!SECRET_NAME.test(value)) {
    throw new SettingsError(name, value, 'not a valid Secrets Manager secret name');
  }
  return value;
}

/** true/false (also from `-c name=true`); unset is undefined. */
export function flag(read: ContextReader, name: SettingName): boolean | undefined {
  const value = text(read, name);
  if (value === undefined) return undefined;
  if (value.toLowerCase() === 'true') return true;
  if (value.toLowerCase() === 'false') return false;
  throw new SettingsError(name, value, 'expected true or false');
}

export function positive(read: ContextReader, name: SettingName, fallback: number, integer: boolean): number {
  const value = text(read, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new SettingsError(name, value, `expected a positive ${integer ? 'integer' : 'number'}`);
  }
  return n;
}
