import { Logger } from '@aws-lambda-powertools/logger';

/** Keys whose values are secrets wherever they appear in a log item. */
const SECRET_KEY =
  /token|secret|password|cookie|authorization|verifier|code|nonce|state|assertion|session|handoff|key|body|query/i;
/** Keys that look secret by name but carry only non-secret descriptors. */
const SAFE_KEYS = new Set(['errorCode', 'statusCode', 'oauthError', 'code_challenge_method', 'sessionVersion']);
/** A JWT, an opaque bearer value or a cookie pair, anywhere inside a string. */
const SECRET_VALUE = /eyJ[\w-]+\.[\w-]+\.[\w-]*|(bearer\s+)[\w\-.~+/]+=*|(__Host-[\w-]+=)[^;\s]+/gi;

/** A whole query-parameter object (e.g. an event's `queryStringParameters`) is redacted at once. */
function isQueryObject(key: string, value: unknown): boolean {
  return /query/i.test(key) && typeof value === 'object' && value !== null;
}

/** Redacts secrets from a log attribute value. Exported for tests. */
export function redact(key: string, value: unknown): unknown {
  if (
    key &&
    SECRET_KEY.test(key) &&
    !SAFE_KEYS.has(key) &&
    (typeof value === 'string' || typeof value === 'number' || isQueryObject(key, value))
  ) {
    return '[redacted]';
  }
  if (typeof value === 'string') {
    return value.replace(SECRET_VALUE, (_m, bearer?: string, cookie?: string) => `${bearer ?? cookie ?? ''}[redacted]`);
  }
  return value;
}

/** The one logger. Tokens, cookies, codes and Authorization values are redacted at serialisation. */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'dynamics-auth',
  jsonReplacerFn: (key: string, value: unknown) => redact(key, value),
});
