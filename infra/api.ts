/**
 * The HTTP API in front of the functions: CORS, the `$default` stage with its throttles and JSON
 * access logs, the optional custom domain, the routes of each function (shared/http/routes.ts) and
 * the route-level throttles that keep proxy traffic from starving sign-in.
 */
import { Annotations, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  ApiMapping,
  type CfnStage,
  CorsHttpMethod,
  DomainName,
  EndpointType,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpStage,
  LogGroupLogDestination,
  SecurityPolicy,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
} from '../shared/http/cors.ts';
import { FUNCTIONS, type FunctionName, type FunctionSpec } from '../shared/http/routes.ts';
import type { DynamicsAuthServiceProps, ThrottleProps } from './props.ts';
import { requireHttpUrl, stripTrailingSlash } from './validate.ts';

export const DEFAULT_THROTTLE_RATE = 50;
export const DEFAULT_THROTTLE_BURST = 100;
/** Per-route limits of each route that needs no sign-in (SIGN_IN_FUNCTIONS). */
export const DEFAULT_SIGN_IN_THROTTLE_RATE = 10;
export const DEFAULT_SIGN_IN_THROTTLE_BURST = 20;

/**
 * The functions whose routes anyone may call before signing in (they start or finish a sign-in, or
 * describe the API). Each of their routes gets its own throttle (`signInThrottle`), and so does the
 * proxy route (`throttle`), so a flood on one cannot use up the others' allowance.
 */
export const SIGN_IN_FUNCTIONS: readonly FunctionName[] = [
  'login',
  'callback',
  'token',
  'connect-start',
  'connect-environment',
  'admin-consent',
  'openapi',
];

/**
 * Warning (annotation) when `publicBaseUrl` is not set: the session cookie is `SameSite=Lax`, and the
 * execute-api host is never on the browser app's site.
 */
export const SAME_SITE_WARNING_ID = 'dynamics-auth:same-site-cookie';
export const SAME_SITE_WARNING =
  'Browser apps send the session cookie only to a service on their own site: set publicBaseUrl to a ' +
  "custom domain on the app's site (e.g. auth.example.com for app.example.com), or use bearer/native clients.";

/** Why no route has an API Gateway authorizer (cdk-nag AwsSolutions-APIG4, acknowledged per route). */
const APIG4_REASON =
  'No API Gateway authorizer by design: each function authenticates the caller itself. ' +
  '/auth/login, /auth/callback, /connect/start and /openapi.json must be reachable before sign-in ' +
  '(they start and finish the OAuth flow, or describe the API). /auth/token authenticates with the ' +
  'one-time handoff code plus the PKCE-style verifier. The API-key routes /connect/sessions and ' +
  "/connections/* authenticate the backend's API key in the function (the API keys table stores only " +
  'its SHA-256). The other routes look up the opaque session token (HttpOnly __Host- cookie, with an ' +
  'X-CSRF header on unsafe methods, or a bearer header) in the sessions table. An authorizer could ' +
  'only repeat the same table lookups, adding a hop and cost. (Sign-in is Microsoft Entra ID, not ' +
  'Cognito, so a Cognito authorizer does not apply.)';

/** CORS origins (scheme://host[:port]) of the allowed return URLs, deduplicated, in order. */
export function originsOf(allowedReturnUrls: readonly string[]): string[] {
  const origins = allowedReturnUrls.map((u) => requireHttpUrl('allowedReturnUrls', u, { httpsOnly: false }).origin);
  return [...new Set(origins)];
}

/** The API and where it answers. */
export interface ServiceApi {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  readonly domainName?: DomainName;
  /** The execute-api URL (no trailing slash); the custom domain's URL when that endpoint is off. */
  readonly apiUrl: string;
  /** PUBLIC_BASE_URL: the custom base URL if given, else `apiUrl`. */
  readonly publicBaseUrl: string;
}

/**
 * The API (construct id `Api` in `scope`, named `<stack name>-<id>`), its `$default` stage and custom
 * domain. Created before the functions: PUBLIC_BASE_URL references the Api resource only.
 */
export function defineApi(
  scope: Construct,
  id: string,
  props: DynamicsAuthServiceProps,
  logRetention: RetentionDays,
): ServiceApi {
  const api = new HttpApi(scope, 'Api', {
    apiName: `${Stack.of(scope).stackName}-${id}`,
    description: 'Dynamics 365 / Dataverse OAuth 2.0 service',
    createDefaultStage: false,
    disableExecuteApiEndpoint: props.disableExecuteApiEndpoint ?? props.customDomain !== undefined,
    corsPreflight: {
      allowOrigins: originsOf(props.allowedReturnUrls),
      allowCredentials: true,
      allowHeaders: [...CORS_ALLOW_HEADERS],
      allowMethods: CORS_ALLOW_METHODS.map((m) => CorsHttpMethod[m]),
      exposeHeaders: [...CORS_EXPOSE_HEADERS],
      maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
    },
  });
  const domainUrl = props.customDomain ? `https://${props.customDomain.domainName}` : undefined;
  // With the execute-api endpoint off, the API answers on its custom domain only.
  const apiUrl = api.disableExecuteApiEndpoint && domainUrl ? domainUrl : api.apiEndpoint;
  const publicBaseUrl = props.publicBaseUrl ?? domainUrl;
  // The session cookie is SameSite=Lax, so browsers never send it on cross-site fetch/XHR calls, and
  // *.execute-api.<region>.amazonaws.com is always another site than the app. A warning, not an
  // error: native/CLI/backend clients and bearer tokens work without a custom domain.
  if (!publicBaseUrl) Annotations.of(scope).addWarningV2(SAME_SITE_WARNING_ID, SAME_SITE_WARNING);

  const { stage, accessLogs } = defineStage(scope, api, props, logRetention);
  const domainName = props.customDomain ? defineDomain(scope, api, stage, props.customDomain) : undefined;
  return {
    api,
    stage,
    accessLogs,
    ...(domainName ? { domainName } : {}),
    apiUrl,
    publicBaseUrl: publicBaseUrl ? stripTrailingSlash(publicBaseUrl) : apiUrl,
  };
}

/**
 * The `$default` stage (auto-deployed, stage-wide `throttle`) and its access logs as JSON. Only the
 * path is logged, never the query string (the callback's query carries the authorization code), and
 * no headers (cookies, bearer tokens).
 */
function defineStage(
  scope: Construct,
  api: HttpApi,
  props: DynamicsAuthServiceProps,
  logRetention: RetentionDays,
): { stage: HttpStage; accessLogs: LogGroup } {
  const accessLogs = new LogGroup(scope, 'AccessLogs', {
    retention: logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const stage = new HttpStage(scope, 'DefaultStage', {
    httpApi: api,
    stageName: '$default',
    autoDeploy: true,
    throttle: {
      rateLimit: props.throttle?.rateLimit ?? DEFAULT_THROTTLE_RATE,
      burstLimit: props.throttle?.burstLimit ?? DEFAULT_THROTTLE_BURST,
    },
    accessLogSettings: {
      destination: new LogGroupLogDestination(accessLogs),
      format: AccessLogFormat.custom(
        JSON.stringify({
          requestId: '$context.requestId',
          time: '$context.requestTime',
          ip: '$context.identity.sourceIp',
          userAgent: '$context.identity.userAgent',
          method: '$context.httpMethod',
          routeKey: '$context.routeKey',
          path: '$context.path',
          protocol: '$context.protocol',
          status: '$context.status',
          responseLength: '$context.responseLength',
          responseLatency: '$context.responseLatency',
          integrationStatus: '$context.integrationStatus',
          integrationLatency: '$context.integrationLatency',
          integrationError: '$context.integrationErrorMessage',
          error: '$context.error.message',
        }),
      ),
    },
  });
  return { stage, accessLogs };
}

/** The regional custom domain (TLS 1.2), mapped to the `$default` stage. */
function defineDomain(
  scope: Construct,
  api: HttpApi,
  stage: HttpStage,
  custom: NonNullable<DynamicsAuthServiceProps['customDomain']>,
): DomainName {
  const { domainName, certificate } = custom;
  const domain = new DomainName(scope, 'Domain', {
    domainName,
    certificate:
      typeof certificate === 'string'
        ? Certificate.fromCertificateArn(scope, 'DomainCertificate', certificate)
        : certificate,
    endpointType: EndpointType.REGIONAL,
    securityPolicy: SecurityPolicy.TLS_1_2,
  });
  new ApiMapping(scope, 'DomainMapping', { api, domainName: domain, stage });
  return domain;
}

/**
 * The routes of one function (`spec.routes`), sharing one integration (construct id
 * `<idStem>Integration`); each route still gets its own invoke permission, scoped to its path.
 */
export function addFunctionRoutes(api: HttpApi, spec: FunctionSpec, idStem: string, fn: IFunction): void {
  const integration = new HttpLambdaIntegration(`${idStem}Integration`, fn);
  for (const route of spec.routes) {
    const added = api.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    // cdk-nag (v3 reads CDK's native acknowledgments), per route, so a route someone adds later
    // to `service.api` is still checked.
    for (const r of added) Validations.of(r).acknowledge({ id: 'AwsSolutions-APIG4', reason: APIG4_REASON });
  }
}

/**
 * Route-level throttles (CfnStage RouteSettings, keyed by route key): each sign-in route its own
 * `signInThrottle`, the proxy route its own `throttle`, so proxy traffic cannot starve sign-in.
 */
export function throttleRoutes(
  api: HttpApi,
  stage: HttpStage,
  props: Pick<DynamicsAuthServiceProps, 'throttle' | 'signInThrottle'>,
): void {
  // RouteSettings is untyped JSON in CloudFormation's schema, so CDK passes it as written.
  const routeThrottle = (t: ThrottleProps | undefined, rate: number, burst: number) => ({
    ThrottlingRateLimit: t?.rateLimit ?? rate,
    ThrottlingBurstLimit: t?.burstLimit ?? burst,
  });
  const signIn = routeThrottle(props.signInThrottle, DEFAULT_SIGN_IN_THROTTLE_RATE, DEFAULT_SIGN_IN_THROTTLE_BURST);
  const proxy = routeThrottle(props.throttle, DEFAULT_THROTTLE_RATE, DEFAULT_THROTTLE_BURST);
  const settings: Record<string, ReturnType<typeof routeThrottle>> = {};
  for (const spec of FUNCTIONS) {
    const limits = SIGN_IN_FUNCTIONS.includes(spec.name) ? signIn : spec.name === 'proxy' ? proxy : undefined;
    if (!limits) continue;
    for (const route of spec.routes) settings[`${route.method} ${route.path}`] = limits;
  }
  const cfnStage = stage.node.defaultChild as CfnStage;
  cfnStage.routeSettings = settings;
  // Route settings name routes by key: the stage must not be updated before the routes exist.
  for (const route of api.node.children.filter((c) => c instanceof HttpRoute)) stage.node.addDependency(route);
}
