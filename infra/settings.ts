/**
 * Deployment settings for `cdk deploy` / `cdk synth`, read from CDK context (`-c name=value` or the
 * `context` block of cdk.json). Every setting has a placeholder or default so that a fresh clone
 * synthesizes with no context at all; every value is validated with an error naming the setting.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  DEFAULT_SIGN_IN_THROTTLE_BURST,
  DEFAULT_SIGN_IN_THROTTLE_RATE,
  DEFAULT_THROTTLE_BURST,
  DEFAULT_THROTTLE_RATE,
} from './api.ts';
import { DEFAULT_ENTRA_AUTHORITY, DEFAULT_LOG_LEVEL } from './functions.ts';
import type { DynamicsAuthServiceProps, LogLevelName } from './props.ts';
import { ACM_CERTIFICATE_ARN, HOST_NAME, KMS_KEY_ARN, NATIVE_REDIRECT_SCHEME, TABLE_NAME } from './validate.ts';

import { ENTRA_CLOUDS, type EntraCloud } from '../shared/config/clouds.ts';
import { HostPatternError, parseHostPatterns } from '../shared/config/dataverse-hosts.ts';
import {
  type ContextReader,
  flag,
  GUID,
  isEmailAddress,
  positive,
  secretReference,
  SettingsError,
  STACK_NAME,
  text,
  url,
} from './setting-values.ts';
import { withoutTrailingSlash } from '../shared/config/urls.ts';

export { type ContextReader, isEmailAddress, SettingsError } from './setting-values.ts';

export const PLACEHOLDER_CLIENT_ID = '00000000-0000-0000-0000-000000000000';
export const PLACEHOLDER_DYNAMICS_URL = 'https://contoso.crm.dynamics.com';
export const DEFAULT_ALLOWED_RETURN_URLS = 'http://localhost:5173';
export const DEFAULT_STACK_NAME = 'DynamicsAuthService';
export const DEFAULT_LOG_RETENTION_DAYS = 30;

/** Setting name → default, as documented in docs/deploy.md ("2. Deploy"). */
export const SETTINGS = {
  stackName: DEFAULT_STACK_NAME,
  clientId: PLACEHOLDER_CLIENT_ID,
  dynamicsUrl: PLACEHOLDER_DYNAMICS_URL,
  allowedReturnUrls: DEFAULT_ALLOWED_RETURN_URLS,
  entraAuthority: DEFAULT_ENTRA_AUTHORITY,
  entraCloud: undefined,
  discoveryUrl: undefined,
  dataverseHosts: undefined,
  clientSecretName: undefined,
  clientCertificateKey: undefined,
  clientCertificateThumbprint: undefined,
  tokenEndpointAuthMethod: undefined,
  publicBaseUrl: undefined,
  domainName: undefined,
  certificateArn: undefined,
  disableExecuteApiEndpoint: undefined,
  throttleRate: DEFAULT_THROTTLE_RATE,
  throttleBurst: DEFAULT_THROTTLE_BURST,
  signInThrottleRate: DEFAULT_SIGN_IN_THROTTLE_RATE,
  signInThrottleBurst: DEFAULT_SIGN_IN_THROTTLE_BURST,
  proxyReservedConcurrency: undefined,
  originVerifySecretName: undefined,
  logRetentionDays: DEFAULT_LOG_RETENTION_DAYS,
  logLevel: DEFAULT_LOG_LEVEL,
  otelLayerArn: undefined,
  nativeRedirectSchemes: undefined,
  idpProfile: undefined,
  resourceIndicator: undefined,
  postLogoutRedirectUri: undefined,
  alarmEmail: undefined,
  existingSessionsTableName: undefined,
  existingApiKeysTableName: undefined,
  existingKeyArn: undefined,
} as const;

export type SettingName = keyof typeof SETTINGS;

const RETENTION_DAYS = new Set(Object.values(RetentionDays).filter((v): v is number => typeof v === 'number'));

export interface Settings {
  readonly stackName: string;
  readonly serviceProps: DynamicsAuthServiceProps;
  /**
   * Settings still at their placeholder value (deployable, but not a working or production-safe
   * service): clientId, dynamicsUrl, and allowedReturnUrls left at the localhost development default.
   */
  readonly placeholders: SettingName[];
  /** Email address the stack subscribes to its alarm topic; unset means no topic. */
  readonly alarmEmail?: string;
}

const TOKEN_ENDPOINT_AUTH_METHODS = ['private_key_jwt', 'client_secret_basic', 'client_secret_post', 'none'];

/** `clientCertificateKey`: `create` (the construct makes the key) or an existing key's ARN; the thumbprint comes later. */
function readClientCertificate(read: ContextReader): DynamicsAuthServiceProps['clientCertificate'] {
  const key = text(read, 'clientCertificateKey');
  const thumbprintS256 = text(read, 'clientCertificateThumbprint');
  if (key === undefined) {
    if (thumbprintS256 !== undefined) {
      throw new SettingsError(
        'clientCertificateThumbprint',
        thumbprintS256,
        'needs clientCertificateKey (create, or a KMS key ARN)',
      );
    }
    return undefined;
  }
  if (key !== 'create' && !KMS_KEY_ARN.test(key)) {
    throw new SettingsError(
      'clientCertificateKey',
      key,
      'expected create, or the ARN of an asymmetric RSA KMS key (not an alias)',
    );
  }
  if (thumbprintS256 !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(thumbprintS256)) {
    throw new SettingsError(
      'clientCertificateThumbprint',
      thumbprintS256,
      'expected the base64url SHA-256 thumbprint admin cert create prints',
    );
  }
  return { ...(key !== 'create' ? { keyArn: key } : {}), ...(thumbprintS256 !== undefined ? { thumbprintS256 } : {}) };
}

/** `existingSessionsTableName`, `existingApiKeysTableName`, `existingKeyArn`: data a re-created stack takes over. */
function readExistingResources(
  read: ContextReader,
): Partial<Record<'existingSessionsTableName' | 'existingApiKeysTableName' | 'existingKeyArn', string>> {
  const existing: Partial<Record<'existingSessionsTableName' | 'existingApiKeysTableName' | 'existingKeyArn', string>> =
    {};
  for (const name of ['existingSessionsTableName', 'existingApiKeysTableName'] as const) {
    const value = text(read, name);
    if (value === undefined) continue;
    if (!TABLE_NAME.test(value)) throw new SettingsError(name, value, 'expected a DynamoDB table name');
    existing[name] = value;
  }
  const existingKeyArn = text(read, 'existingKeyArn');
  if (existingKeyArn !== undefined) {
    if (!KMS_KEY_ARN.test(existingKeyArn)) {
      throw new SettingsError(
        'existingKeyArn',
        existingKeyArn,
        'expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias',
      );
    }
    existing.existingKeyArn = existingKeyArn;
  }
  return existing;
}

/** `domainName` with its `certificateArn`: both or neither. */
function readCustomDomain(read: ContextReader): { domainName: string; certificate: string } | undefined {
  const domainName = text(read, 'domainName');
  const certificateArn = text(read, 'certificateArn');
  if (domainName !== undefined && !HOST_NAME.test(domainName)) {
    throw new SettingsError('domainName', domainName, 'expected a host name such as auth.example.com');
  }
  if (certificateArn !== undefined && !ACM_CERTIFICATE_ARN.test(certificateArn)) {
    throw new SettingsError(
      'certificateArn',
      certificateArn,
      'expected an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)',
    );
  }
  if (domainName !== undefined && certificateArn === undefined) {
    throw new SettingsError(
      'certificateArn',
      '',
      'domainName needs the ACM certificate for it, in the deployment region',
    );
  }
  if (certificateArn !== undefined && domainName === undefined) {
    throw new SettingsError('domainName', '', 'certificateArn is only used with domainName');
  }
  return domainName !== undefined && certificateArn !== undefined
    ? { domainName, certificate: certificateArn }
    : undefined;
}

/** `nativeRedirectSchemes`: comma-separated private-use schemes (RFC 8252 §7.1). */
function readNativeRedirectSchemes(read: ContextReader): string[] {
  // Comma-separated; schemes are case-insensitive (RFC 3986), so they are lowercased and deduplicated.
  const schemesRaw = text(read, 'nativeRedirectSchemes');
  const nativeRedirectSchemes = [
    ...new Set(
      (schemesRaw ?? '')
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== ''),
    ),
  ];
  for (const scheme of nativeRedirectSchemes) {
    if (!NATIVE_REDIRECT_SCHEME.test(scheme)) {
      throw new SettingsError(
        'nativeRedirectSchemes',
        scheme,
        'expected comma-separated private-use URI schemes in reverse-domain form, such as com.contoso.crmcli',
      );
    }
  }
  return nativeRedirectSchemes;
}

/** Parses and validates all settings. Throws `SettingsError` naming the first bad one. */
export function readSettings(read: ContextReader): Settings {
  const placeholders: SettingName[] = [];

  const stackName = text(read, 'stackName') ?? DEFAULT_STACK_NAME;
  if (!STACK_NAME.test(stackName)) {
    throw new SettingsError('stackName', stackName, 'letters, digits and hyphens, starting with a letter');
  }

  const clientId = text(read, 'clientId') ?? PLACEHOLDER_CLIENT_ID;
  if (!GUID.test(clientId)) {
    throw new SettingsError('clientId', clientId, "expected the app registration's Application (client) ID, a GUID");
  }
  if (clientId === PLACEHOLDER_CLIENT_ID) placeholders.push('clientId');

  const entraCloud = text(read, 'entraCloud')?.toLowerCase();
  if (entraCloud !== undefined && !(ENTRA_CLOUDS as string[]).includes(entraCloud)) {
    throw new SettingsError('entraCloud', entraCloud, `one of ${ENTRA_CLOUDS.join(', ')}`);
  }
  const discoveryUrlRaw = text(read, 'discoveryUrl');
  const discoveryUrl =
    discoveryUrlRaw === undefined
      ? undefined
      : url('discoveryUrl', discoveryUrlRaw, { httpsOnly: true, pathAllowed: false });
  const hostsRaw = text(read, 'dataverseHosts');
  const dataverseHosts = hostsRaw
    ?.split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  if (dataverseHosts !== undefined) {
    try {
      parseHostPatterns(dataverseHosts, false);
    } catch (err) {
      if (err instanceof HostPatternError) throw new SettingsError('dataverseHosts', hostsRaw, err.message);
      throw err;
    }
  }
  // A multi-environment deployment (any of the three set) needs no default environment.
  const multiEnvironment = entraCloud !== undefined || discoveryUrl !== undefined || dataverseHosts !== undefined;
  const dynamicsUrlRaw = text(read, 'dynamicsUrl') ?? (multiEnvironment ? undefined : PLACEHOLDER_DYNAMICS_URL);
  const dynamicsUrl =
    dynamicsUrlRaw === undefined
      ? undefined
      : url('dynamicsUrl', dynamicsUrlRaw, { httpsOnly: true, pathAllowed: false });
  if (dynamicsUrl === PLACEHOLDER_DYNAMICS_URL) placeholders.push('dynamicsUrl');

  const allowedRaw = text(read, 'allowedReturnUrls') ?? DEFAULT_ALLOWED_RETURN_URLS;
  const allowedReturnUrls = allowedRaw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (allowedReturnUrls.length === 0) {
    throw new SettingsError('allowedReturnUrls', allowedRaw, 'name at least one origin or URL prefix');
  }
  for (const u of allowedReturnUrls) {
    if (u.includes('*')) throw new SettingsError('allowedReturnUrls', u, 'wildcards are not allowed');
    url('allowedReturnUrls', u, { httpsOnly: false, pathAllowed: true });
  }
  // The development default: a deploy that keeps it trusts http://localhost:5173 for CORS (with
  // credentials), the CSRF origin check and returnTo, so it is reported like the other placeholders.
  if (allowedReturnUrls.every((u) => withoutTrailingSlash(u) === DEFAULT_ALLOWED_RETURN_URLS)) {
    placeholders.push('allowedReturnUrls');
  }

  const entraAuthority = url('entraAuthority', text(read, 'entraAuthority') ?? DEFAULT_ENTRA_AUTHORITY, {
    httpsOnly: false,
    pathAllowed: true,
  });

  const clientSecretName = secretReference(read, 'clientSecretName');
  const originVerifySecretName = secretReference(read, 'originVerifySecretName');

  const clientCertificate = readClientCertificate(read);
  const tokenEndpointAuthMethod = text(read, 'tokenEndpointAuthMethod');
  if (tokenEndpointAuthMethod !== undefined && !TOKEN_ENDPOINT_AUTH_METHODS.includes(tokenEndpointAuthMethod)) {
    throw new SettingsError(
      'tokenEndpointAuthMethod',
      tokenEndpointAuthMethod,
      `expected one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}`,
    );
  }

  const publicBaseUrlRaw = text(read, 'publicBaseUrl');
  const publicBaseUrl =
    publicBaseUrlRaw === undefined
      ? undefined
      : url('publicBaseUrl', publicBaseUrlRaw, { httpsOnly: false, pathAllowed: true });

  const customDomain = readCustomDomain(read);
  const disableExecuteApiEndpoint = flag(read, 'disableExecuteApiEndpoint');

  const rateLimit = positive(read, 'throttleRate', DEFAULT_THROTTLE_RATE, false);
  const burstLimit = positive(read, 'throttleBurst', DEFAULT_THROTTLE_BURST, true);
  const signInRateLimit = positive(read, 'signInThrottleRate', DEFAULT_SIGN_IN_THROTTLE_RATE, false);
  const signInBurstLimit = positive(read, 'signInThrottleBurst', DEFAULT_SIGN_IN_THROTTLE_BURST, true);
  const proxyReservedConcurrency =
    text(read, 'proxyReservedConcurrency') === undefined
      ? undefined
      : positive(read, 'proxyReservedConcurrency', 0, true);

  const retention = positive(read, 'logRetentionDays', DEFAULT_LOG_RETENTION_DAYS, true);
  if (!RETENTION_DAYS.has(retention)) {
    throw new SettingsError(
      'logRetentionDays',
      retention,
      `CloudWatch Logs accepts ${[...RETENTION_DAYS].sort((a, b) => a - b).join(', ')}`,
    );
  }

  const logLevel = (text(read, 'logLevel') ?? DEFAULT_LOG_LEVEL).toUpperCase();
  if (!['DEBUG', 'INFO', 'WARN', 'ERROR'].includes(logLevel)) {
    throw new SettingsError('logLevel', logLevel, 'expected DEBUG, INFO, WARN or ERROR');
  }

  // The Region's AWSOpenTelemetryDistroJs layer (checked by the construct): exports the service's spans to X-Ray.
  const otelLayerArn = text(read, 'otelLayerArn');

  const nativeRedirectSchemes = readNativeRedirectSchemes(read);

  // IDP_PROFILE, RESOURCE_INDICATOR and POST_LOGOUT_REDIRECT_URI: the URLs are passed verbatim, as
  // providers compare them exactly (the functions check the redirect against allowedReturnUrls).
  const idpProfile = text(read, 'idpProfile')?.toLowerCase();
  if (idpProfile !== undefined && idpProfile !== 'entra' && idpProfile !== 'standard') {
    throw new SettingsError('idpProfile', idpProfile, 'expected entra or standard');
  }
  const resourceIndicator = text(read, 'resourceIndicator');
  if (resourceIndicator !== undefined)
    url('resourceIndicator', resourceIndicator, { httpsOnly: true, pathAllowed: true });
  const postLogoutRedirectUri = text(read, 'postLogoutRedirectUri');
  if (postLogoutRedirectUri !== undefined) {
    url('postLogoutRedirectUri', postLogoutRedirectUri, { httpsOnly: false, pathAllowed: true });
  }

  const existing = readExistingResources(read);

  const alarmEmail = text(read, 'alarmEmail');
  if (alarmEmail !== undefined && !isEmailAddress(alarmEmail)) {
    throw new SettingsError('alarmEmail', alarmEmail, 'expected one email address, such as ops@example.com');
  }

  return {
    stackName,
    placeholders,
    ...(alarmEmail !== undefined ? { alarmEmail } : {}),
    serviceProps: {
      clientId,
      ...(dynamicsUrl !== undefined ? { dynamicsUrl } : {}),
      allowedReturnUrls,
      ...(entraCloud !== undefined && text(read, 'entraAuthority') === undefined ? {} : { entraAuthority }),
      ...(entraCloud !== undefined ? { entraCloud: entraCloud as EntraCloud } : {}),
      ...(discoveryUrl !== undefined ? { discoveryUrl } : {}),
      ...(dataverseHosts !== undefined ? { dataverseHosts } : {}),
      ...(clientSecretName !== undefined ? { clientSecret: clientSecretName } : {}),
      ...(clientCertificate !== undefined ? { clientCertificate } : {}),
      ...(tokenEndpointAuthMethod !== undefined
        ? { tokenEndpointAuthMethod: tokenEndpointAuthMethod as DynamicsAuthServiceProps['tokenEndpointAuthMethod'] }
        : {}),
      ...(publicBaseUrl !== undefined ? { publicBaseUrl } : {}),
      ...(customDomain !== undefined ? { customDomain } : {}),
      ...(disableExecuteApiEndpoint !== undefined ? { disableExecuteApiEndpoint } : {}),
      throttle: { rateLimit, burstLimit },
      signInThrottle: { rateLimit: signInRateLimit, burstLimit: signInBurstLimit },
      ...(proxyReservedConcurrency !== undefined ? { proxyReservedConcurrency } : {}),
      ...(originVerifySecretName !== undefined ? { originVerifySecret: originVerifySecretName } : {}),
      logRetention: retentionDaysOf(retention),
      logLevel: logLevel as LogLevelName,
      ...(otelLayerArn !== undefined ? { otelLayerArn } : {}),
      ...(nativeRedirectSchemes.length > 0 ? { nativeRedirectSchemes } : {}),
      ...(idpProfile !== undefined ? { idpProfile: idpProfile } : {}),
      ...(resourceIndicator !== undefined ? { resourceIndicator } : {}),
      ...(postLogoutRedirectUri !== undefined ? { postLogoutRedirectUri } : {}),
      ...existing,
    },
  };
}

/** The `RetentionDays` member of a day count already checked against RETENTION_DAYS. */
function retentionDaysOf(days: number): RetentionDays {
  const member = (Object.values(RetentionDays) as unknown[]).find((v): v is RetentionDays => v === days);
  if (member === undefined) throw new Error(`${days} is not a CloudWatch Logs retention period`);
  return member;
}
