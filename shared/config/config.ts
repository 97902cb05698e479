import * as z from 'zod/mini';
import { checkReturnTo } from '../auth/return-to.ts';
import { CLOUDS, defaultEntraAuthority, ENTRA_CLOUDS, type EntraCloud } from './clouds.ts';
import { HostPatternError, hostAllowed, hostOfOrigin, parseHostPatterns } from './dataverse-hosts.ts';
import { isHttpsOrLoopbackHttp, withoutTrailingSlash } from './urls.ts';

/**
 * The service's configuration, parsed and validated once at start-up from the environment.
 * Names are the public contract (see docs/configuration.md); a missing or malformed variable
 * fails fast with a message naming it.
 */
export interface Config {
  entraAuthority: URL;
  clientId: string;
  /** Plain secret (local mode only). In AWS the secret is read from Secrets Manager via `clientSecretArn`. */
  clientSecret?: string;
  /** Secrets Manager `SecretId` of the client secret: its complete ARN or its name (never a partial ARN). */
  clientSecretArn?: string;
  /** TOKEN_ENDPOINT_AUTH_METHOD: the operator's choice; otherwise chosen from credentials and discovery. */
  tokenEndpointAuthMethod?: 'private_key_jwt' | 'client_secret_basic' | 'client_secret_post' | 'none';
  /** The asymmetric RSA KMS key (id or ARN) that signs client assertions (`private_key_jwt`). */
  clientAssertionKeyId?: string;
  /** Local mode: a PEM RSA private key file that signs client assertions instead of KMS. */
  clientAssertionKeyFile?: string;
  /** base64url SHA-256 of the DER certificate registered for the assertion key (`x5t#S256`). */
  clientCertificateThumbprintS256?: string;
  /** The default environment, which needs no discovery; absent in multi-environment deployments. */
  dynamicsUrl?: URL;
  /** Which Microsoft cloud (sign-in host, discovery URL and environment hosts by default). */
  entraCloud: EntraCloud;
  /** The Global Discovery Service base URL (an origin). */
  discoveryUrl: URL;
  /** Allowed environment host patterns (see shared/config/dataverse-hosts.ts). */
  dataverseHosts: string[];
  publicBaseUrl: URL;
  redirectUri: string;
  /** Allowed `returnTo` prefixes (each an origin or an origin + path prefix). */
  allowedReturnUrls: URL[];
  /** The origins of `allowedReturnUrls`, for CORS and the CSRF `Origin` check. */
  allowedOrigins: Set<string>;
  pendingLoginsTable: string;
  apiKeysTable: string;
  /** Custom URI schemes native apps may name as `returnTo` (RFC 8252 §7.1), e.g. `com.contoso.crm`. */
  nativeRedirectSchemes: Set<string>;
  sessionsTable: string;
  kmsKeyId?: string;
  /** Local mode: path of the local key file (used when no KMS key is configured). */
  localKeyFile?: string;
  dynamodbEndpoint?: string;
  /** Absolute session lifetime in seconds. */
  sessionTtlSeconds: number;
  /** A session unused for this long is over (OWASP ASVS idle timeout). */
  sessionIdleTimeoutSeconds: number;
  /** Lifetime of a pending login (state, nonce, verifier) in seconds. */
  pendingLoginTtlSeconds: number;
  /** Refresh the access token ahead of use when it expires within this many seconds. */
  refreshSkewSeconds: number;
  /** Upper bound for one Dataverse call, in milliseconds (the Lambda's own remaining time also bounds it). */
  upstreamTimeoutMs: number;
  /** Token-endpoint call timeout in milliseconds. */
  tokenEndpointTimeoutMs: number;
  /** A 429 whose Retry-After is at most this many seconds is retried once. */
  maxRetryAfterSeconds: number;
  /**
   * After Dataverse rejected a freshly refreshed token, 401s for that session answer 403
   * `dataverse_rejected` for this many seconds without another token-endpoint call.
   */
  dataverseRejectionCooldownSeconds: number;
  /** After a webhook secret rotation, the previous secret keeps signing for this many seconds (default 24 h). */
  webhookSecretOverlapSeconds: number;
  /** At most this many webhook endpoints per API key (default 10). */
  webhookMaxEndpointsPerKey: number;
  /** Allow plain-http issuer and Dataverse URLs (loopback hosts only; local mode and tests). */
  allowInsecureLoopback: boolean;
  /**
   * IDP_PROFILE: how the identity provider is spoken to. `entra` (default): Microsoft Entra ID, which
   * issues refresh tokens for `offline_access` without a consent prompt and needs the resource scope on
   * every refresh. `standard`: an OpenID Provider that follows OIDC Core §11 (`prompt=consent` for
   * `offline_access`) and RFC 6749 §6 (no scope on refresh).
   */
  idpProfile: IdpProfile;
  /**
   * RESOURCE_INDICATOR: the RFC 8707 `resource` sent on authorization and token requests (unset:
   * none), verbatim (AD FS matches a relying party identifier exactly).
   */
  resourceIndicator?: string;
  /** POST_LOGOUT_REDIRECT_URI: where the provider sends the browser after logout (OIDC RP-Initiated Logout §2). */
  postLogoutRedirectUri?: string;
}

export type IdpProfile = 'entra' | 'standard';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The service's own external base URL without a trailing slash, ready for `${publicBase(config)}/path`. */
export function publicBase(config: Pick<Config, 'publicBaseUrl'>): string {
  return withoutTrailingSlash(config.publicBaseUrl.href);
}

type Issues = z.core.ParsePayload;
const fail = (ctx: Issues, input: unknown, message: string) => {
  ctx.issues.push({ code: 'custom', message, input });
  return z.NEVER;
};

/** A required, trimmed, non-empty string. */
const requiredString = (name: string) =>
  z.string({ error: `${name} is required` }).check(z.trim(), z.minLength(1, `${name} is required`));

const httpsUrl = (name: string) =>
  z.pipe(
    requiredString(name),
    z.transform((value: string, ctx: Issues) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return fail(ctx, value, `${name} must be an absolute URL`);
      }
      if (!isHttpsOrLoopbackHttp(url)) {
        return fail(ctx, value, `${name} must use https (http is allowed only for loopback hosts)`);
      }
      if (url.username || url.password) return fail(ctx, value, `${name} must not contain credentials`);
      return url;
    }),
  );

/** An optional whole number within bounds (seconds or milliseconds), with a default. */
const wholeNumber = (name: string, fallback: number, min: number, max: number) =>
  z.pipe(
    z.optional(z.string()),
    z.transform((raw: string | undefined, ctx: Issues) => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value)) return fail(ctx, raw, `${name} must be a whole number`);
      if (value < min) return fail(ctx, raw, `${name} must be at least ${min}`);
      if (value > max) return fail(ctx, raw, `${name} must be at most ${max}`);
      return value;
    }),
  );

const optionalString = z.pipe(
  z.optional(z.string()),
  z.transform((v: string | undefined) => (v?.trim() ? v.trim() : undefined)),
);
const tableName = (fallback: string) =>
  z.pipe(
    z.optional(z.string()),
    z.transform((v: string | undefined) => v?.trim() || fallback),
  );

function parseCloud(raw: string | undefined): EntraCloud {
  const value = (raw?.trim() || 'commercial').toLowerCase();
  if (!(ENTRA_CLOUDS as string[]).includes(value)) {
    throw new ConfigError(`Invalid configuration: ENTRA_CLOUD must be one of ${ENTRA_CLOUDS.join(', ')}`);
  }
  return value as EntraCloud;
}

// zod/mini: the same validation as zod's classic API at a fraction of the bundle size and start-up
// time (every function parses its configuration at cold start).
const EnvSchema = z.object({
  ENTRA_AUTHORITY: httpsUrl('ENTRA_AUTHORITY'),
  CLIENT_ID: requiredString('CLIENT_ID'),
  CLIENT_SECRET: optionalString,
  CLIENT_SECRET_ARN: optionalString,
  TOKEN_ENDPOINT_AUTH_METHOD: optionalString,
  CLIENT_ASSERTION_KEY_ID: optionalString,
  CLIENT_ASSERTION_KEY_FILE: optionalString,
  CLIENT_CERTIFICATE_THUMBPRINT_S256: optionalString,
  DYNAMICS_URL: z.optional(httpsUrl('DYNAMICS_URL')),
  DISCOVERY_URL: z.optional(httpsUrl('DISCOVERY_URL')),
  DATAVERSE_HOSTS: optionalString,
  PUBLIC_BASE_URL: httpsUrl('PUBLIC_BASE_URL'),
  ALLOWED_RETURN_URLS: requiredString('ALLOWED_RETURN_URLS'),
  PENDING_LOGINS_TABLE: tableName('PendingLogins'),
  SESSIONS_TABLE: tableName('Sessions'),
  API_KEYS_TABLE: tableName('ApiKeys'),
  NATIVE_REDIRECT_SCHEMES: optionalString,
  KMS_KEY_ID: optionalString,
  LOCAL_KEY_FILE: optionalString,
  DYNAMODB_ENDPOINT: optionalString,
  SESSION_TTL_SECONDS: wholeNumber('SESSION_TTL_SECONDS', 8 * 3600, 300, 90 * 24 * 3600),
  SESSION_IDLE_TIMEOUT_SECONDS: wholeNumber('SESSION_IDLE_TIMEOUT_SECONDS', 3600, 600, 90 * 24 * 3600),
  PENDING_LOGIN_TTL_SECONDS: wholeNumber('PENDING_LOGIN_TTL_SECONDS', 600, 60, 3600),
  REFRESH_SKEW_SECONDS: wholeNumber('REFRESH_SKEW_SECONDS', 120, 0, 3600),
  UPSTREAM_TIMEOUT_MS: wholeNumber('UPSTREAM_TIMEOUT_MS', 25_000, 100, 900_000),
  TOKEN_ENDPOINT_TIMEOUT_MS: wholeNumber('TOKEN_ENDPOINT_TIMEOUT_MS', 8_000, 100, 60_000),
  MAX_RETRY_AFTER_SECONDS: wholeNumber('MAX_RETRY_AFTER_SECONDS', 5, 0, 60),
  DATAVERSE_REJECTION_COOLDOWN_SECONDS: wholeNumber('DATAVERSE_REJECTION_COOLDOWN_SECONDS', 600, 60, 24 * 3600),
  WEBHOOK_SECRET_OVERLAP_SECONDS: wholeNumber('WEBHOOK_SECRET_OVERLAP_SECONDS', 24 * 3600, 0, 7 * 24 * 3600),
  WEBHOOK_MAX_ENDPOINTS_PER_KEY: wholeNumber('WEBHOOK_MAX_ENDPOINTS_PER_KEY', 10, 1, 50),
  IDP_PROFILE: z.pipe(
    z.optional(z.string()),
    z.transform((raw: string | undefined, ctx: Issues): IdpProfile => {
      const value = raw?.trim().toLowerCase() || 'entra';
      return value === 'entra' || value === 'standard'
        ? value
        : fail(ctx, raw, 'IDP_PROFILE must be entra or standard');
    }),
  ),
  RESOURCE_INDICATOR: optionalString,
  POST_LOGOUT_REDIRECT_URI: optionalString,
});

function parseAllowedReturnUrls(raw: string): URL[] {
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        throw new ConfigError(`ALLOWED_RETURN_URLS: "${entry}" is not an absolute URL`);
      }
      if (!isHttpsOrLoopbackHttp(url)) {
        throw new ConfigError(`ALLOWED_RETURN_URLS: "${entry}" must use https (http only for loopback hosts)`);
      }
      if (url.search || url.hash || url.username || url.password) {
        throw new ConfigError(`ALLOWED_RETURN_URLS: "${entry}" must be an origin or an origin with a path prefix`);
      }
      return url;
    });
}

/**
 * The post-logout target must be an allowed return URL (RFC 9700 §4.11: no open redirector) and is
 * sent verbatim: Entra and OIDC RP-Initiated Logout §3 compare it exactly with a registered URI.
 */
function parsePostLogoutRedirectUri(raw: string | undefined, allowed: readonly URL[]): string | undefined {
  if (raw === undefined) return undefined;
  const checked = checkReturnTo(raw, allowed);
  if (!checked || new URL(checked).hash) {
    throw new ConfigError(
      'Invalid configuration: POST_LOGOUT_REDIRECT_URI must be an absolute URL under ALLOWED_RETURN_URLS, written exactly as registered at the provider, without a fragment',
    );
  }
  return raw;
}

/** RFC 8707 §2: an absolute URI without a fragment (and, here, https without a query). */
function checkResourceIndicator(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (!url || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(
      'Invalid configuration: RESOURCE_INDICATOR must be an absolute URL without query or fragment',
    );
  }
  if (!isHttpsOrLoopbackHttp(url)) {
    throw new ConfigError('Invalid configuration: RESOURCE_INDICATOR must use https (http only for loopback hosts)');
  }
  return raw;
}

/** RFC 8252 §7.1: private-use schemes in reverse-domain form, never http(s) or well-known ones. */
function parseSchemes(raw: string | undefined): Set<string> {
  const schemes = new Set<string>();
  for (const entry of (raw ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)) {
    if (!/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$/.test(entry)) {
      throw new ConfigError(
        `NATIVE_REDIRECT_SCHEMES: "${entry}" must be a reverse-domain scheme such as com.example.app`,
      );
    }
    schemes.add(entry);
  }
  return schemes;
}

/**
 * ORIGIN_VERIFY_SECRET_ID: the Secrets Manager secret (complete ARN or name) holding the header value
 * a CloudFront distribution in front of the API adds to every request; unset means no check. Read on
 * its own, before the rest of the configuration, by the middleware every handler runs through.
 */
export function originVerifySecretId(env: Record<string, string | undefined> = process.env): string | undefined {
  return env.ORIGIN_VERIFY_SECRET_ID?.trim() || undefined;
}

const AUTH_METHODS = new Set(['private_key_jwt', 'client_secret_basic', 'client_secret_post', 'none']);

/** Client authentication settings: a key needs its certificate thumbprint; an explicit method needs its credential. */
function parseClientAuthentication(e: {
  CLIENT_SECRET?: string;
  CLIENT_SECRET_ARN?: string;
  TOKEN_ENDPOINT_AUTH_METHOD?: string;
  CLIENT_ASSERTION_KEY_ID?: string;
  CLIENT_ASSERTION_KEY_FILE?: string;
  CLIENT_CERTIFICATE_THUMBPRINT_S256?: string;
}): Pick<
  Config,
  'tokenEndpointAuthMethod' | 'clientAssertionKeyId' | 'clientAssertionKeyFile' | 'clientCertificateThumbprintS256'
> {
  const method = e.TOKEN_ENDPOINT_AUTH_METHOD;
  if (method !== undefined && !AUTH_METHODS.has(method)) {
    throw new ConfigError(
      `Invalid configuration: TOKEN_ENDPOINT_AUTH_METHOD must be one of ${[...AUTH_METHODS].join(', ')}`,
    );
  }
  if (e.CLIENT_ASSERTION_KEY_ID && e.CLIENT_ASSERTION_KEY_FILE) {
    throw new ConfigError('Invalid configuration: set CLIENT_ASSERTION_KEY_ID or CLIENT_ASSERTION_KEY_FILE, not both');
  }
  const hasKey = Boolean(e.CLIENT_ASSERTION_KEY_ID || e.CLIENT_ASSERTION_KEY_FILE);
  const thumbprint = e.CLIENT_CERTIFICATE_THUMBPRINT_S256
    ? parseThumbprintS256(e.CLIENT_CERTIFICATE_THUMBPRINT_S256)
    : undefined;
  if (hasKey && !thumbprint) {
    throw new ConfigError(
      'Invalid configuration: CLIENT_CERTIFICATE_THUMBPRINT_S256 is required with a client assertion key',
    );
  }
  if (method === 'private_key_jwt' && !hasKey) {
    throw new ConfigError(
      'Invalid configuration: TOKEN_ENDPOINT_AUTH_METHOD=private_key_jwt needs CLIENT_ASSERTION_KEY_ID (or CLIENT_ASSERTION_KEY_FILE)',
    );
  }
  if (
    (method === 'client_secret_basic' || method === 'client_secret_post') &&
    !e.CLIENT_SECRET &&
    !e.CLIENT_SECRET_ARN
  ) {
    throw new ConfigError(
      `Invalid configuration: TOKEN_ENDPOINT_AUTH_METHOD=${method} needs CLIENT_SECRET_ARN (or CLIENT_SECRET in local mode)`,
    );
  }
  return {
    tokenEndpointAuthMethod: method as Config['tokenEndpointAuthMethod'],
    clientAssertionKeyId: e.CLIENT_ASSERTION_KEY_ID,
    clientAssertionKeyFile: e.CLIENT_ASSERTION_KEY_FILE,
    clientCertificateThumbprintS256: thumbprint,
  };
}

/** The SHA-256 thumbprint as base64url (as `admin cert create` prints it) or 64 hex digits (as portals show it). */
function parseThumbprintS256(raw: string): string {
  if (/^[A-Za-z0-9_-]{43}$/.test(raw)) return raw;
  const hex = raw.replace(/:/g, '');
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return Buffer.from(hex, 'hex').toString('base64url');
  throw new ConfigError(
    'Invalid configuration: CLIENT_CERTIFICATE_THUMBPRINT_S256 must be a SHA-256 thumbprint (43 base64url characters or 64 hex digits)',
  );
}

/** Parses and validates the environment. Throws `ConfigError` naming the first bad variables. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const entraCloud = parseCloud(env.ENTRA_CLOUD);
  const blankToUndefined = (v: string | undefined) => (v?.trim() ? v : undefined);
  const parsed = EnvSchema.safeParse({
    ...env,
    ENTRA_AUTHORITY: env.ENTRA_AUTHORITY?.trim() || defaultEntraAuthority(entraCloud),
    DYNAMICS_URL: blankToUndefined(env.DYNAMICS_URL),
    DISCOVERY_URL: blankToUndefined(env.DISCOVERY_URL) ?? CLOUDS[entraCloud].discoveryUrl,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '');
      return issue.message.includes(name) ? issue.message : `${name}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (e.CLIENT_SECRET && e.CLIENT_SECRET_ARN) {
    throw new ConfigError('Invalid configuration: set CLIENT_SECRET or CLIENT_SECRET_ARN, not both');
  }
  const clientAuth = parseClientAuthentication(e);
  const allowedReturnUrls = parseAllowedReturnUrls(e.ALLOWED_RETURN_URLS);
  if (allowedReturnUrls.length === 0) throw new ConfigError('Invalid configuration: ALLOWED_RETURN_URLS is empty');
  const publicBaseUrl = new URL(withoutTrailingSlash(e.PUBLIC_BASE_URL.href));
  const loopback =
    e.ENTRA_AUTHORITY.protocol === 'http:' ||
    e.DYNAMICS_URL?.protocol === 'http:' ||
    publicBaseUrl.protocol === 'http:';
  const discoveryUrl = e.DISCOVERY_URL!;
  if (discoveryUrl.pathname !== '/' || discoveryUrl.search) {
    throw new ConfigError(
      'Invalid configuration: DISCOVERY_URL must be an origin, e.g. https://globaldisco.crm.dynamics.com',
    );
  }
  let dataverseHosts: string[];
  try {
    const entries = e.DATAVERSE_HOSTS?.split(',')
      .map((h) => h.trim())
      .filter(Boolean) ?? [...CLOUDS[entraCloud].dataverseHosts];
    dataverseHosts = parseHostPatterns(entries, loopback);
  } catch (err) {
    if (err instanceof HostPatternError)
      throw new ConfigError(`Invalid configuration: DATAVERSE_HOSTS: ${err.message}`);
    throw err;
  }
  return {
    entraAuthority: e.ENTRA_AUTHORITY,
    clientId: e.CLIENT_ID,
    clientSecret: e.CLIENT_SECRET,
    clientSecretArn: e.CLIENT_SECRET_ARN,
    ...clientAuth,
    dynamicsUrl: e.DYNAMICS_URL ? new URL(e.DYNAMICS_URL.origin) : undefined,
    entraCloud,
    discoveryUrl: new URL(discoveryUrl.origin),
    dataverseHosts,
    publicBaseUrl,
    redirectUri: `${withoutTrailingSlash(publicBaseUrl.href)}/auth/callback`,
    allowedReturnUrls,
    allowedOrigins: new Set(allowedReturnUrls.map((u) => u.origin)),
    pendingLoginsTable: e.PENDING_LOGINS_TABLE,
    apiKeysTable: e.API_KEYS_TABLE,
    nativeRedirectSchemes: parseSchemes(e.NATIVE_REDIRECT_SCHEMES),
    sessionsTable: e.SESSIONS_TABLE,
    kmsKeyId: e.KMS_KEY_ID,
    localKeyFile: e.LOCAL_KEY_FILE,
    dynamodbEndpoint: e.DYNAMODB_ENDPOINT,
    sessionTtlSeconds: e.SESSION_TTL_SECONDS,
    sessionIdleTimeoutSeconds: e.SESSION_IDLE_TIMEOUT_SECONDS,
    pendingLoginTtlSeconds: e.PENDING_LOGIN_TTL_SECONDS,
    refreshSkewSeconds: e.REFRESH_SKEW_SECONDS,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    tokenEndpointTimeoutMs: e.TOKEN_ENDPOINT_TIMEOUT_MS,
    maxRetryAfterSeconds: e.MAX_RETRY_AFTER_SECONDS,
    dataverseRejectionCooldownSeconds: e.DATAVERSE_REJECTION_COOLDOWN_SECONDS,
    webhookSecretOverlapSeconds: e.WEBHOOK_SECRET_OVERLAP_SECONDS,
    webhookMaxEndpointsPerKey: e.WEBHOOK_MAX_ENDPOINTS_PER_KEY,
    allowInsecureLoopback: loopback,
    idpProfile: e.IDP_PROFILE,
    resourceIndicator: checkResourceIndicator(e.RESOURCE_INDICATOR),
    postLogoutRedirectUri: parsePostLogoutRedirectUri(e.POST_LOGOUT_REDIRECT_URI, allowedReturnUrls),
  };
}

/**
 * Whether `{host}` names an environment this deployment may call: one DATAVERSE_HOSTS allows, or
 * DYNAMICS_URL's own host (configured by the operator, so always allowed).
 */
export function environmentHostAllowed(config: Config, host: string): boolean {
  if (config.dynamicsUrl && hostOfOrigin(config.dynamicsUrl.origin) === host) return true;
  return hostAllowed(host, config.dataverseHosts, config.allowInsecureLoopback);
}
