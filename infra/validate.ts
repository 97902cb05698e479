/**
 * Synth-time checks of `DynamicsAuthServiceProps`: every concrete value is validated with an error
 * naming the prop (tokens, resolved only at deploy time, pass). The patterns are shared with
 * infra/settings.ts, which checks the same values when they come from CDK context.
 */
import { Token } from 'aws-cdk-lib';
import { ENTRA_CLOUDS } from '../shared/config/clouds.ts';
import { isHttpsOrLoopbackHttp, withoutTrailingSlash } from '../shared/config/urls.ts';
import { HostPatternError, parseHostPatterns } from '../shared/config/dataverse-hosts.ts';
import type { CustomDomainProps, DynamicsAuthServiceProps } from './props.ts';

/** A DNS host name of at least two labels (no scheme, port or path). */
export const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/i;
export const ACM_CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;

export const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
export const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

/**
 * A private-use URI scheme in reverse-domain form (`com.contoso.crmcli`): DNS-style labels, at least
 * two. Stricter than the runtime's check in shared/config/config.ts, so anything accepted here also
 * loads there.
 */
export const NATIVE_REDIRECT_SCHEME = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/i;

const LOG_LEVELS: readonly string[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

export function invalid(setting: string, message: string): Error {
  return new Error(`DynamicsAuthService: invalid ${setting}: ${message}`);
}

export function stripTrailingSlash(value: string): string {
  return Token.isUnresolved(value) ? value : withoutTrailingSlash(value);
}

export function requireHttpUrl(setting: string, value: string, { httpsOnly }: { httpsOnly: boolean }): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(setting, `"${value}" is not an absolute URL`);
  }
  if (!(httpsOnly ? url.protocol === 'https:' : isHttpsOrLoopbackHttp(url))) {
    throw invalid(setting, `"${value}" must use https${httpsOnly ? '' : ' (http is allowed for localhost only)'}`);
  }
  if (url.username || url.password) throw invalid(setting, `"${value}" must not contain credentials`);
  return url;
}

/** Is `v` a value known at synth time (not a token resolved at deploy time)? */
const concrete = (v: string | undefined): v is string => v !== undefined && !Token.isUnresolved(v);

/** Throws an error naming the first invalid prop. */
export function validateProps(props: DynamicsAuthServiceProps): void {
  validateEndpoints(props);
  validateAllowedReturnUrls(props.allowedReturnUrls);
  validateThrottles(props);
  if (props.customDomain) validateCustomDomain(props.customDomain, props.publicBaseUrl);
  validateExistingResources(props);
  validateRuntimeOptions(props);
}

/** The client id and the URLs the service talks to or answers on. */
function validateEndpoints(props: DynamicsAuthServiceProps): void {
  if (concrete(props.clientId) && props.clientId.trim() === '') throw invalid('clientId', 'must not be empty');
  if (concrete(props.dynamicsUrl)) requireHttpUrl('dynamicsUrl', props.dynamicsUrl, { httpsOnly: true });
  if (concrete(props.entraAuthority)) requireHttpUrl('entraAuthority', props.entraAuthority, { httpsOnly: false });
  if (props.entraCloud !== undefined && !ENTRA_CLOUDS.includes(props.entraCloud))
    throw invalid('entraCloud', `must be one of ${ENTRA_CLOUDS.join(', ')}`);
  if (concrete(props.discoveryUrl)) requireHttpUrl('discoveryUrl', props.discoveryUrl, { httpsOnly: true });
  if (props.dataverseHosts !== undefined && !props.dataverseHosts.some((h) => Token.isUnresolved(h))) {
    try {
      // The same rules the runtime applies to DATAVERSE_HOSTS (exact patterns, no ports, no IP literals).
      parseHostPatterns(props.dataverseHosts, false);
    } catch (err) {
      if (err instanceof HostPatternError) throw invalid('dataverseHosts', err.message);
      throw err;
    }
  }
  if (concrete(props.publicBaseUrl)) requireHttpUrl('publicBaseUrl', props.publicBaseUrl, { httpsOnly: false });
}

/** Literal origins or origin + path prefixes: they become CORS origins and a comma-separated variable. */
function validateAllowedReturnUrls(allowedReturnUrls: readonly string[]): void {
  if (allowedReturnUrls.length === 0) throw invalid('allowedReturnUrls', 'name at least one origin or URL');
  for (const u of allowedReturnUrls) {
    if (Token.isUnresolved(u)) throw invalid('allowedReturnUrls', 'must be literal values (they become CORS origins)');
    if (u.includes(','))
      throw invalid('allowedReturnUrls', `"${u}" must not contain a comma (the list is comma-separated)`);
    const url = requireHttpUrl('allowedReturnUrls', u, { httpsOnly: false });
    if (url.search || url.hash)
      throw invalid('allowedReturnUrls', `"${u}" must be an origin or an origin with a path prefix`);
  }
}

function validateThrottles(props: DynamicsAuthServiceProps): void {
  for (const [name, t] of [
    ['throttle', props.throttle ?? {}],
    ['signInThrottle', props.signInThrottle ?? {}],
  ] as const) {
    if (t.rateLimit !== undefined && !(Number.isFinite(t.rateLimit) && t.rateLimit > 0)) {
      throw invalid(`${name}.rateLimit`, `${t.rateLimit} must be a positive number`);
    }
    if (t.burstLimit !== undefined && !(Number.isInteger(t.burstLimit) && t.burstLimit > 0)) {
      throw invalid(`${name}.burstLimit`, `${t.burstLimit} must be a positive integer`);
    }
  }
}

function validateCustomDomain(custom: CustomDomainProps, publicBaseUrl: string | undefined): void {
  const { domainName, certificate } = custom;
  if (concrete(domainName) && !HOST_NAME.test(domainName)) {
    throw invalid('customDomain.domainName', `"${domainName}" must be a host name such as auth.example.com`);
  }
  if (typeof certificate === 'string' && concrete(certificate) && !ACM_CERTIFICATE_ARN.test(certificate)) {
    throw invalid('customDomain.certificate', `"${certificate}" must be an ACM certificate ARN`);
  }
  if (concrete(publicBaseUrl) && concrete(domainName) && new URL(publicBaseUrl).hostname !== domainName.toLowerCase()) {
    throw invalid('publicBaseUrl', `"${publicBaseUrl}" must be on the custom domain ${domainName} (or left unset)`);
  }
}

/** The tables and key a deployment takes over instead of creating them. */
function validateExistingResources(props: DynamicsAuthServiceProps): void {
  for (const [name, value] of [
    ['existingSessionsTableName', props.existingSessionsTableName],
    ['existingApiKeysTableName', props.existingApiKeysTableName],
    ['existingPendingLoginsTableName', props.existingPendingLoginsTableName],
  ] as const) {
    if (concrete(value) && !TABLE_NAME.test(value)) throw invalid(name, `"${value}" is not a DynamoDB table name`);
  }
  if (concrete(props.existingKeyArn) && !KMS_KEY_ARN.test(props.existingKeyArn)) {
    throw invalid(
      'existingKeyArn',
      `"${props.existingKeyArn}" must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`,
    );
  }
}

function validateRuntimeOptions(props: DynamicsAuthServiceProps): void {
  const reserved = props.proxyReservedConcurrency;
  if (reserved !== undefined && !(Number.isInteger(reserved) && reserved > 0)) {
    throw invalid('proxyReservedConcurrency', `${reserved} must be a positive integer`);
  }
  if (props.logLevel !== undefined && !LOG_LEVELS.includes(props.logLevel)) {
    throw invalid('logLevel', `"${props.logLevel}" must be one of ${LOG_LEVELS.join(', ')}`);
  }
  if (props.idpProfile !== undefined && !['entra', 'standard'].includes(props.idpProfile)) {
    throw invalid('idpProfile', `"${props.idpProfile}" must be entra or standard`);
  }
  for (const scheme of props.nativeRedirectSchemes ?? []) {
    if (Token.isUnresolved(scheme)) continue;
    if (!NATIVE_REDIRECT_SCHEME.test(scheme)) {
      throw invalid(
        'nativeRedirectSchemes',
        `"${scheme}" must be a private-use scheme in reverse-domain form, such as com.contoso.crmcli`,
      );
    }
  }
}
