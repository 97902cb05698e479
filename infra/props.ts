/** The props of `DynamicsAuthService` (infra/construct.ts): what a deployment configures. */
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { EntraCloud } from '../shared/config/clouds.ts';
import type { ClientCertificateProps } from './client-assertion-key.ts';
import type { ObservabilityProps } from './observability.ts';

export type LogLevelName = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface ThrottleProps {
  /** Steady-state requests per second for the whole stage. @default 50 */
  readonly rateLimit?: number;
  /** Burst bucket size. @default 100 */
  readonly burstLimit?: number;
}

export interface CustomDomainProps {
  /** The service's host name, e.g. `auth.example.com` (on the browser app's site). */
  readonly domainName: string;
  /**
   * ACM certificate for `domainName`, in the stack's region (a regional API domain): its ARN or an
   * `ICertificate`.
   */
  readonly certificate: string | ICertificate;
}

export interface DynamicsAuthServiceProps extends ObservabilityProps {
  /** Entra app registration's application (client) id. */
  readonly clientId: string;
  /**
   * The default Dataverse environment URL, e.g. `https://contoso.crm.dynamics.com` (DYNAMICS_URL).
   * Unset in multi-environment deployments: callers then choose among their discovered environments.
   * @default - none
   */
  readonly dynamicsUrl?: string;
  /**
   * Microsoft cloud (ENTRA_CLOUD): picks the sign-in host, the discovery URL and the environment hosts.
   * @default - commercial
   */
  readonly entraCloud?: EntraCloud;
  /** Global Discovery Service base URL (DISCOVERY_URL). @default - the cloud's */
  readonly discoveryUrl?: string;
  /** Allowed Dataverse environment host patterns (DATAVERSE_HOSTS), e.g. `*.crm4.dynamics.com`. @default - the cloud's */
  readonly dataverseHosts?: readonly string[];
  /**
   * Origins or URL prefixes that `returnTo` may name (ALLOWED_RETURN_URLS). Their origins are also
   * the only CORS origins the API allows (with credentials).
   */
  readonly allowedReturnUrls: readonly string[];
  /** OIDC issuer base. @default https://login.microsoftonline.com/organizations/v2.0 */
  readonly entraAuthority?: string;
  /**
   * Confidential client: the Secrets Manager secret holding the client secret — a secret name, a
   * complete secret ARN, or an `ISecret`. Only its complete ARN, or its name when the ARN's random
   * suffix is not known, reaches the functions (CLIENT_SECRET_ARN, passed as GetSecretValue's SecretId);
   * callback, refresh, proxy, connections and environments (the functions that call Entra's token
   * endpoint) may `secretsmanager:GetSecretValue` on it, nothing else. Omit for a public client. If the
   * secret is encrypted with a customer-managed KMS key, grant those five roles `kms:Decrypt` on it yourself
   * (`service.functions.callback.role`, …).
   * @default - public client, no secret
   */
  readonly clientSecret?: string | ISecret;
  /**
   * Certificate credentials (recommended over a secret): `private_key_jwt` client assertions signed by
   * an asymmetric KMS key. The functions that call the token endpoint may `kms:Sign` (PS256) with it,
   * nothing else. See docs/deploy.md, "Certificate credentials".
   * @default - no certificate credential
   */
  readonly clientCertificate?: ClientCertificateProps;
  /**
   * TOKEN_ENDPOINT_AUTH_METHOD: `private_key_jwt`, `client_secret_basic`, `client_secret_post` or `none`.
   * @default - chosen from the credentials given and the provider's metadata
   */
  readonly tokenEndpointAuthMethod?: 'private_key_jwt' | 'client_secret_basic' | 'client_secret_post' | 'none';
  /**
   * The service's external base URL (custom domain), without trailing slash. Browser apps need it on
   * their own site (e.g. `https://auth.example.com` for `https://app.example.com`): the session
   * cookie is `SameSite=Lax`, so it is never sent to the execute-api host on cross-site fetch/XHR
   * calls. Without it the construct adds a warning; native/CLI/backend and bearer clients don't need it.
   * @default - the HTTP API's own execute-api URL
   */
  readonly publicBaseUrl?: string;
  /**
   * API Gateway custom domain the construct creates (regional, TLS 1.2) and maps to the `$default`
   * stage. Point a DNS CNAME (or Route 53 alias) for `domainName` at `domainName.regionalDomainName`
   * (the stack's `CustomDomainTarget` output).
   * `publicBaseUrl` then defaults to `https://<domainName>`.
   * @default - no custom domain
   */
  readonly customDomain?: CustomDomainProps;
  /**
   * Turn off the API's default `https://<id>.execute-api.<region>.amazonaws.com` endpoint, so the
   * service answers only on its custom domain. Set `false` to keep both (e.g. while DNS moves).
   * @default - true with `customDomain`, false without
   */
  readonly disableExecuteApiEndpoint?: boolean;
  /**
   * Throttling of the stage's default route settings, which the proxy route (`ANY /api/data/{proxy+}`)
   * also gets as its own route-level limit. API Gateway limits are per route, not per client.
   */
  readonly throttle?: ThrottleProps;
  /**
   * Route-level throttling of each route that needs no sign-in (`SIGN_IN_FUNCTIONS`: login,
   * callback, token, connect-start, openapi), each route its own bucket.
   * @default 10 requests per second, burst 20
   */
  readonly signInThrottle?: ThrottleProps;
  /**
   * Reserved concurrency of the proxy function: a slow Dataverse cannot make the proxy take more
   * than this many concurrent executions from the account (which would throttle every other Lambda
   * function in the region), and the proxy always has them. Lambda keeps 100 executions unreserved,
   * so an account at the default quota of 1,000 can reserve at most 900 in total; new accounts may
   * have a far lower quota and cannot reserve at all.
   * @default - none: the proxy shares the account's unreserved concurrency
   */
  readonly proxyReservedConcurrency?: number;
  /**
   * Secrets Manager secret (name, complete ARN or `ISecret`) holding the value of the
   * `X-Origin-Verify` header that a CloudFront distribution in front of the API adds to every
   * request (an origin custom header). Every function then refuses requests without it (403
   * `origin_not_verified`), so nobody can skip CloudFront and its AWS WAF rules by calling the
   * execute-api endpoint directly. See `examples/cloudfront-waf.ts`.
   * @default - no origin check
   */
  readonly originVerifySecret?: string | ISecret;
  /** Retention of the function and access log groups. @default one month */
  readonly logRetention?: RetentionDays;
  /** POWERTOOLS_SERVICE_NAME. @default dynamics-auth */
  readonly serviceName?: string;
  /** LOG_LEVEL for the functions. @default INFO */
  readonly logLevel?: LogLevelName;
  /**
   * Private-use URI schemes (RFC 8252 §7.1, reverse-domain form such as `com.contoso.crmcli`) that
   * native clients may use as their redirect (NATIVE_REDIRECT_SCHEMES).
   * @default - none: the variable is not set, no native redirect scheme is accepted
   */
  readonly nativeRedirectSchemes?: readonly string[];
  /**
   * IDP_PROFILE: `standard` for an OpenID Provider other than Entra (prompt=consent for a refresh
   * token, no scope on refresh; see docs/configuration.md, "OpenID providers other than Entra").
   * @default 'entra' (the variable is not set)
   */
  readonly idpProfile?: 'entra' | 'standard';
  /**
   * RESOURCE_INDICATOR: the RFC 8707 `resource` sent on authorization and token requests (AD FS:
   * the Dynamics 365 relying party identifier).
   * @default - none
   */
  readonly resourceIndicator?: string;
  /**
   * POST_LOGOUT_REDIRECT_URI: where the provider sends the browser after logout; must be under
   * `allowedReturnUrls` and registered at the provider exactly as written (Entra: a redirect URI).
   * @default - none: the provider's own signed-out page
   */
  readonly postLogoutRedirectUri?: string;
  /**
   * SNS topic that every alarm (`alarms`) notifies when it goes into ALARM. The construct adds a
   * statement to the topic's policy that lets CloudWatch publish for exactly these alarms (a topic
   * policy replaces SNS's default one, so without it CloudWatch could not publish). For an imported
   * topic that is a no-op: its policy must allow `cloudwatch.amazonaws.com` to `sns:Publish`
   * itself, and if it is encrypted with a customer-managed KMS key, the key policy must let
   * CloudWatch use the key (kms:Decrypt, kms:GenerateDataKey*). The AWS managed aws/sns key cannot
   * be used: CloudWatch cannot publish to topics encrypted with it.
   * @default - no notification: the alarms only change state in CloudWatch
   */
  readonly alarmTopic?: ITopic;
  /**
   * Use this existing sessions table (its name) instead of creating one, e.g. the table a deleted
   * or re-created stack retained. It needs partition key `id` (S) and TTL on `expiresAt`.
   * @default - the construct creates the table (retained, deletion protection on)
   */
  readonly existingSessionsTableName?: string;
  /**
   * Use this existing API keys table (its name) instead of creating one (partition key `id` (S)).
   * @default - the construct creates the table (retained, deletion protection on)
   */
  readonly existingApiKeysTableName?: string;
  /**
   * Use this existing symmetric KMS key (its ARN) for the session tokens instead of creating one,
   * e.g. the key a deleted stack retained. Its policy is not edited: add `keyPolicyStatements`
   * (output `TokenKeyPolicyStatements`) to it yourself. The sessions stored under it stay readable
   * only with the same key.
   * @default - the construct creates the key (retained, rotating) and its alias
   */
  readonly existingKeyArn?: string;
  /**
   * Use this existing pending-logins table (its name) instead of creating one, e.g. the Region's
   * replica of a multi-Region global table (infra/multi-region.ts).
   * @default - the construct creates the table (not retained)
   */
  readonly existingPendingLoginsTableName?: string;
  /**
   * Create the token key as a KMS multi-Region primary key (`mrk-` id), so replica keys in other
   * Regions share its key material (https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html).
   * Ignored with `existingKeyArn`. Cannot be changed once the key exists.
   * @default false
   */
  readonly multiRegionKey?: boolean;
  /**
   * Directory holding `functions/<name>/handler.ts` and `package-lock.json`.
   * @default - the repository this file lives in
   */
  readonly projectRoot?: string;
}
