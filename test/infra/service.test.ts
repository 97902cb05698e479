/**
 * The deployable stack with a confidential client and native redirect schemes: synthesized once (real
 * esbuild bundling of the fourteen handlers, cdk-nag registered as a validation plugin exactly like
 * infra/app.ts) and shared by every test in this file.
 */
import { spawnSync } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { corsFromAllowedReturnUrls, preflightHeaders, responseCorsHeaders } from '../../local/cors.ts';
import { ENCRYPTION_PURPOSE, WEBHOOK_SECRET_PURPOSE } from '../../shared/crypto/context.ts';
import { forwardableRequestHeaders, returnableResponseHeaders } from '../../shared/dataverse/request.ts';
import { CORRELATION_ID_HEADER } from '../../shared/observability/correlation.ts';
import { bundleHandler, LAMBDA_BUNDLE } from '../../infra/bundling.ts';
import { constructIdOf, CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, SAME_SITE_WARNING } from '../../infra/construct.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import {
  allIamStatements,
  asArray,
  containsWildcard,
  FN_NAMES,
  type Fn,
  functionsByName,
  type Json,
  nagFindings,
  newApp,
  NO_BUNDLING,
  PROJECT_ROOT,
  refId,
  resourcesOf,
  roleOf,
  roleStatements,
  ROUTE_KEYS,
  routeTargets,
  ROUTES,
  documentedOperations,
  documentedRequestHeaders,
  samplePath,
  selectRoute,
} from './support.ts';

const SECRET_NAME = 'dynamics-auth/client-secret';
/** The encryption context every use of the token key must carry (shared/crypto/envelope.ts). */
const SESSION_TOKEN_CONTEXT = {
  StringEquals: { 'kms:EncryptionContext:purpose': ENCRYPTION_PURPOSE },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['purpose', 'session'] },
};
/** ... and the context of webhook signing secrets (shared/webhooks/secrets.ts), for the webhooks role only. */
const WEBHOOK_SECRET_CONTEXT = {
  StringEquals: { 'kms:EncryptionContext:purpose': WEBHOOK_SECRET_PURPOSE },
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['purpose', 'owner', 'endpoint'] },
};

let stack: DynamicsAuthStack;
let template: Template;
let assembly: CloudAssembly;
let fns: Record<Fn, string>;
let tableIds: { pendingLogins: string; sessions: string; apiKeys: string };
let keyId: string;

beforeAll(() => {
  const app = newApp();
  stack = new DynamicsAuthStack(app, 'ServiceTest', {
    service: {
      clientId: '11111111-2222-3333-4444-555555555555',
      dynamicsUrl: 'https://org.crm4.dynamics.com/',
      allowedReturnUrls: ['https://app.example.com/return', 'https://app.example.com/other', 'http://localhost:5173'],
      clientSecret: SECRET_NAME,
      throttle: { rateLimit: 25, burstLimit: 60 },
      logRetention: RetentionDays.TWO_WEEKS,
      logLevel: 'DEBUG',
      nativeRedirectSchemes: ['com.contoso.crmcli', 'com.contoso.excel-addin'],
    },
  });
  // Throws if the registered AwsSolutions plugin reports anything unacknowledged.
  assembly = app.synth();
  template = Template.fromStack(stack);
  fns = functionsByName(template);
  tableIds = {
    pendingLogins: stack.resolve(stack.service.tables.pendingLogins.tableName).Ref,
    sessions: stack.resolve(stack.service.tables.sessions.tableName).Ref,
    apiKeys: stack.resolve(stack.service.tables.apiKeys.tableName).Ref,
  };
  keyId = refId(stack.resolve(stack.service.key.keyArn))!;
});

const cors = (): Json =>
  Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Api'))[0]!.Properties.CorsConfiguration;
/** Fetch: response-header names a browser may read without Access-Control-Expose-Headers. */
const CORS_SAFELISTED_RESPONSE_HEADERS = new Set([
  'cache-control',
  'content-language',
  'content-length',
  'content-type',
  'expires',
  'last-modified',
  'pragma',
]);

const fnProps = (name: Fn): Json => resourcesOf(template, 'AWS::Lambda::Function')[fns[name]]!.Properties;

describe('routes', () => {
  it('has exactly the routes of shared/http/routes.ts, each function its own Lambda', () => {
    const routes = resourcesOf(template, 'AWS::ApiGatewayV2::Route');
    expect(
      Object.values(routes)
        .map((r) => r.Properties.RouteKey)
        .sort(),
    ).toEqual([...ROUTE_KEYS].sort());
    // And the two webhook delivery functions (outbox processor, delivery), which serve no route.
    template.resourceCountIs('AWS::Lambda::Function', FN_NAMES.length + 2);
    expect(new Set(Object.values(fns)).size).toBe(FN_NAMES.length);
    for (const name of FN_NAMES) {
      expect(fns[name]).toBe(stack.resolve(stack.service.functions[name].functionArn)['Fn::GetAtt'][0]);
    }
  });

  it('serves every operation of the OpenAPI document with the function that owns its route, and no undocumented route', () => {
    const targets = routeTargets(template);
    const served = new Set<string>();
    for (const op of documentedOperations()) {
      const key = selectRoute(targets.keys(), op.method, samplePath(op.path));
      expect(key, `${op.method} ${op.path}`).toBeDefined();
      served.add(key!);
      const owner = FN_NAMES.find((name) => ROUTES[name].includes(key!));
      expect(targets.get(key!), `${op.method} ${op.path}`).toBe(fns[owner!]);
    }
    expect([...targets.keys()].filter((key) => !served.has(key))).toEqual([]);
  });

  it('routes every route to its function (the three connections routes to one Lambda)', () => {
    const targets = routeTargets(template);
    for (const name of FN_NAMES) {
      for (const key of ROUTES[name]) expect(targets.get(key), key).toBe(fns[name]);
    }
    expect(fns.connections).toMatch(/^ServiceConnectionsFunction/);
    expect(fns['connect-start']).toMatch(/^ServiceConnectStartFunction/);
  });

  it('each route has its own invoke permission, scoped to that route', () => {
    const permissions = Object.values(resourcesOf(template, 'AWS::Lambda::Permission'));
    expect(permissions).toHaveLength(24);
    for (const name of FN_NAMES) {
      const sourceArns = permissions
        .filter((p) => refId(p.Properties.FunctionName) === fns[name])
        .map((p) => {
          expect(p.Properties).toMatchObject({
            Action: 'lambda:InvokeFunction',
            Principal: 'apigateway.amazonaws.com',
          });
          const parts: Json[] = p.Properties.SourceArn['Fn::Join'][1];
          return parts[parts.length - 1] as string;
        });
      // One per route (CDK's permission is method-agnostic, so GET and DELETE /connections/{id} get two
      // identical ones: redundant, harmless).
      expect(sourceArns.sort(), name).toEqual(ROUTES[name].map((key) => `/*/*${key.split(' ')[1]}`).sort());
    }
  });

  it('uses payload format 2.0 Lambda proxy integrations', () => {
    for (const i of Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Integration'))) {
      expect(i.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    }
  });

  it('answers CORS preflights for the allowed origins only, with credentials and the needed headers', () => {
    const api = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Api'));
    expect(api).toHaveLength(1);
    const cors = api[0]!.Properties.CorsConfiguration;
    expect(cors.AllowOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(cors.AllowCredentials).toBe(true);
    // The same lists the proxy filters with and the local server answers with (shared/http/cors.ts).
    expect(cors.AllowHeaders).toEqual(CORS_ALLOW_HEADERS);
    expect(cors.ExposeHeaders).toEqual(CORS_EXPOSE_HEADERS);
    expect(cors.AllowMethods).toEqual(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
    expect(cors.MaxAge).toBe(3600);
    // Credentialed CORS: a "*" would not match anything, so every name is spelled out.
    expect(containsWildcard(cors.AllowOrigins)).toBe(false);
    expect(containsWildcard(cors.AllowHeaders)).toBe(false);
    expect(containsWildcard(cors.ExposeHeaders)).toBe(false);
  });

  it('answers a preflight exactly as the local server does for an allowed origin', () => {
    const cors = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Api'))[0]!.Properties.CorsConfiguration;
    const origin = 'https://app.example.com';
    const local = corsFromAllowedReturnUrls('https://app.example.com/return,http://localhost:5173');
    const request = (headers: Record<string, string>) => ({ method: 'OPTIONS', headers }) as unknown as IncomingMessage;
    const preflight = preflightHeaders(request({ origin, 'access-control-request-method': 'PATCH' }), local);
    const names = (list: string) => list.split(',').map((h) => h.trim().toLowerCase());
    const lower = (list: readonly string[]) => list.map((h) => h.toLowerCase());
    expect(lower(cors.AllowHeaders)).toEqual(names(preflight['access-control-allow-headers']!));
    expect(lower(cors.AllowMethods)).toEqual(names(preflight['access-control-allow-methods']!));
    expect(String(cors.MaxAge)).toBe(preflight['access-control-max-age']);
    const response = responseCorsHeaders(request({ origin }), local);
    expect(lower(cors.ExposeHeaders)).toEqual(names(response['access-control-expose-headers']!));
    expect(cors.AllowOrigins).toEqual([...local.allowOrigins]);
  });

  it('lets a browser send every header the OpenAPI document asks for and every Web API header the proxy forwards', () => {
    const allowed = new Set<string>(cors().AllowHeaders.map((h: string) => h.toLowerCase()));
    // The document's header parameters (X-CSRF, Connection-Id) and, for its bearer schemes, Authorization.
    for (const name of documentedRequestHeaders()) expect(allowed, name).toContain(name.toLowerCase());
    // A browser client's Dataverse Web API requests (Microsoft Learn: "Compose HTTP requests and handle
    // errors", "Impersonate another user", "Use file column data", optional MSCRM.* behaviours).
    const sent: Record<string, string> = {
      Accept: 'application/json',
      'Accept-Language': 'en-US',
      'Content-Type': 'application/json; charset=utf-8',
      'OData-MaxVersion': '4.0',
      'OData-Version': '4.0',
      Prefer: 'odata.include-annotations="*",return=representation',
      'If-Match': '*',
      'If-None-Match': 'W/"123"',
      Consistency: 'Strong',
      MSCRMCallerID: '00000000-0000-0000-0000-000000000001',
      CallerObjectId: '00000000-0000-0000-0000-000000000002',
      'x-ms-transfer-mode': 'chunked',
      'x-ms-file-name': 'report.pdf',
      'Content-Range': 'bytes 0-9/100',
      Range: 'bytes=0-9',
      'MSCRM.SuppressDuplicateDetection': 'false',
      'MSCRM.BypassCustomPluginExecution': 'true',
      'MSCRM.BypassBusinessLogicExecution': 'CustomSync',
      'MSCRM.SolutionUniqueName': 'contoso',
      'MSCRM.MergeLabels': 'true',
    };
    const forwarded = forwardableRequestHeaders(sent, { allowImpersonation: true });
    const fromClient = Object.keys(sent).filter((name) => forwarded.has(name));
    expect(fromClient.length).toBeGreaterThan(0);
    for (const name of fromClient) expect(allowed, name).toContain(name.toLowerCase());
  });

  it('lets a browser read every Dataverse response header the proxy returns', () => {
    const exposed = new Set<string>(cors().ExposeHeaders.map((h: string) => h.toLowerCase()));
    // Headers Dataverse answers with (metadata, file downloads, request ids, service protection limits).
    const dataverse = new Headers({
      'Content-Type': 'application/json; odata.metadata=minimal',
      'Content-Disposition': 'attachment; filename="report.pdf"',
      'Content-Length': '10',
      ETag: 'W/"123"',
      Location: 'https://org.crm4.dynamics.com/api/data/v9.2/accounts(1)',
      'OData-EntityId': 'https://org.crm4.dynamics.com/api/data/v9.2/accounts(1)',
      'OData-Version': '4.0',
      'Preference-Applied': 'return=representation',
      'Retry-After': '5',
      'x-ms-chunk-size': '4194304',
      'x-ms-file-name': 'report.pdf',
      'x-ms-file-size': '10',
      mimetype: 'application/pdf',
      'x-ms-service-request-id': 'abc',
      REQ_ID: 'abc',
      'x-ms-ratelimit-burst-remaining-xrm-requests': '5999',
      'x-ms-ratelimit-time-remaining-xrm-requests': '1199.5',
      'Set-Cookie': 'ARRAffinity=1',
      'Strict-Transport-Security': 'max-age=31536000',
    });
    const returned = Object.keys(returnableResponseHeaders(dataverse)).filter(
      (name) => !CORS_SAFELISTED_RESPONSE_HEADERS.has(name),
    );
    expect(returned.length).toBeGreaterThan(0);
    for (const name of returned) expect(exposed, name).toContain(name);
    // And the correlation id the service adds to every answer.
    expect(exposed).toContain(CORRELATION_ID_HEADER.toLowerCase());
  });
});

describe('stage', () => {
  it('is the auto-deployed $default stage with the configured throttling', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 25, ThrottlingBurstLimit: 60 },
    });
  });

  it('writes JSON access logs (no query strings) to a log group with retention', () => {
    const stage = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'))[0]!.Properties;
    const logGroup = resourcesOf(template, 'AWS::Logs::LogGroup')[refId(stage.AccessLogSettings.DestinationArn)!];
    expect(logGroup?.Properties.RetentionInDays).toBe(14);
    const format = JSON.parse(stage.AccessLogSettings.Format);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      status: '$context.status',
      routeKey: '$context.routeKey',
    });
    expect(stage.AccessLogSettings.Format).not.toMatch(/querystring|header|cookie/i);
  });
});

describe('tables', () => {
  it('are on-demand with TTL on expiresAt, point-in-time recovery and key "id"', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 3);
    for (const [id, t] of Object.entries(resourcesOf(template, 'AWS::DynamoDB::Table'))) {
      expect(t.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        // Sessions also defines its ByTenant index's keys (test/infra/owner-index.test.ts).
        AttributeDefinitions:
          id === tableIds.sessions
            ? [
                { AttributeName: 'id', AttributeType: 'S' },
                { AttributeName: 'tenantKey', AttributeType: 'S' },
                { AttributeName: 'oid', AttributeType: 'S' },
              ]
            : [{ AttributeName: 'id', AttributeType: 'S' }],
      });
    }
  });

  it('retains sessions and API keys but not pending logins when the stack is deleted', () => {
    const tables = resourcesOf(template, 'AWS::DynamoDB::Table');
    expect(tables[tableIds.sessions]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(tables[tableIds.apiKeys]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(tables[tableIds.pendingLogins]).toMatchObject({ DeletionPolicy: 'Delete' });
  });

  it('the API keys table is exposed as tables.apiKeys and has point-in-time recovery', () => {
    const apiKeys = resourcesOf(template, 'AWS::DynamoDB::Table')[tableIds.apiKeys];
    expect(tableIds.apiKeys).toMatch(/^ServiceApiKeys/);
    expect(apiKeys?.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(apiKeys?.Properties.BillingMode).toBe('PAY_PER_REQUEST');
  });
});

describe('key', () => {
  it('is a retained, rotating, symmetric customer-managed key', () => {
    const key = resourcesOf(template, 'AWS::KMS::Key')[keyId]!;
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.Properties.KeySpec ?? 'SYMMETRIC_DEFAULT').toBe('SYMMETRIC_DEFAULT');
    expect(key.DeletionPolicy).toBe('Retain');
  });

  it('key policy: no wildcard actions; data-plane use only by named roles and only for this purpose', () => {
    const statements: Json[] = resourcesOf(template, 'AWS::KMS::Key')[keyId]!.Properties.KeyPolicy.Statement;
    for (const s of statements) {
      expect(containsWildcard(s.Action), JSON.stringify(s.Action)).toBe(false);
      // In a key policy "*" is the only Resource form and means "this key".
      expect(s.Resource).toBe('*');
      const dataPlane = asArray<string>(s.Action).filter((a) =>
        /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt)/.test(a),
      );
      if (dataPlane.length > 0) {
        expect(s.Effect).toBe('Allow');
        expect(JSON.stringify(s.Principal)).not.toMatch(/:root|"\*"/);
        if (s.Sid === 'WebhookSecretSealingForWebhooks') {
          // Only the webhooks role, only to seal, only under the webhook-secret context.
          expect(refId(s.Principal.AWS)).toBe(roleOf(template, fns.webhooks));
          expect(s.Action).toBe('kms:GenerateDataKey');
          expect(s.Condition).toEqual(WEBHOOK_SECRET_CONTEXT);
        } else if (s.Sid === 'WebhookSecretOpeningForDelivery') {
          // Only the webhook delivery role, only to open, only under the webhook-secret context.
          expect(refId(s.Principal.AWS)).toBe(refId(stack.resolve(stack.service.webhooks!.delivery.role!.roleArn)));
          expect(s.Action).toBe('kms:Decrypt');
          expect(s.Condition).toEqual(WEBHOOK_SECRET_CONTEXT);
        } else {
          expect(s.Condition).toEqual(SESSION_TOKEN_CONTEXT);
        }
      } else if (s.Effect === 'Allow') {
        expect(JSON.stringify(s.Principal)).toMatch(/:root/);
      }
    }
  });
});

describe('IAM', () => {
  it('no identity policy has a wildcard action or resource anywhere, but the X-Ray statement of active tracing', () => {
    const statements = allIamStatements(template);
    expect(statements.length).toBeGreaterThan(0);
    // X-Ray's trace-writing actions support no resource-level permissions: "*" is their only resource.
    const isXray = (a: unknown) =>
      JSON.stringify([a].flat().sort()) === JSON.stringify(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(statements.filter(({ statement }) => isXray(statement.Action))).toHaveLength(17);
    for (const { owner, statement } of statements) {
      expect(containsWildcard(statement.Action), `${owner} ${JSON.stringify(statement.Action)}`).toBe(false);
      if (!isXray(statement.Action))
        expect(containsWildcard(statement.Resource), `${owner} ${JSON.stringify(statement.Resource)}`).toBe(false);
      expect(statement.Effect).toBe('Allow');
    }
  });

  it('roles carry no managed policies (no AWSLambdaBasicExecutionRole)', () => {
    for (const r of Object.values(resourcesOf(template, 'AWS::IAM::Role'))) {
      expect(r.Properties.ManagedPolicyArns ?? []).toEqual([]);
    }
  });

  // Which actions each function holds is proven against what its handler really does in
  // test/infra/grants.test.ts; here: the shape of every grant.
  it.each(FN_NAMES)(
    '%s: DynamoDB and KMS actions name exactly a table or the key, KMS only with the encryption context',
    (name) => {
      const known = new Set([tableIds.pendingLogins, tableIds.sessions, tableIds.apiKeys, keyId]);
      for (const s of roleStatements(template, roleOf(template, fns[name]))) {
        for (const action of asArray(s.Action).filter((a) => /^(dynamodb|kms):/.test(a))) {
          for (const resource of asArray(s.Resource)) {
            // Exactly the table/key ARN: a GetAtt Arn, never a Join (that could add /index/* etc.).
            expect(resource['Fn::GetAtt']?.[1], JSON.stringify(resource)).toBe('Arn');
            expect(known.has(refId(resource)!), JSON.stringify(resource)).toBe(true);
            expect(action.startsWith('kms:') ? refId(resource) === keyId : refId(resource) !== keyId, action).toBe(
              true,
            );
          }
          if (action.startsWith('kms:')) {
            expect(s.Condition).toEqual(name === 'webhooks' ? WEBHOOK_SECRET_CONTEXT : SESSION_TOKEN_CONTEXT);
          }
        }
      }
    },
  );

  it.each(FN_NAMES)('%s: writes only to its own log group', (name) => {
    const logGroupId = refId(fnProps(name).LoggingConfig.LogGroup)!;
    const logStatements = roleStatements(template, roleOf(template, fns[name])).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('logs:')),
    );
    expect(logStatements).toHaveLength(1);
    expect(asArray(logStatements[0]!.Action).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(refId(logStatements[0]!.Resource)).toBe(logGroupId);
  });

  it('roles hold nothing but logs, DynamoDB, KMS, client-secret and trace-writing actions', () => {
    for (const name of FN_NAMES) {
      for (const s of roleStatements(template, roleOf(template, fns[name]))) {
        for (const action of asArray(s.Action))
          expect(action, name).toMatch(
            /^((logs|dynamodb|kms|secretsmanager):|xray:Put(TraceSegments|TelemetryRecords)$)/,
          );
      }
    }
  });

  // Which functions read the secret is proven in test/infra/grants.test.ts; here: that a reader reads
  // that secret only, with one action.
  it('a function that may read the client secret reads only that secret', () => {
    let readers = 0;
    for (const name of FN_NAMES) {
      const reads = roleStatements(template, roleOf(template, fns[name])).filter((s) =>
        asArray(s.Action).some((a) => a.startsWith('secretsmanager:')),
      );
      if (reads.length === 0) continue;
      readers += 1;
      expect(reads, name).toHaveLength(1);
      expect(reads[0]!.Action).toBe('secretsmanager:GetSecretValue');
      const resource = JSON.stringify(reads[0]!.Resource);
      // Name-only reference: the secret's ARN plus exactly its random 6-character suffix.
      expect(resource).toContain(`:secret:${SECRET_NAME}-??????`);
    }
    expect(readers).toBeGreaterThan(0);
  });
});

describe('functions', () => {
  // Written out (not read from shared/http/routes.ts), like ROUTES: a sizing change there fails here.
  // Timeouts: 5 s DynamoDB-only; 20 s callback (discovery + token call); 29 s for the functions that
  // may refresh or wait for a refresh lease (HTTP API's integration limit is 30 s).
  const SIZING: Record<Fn, [memory: number, timeout: number]> = {
    login: [256, 5],
    callback: [256, 20],
    'admin-consent': [256, 5],
    refresh: [256, 29],
    proxy: [512, 29],
    session: [256, 5],
    logout: [256, 5],
    token: [256, 5],
    connect: [256, 5],
    'connect-start': [256, 5],
    'connect-environment': [256, 5],
    connections: [256, 29],
    environments: [256, 29],
    webhooks: [256, 5],
    openapi: [128, 5],
  };

  it.each(FN_NAMES)('%s: Node.js 24 on arm64, ESM handler, sized on purpose, own log group', (name) => {
    const p = fnProps(name);
    expect(p.Runtime).toBe('nodejs24.x');
    expect(p.Architectures).toEqual(['arm64']);
    expect(p.Handler).toBe('index.handler');
    expect([p.MemorySize, p.Timeout]).toEqual(SIZING[name]);
    expect(p.Timeout).toBeLessThan(30); // HTTP API integration timeout
    const logGroup = resourcesOf(template, 'AWS::Logs::LogGroup')[refId(p.LoggingConfig.LogGroup)!];
    expect(logGroup?.Properties.RetentionInDays).toBe(14);
  });

  it('every function gets its own log group', () => {
    const groups = FN_NAMES.map((n) => refId(fnProps(n).LoggingConfig.LogGroup));
    expect(new Set(groups).size).toBe(15);
  });

  it.each(FN_NAMES)('%s: environment is the contract', (name) => {
    const env = fnProps(name).Environment.Variables;
    expect(Object.keys(env).sort()).toEqual(
      [
        'ALLOWED_RETURN_URLS',
        'API_KEYS_TABLE',
        'CLIENT_ID',
        'CLIENT_SECRET_ARN',
        'DYNAMICS_URL',
        'ENTRA_AUTHORITY',
        'KMS_KEY_ID',
        'LOG_LEVEL',
        'NATIVE_REDIRECT_SCHEMES',
        'NODE_OPTIONS',
        'PENDING_LOGINS_TABLE',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_SERVICE_NAME',
        'PUBLIC_BASE_URL',
        'SESSIONS_TABLE',
      ].sort(),
    );
    expect(env).toMatchObject({
      ENTRA_AUTHORITY: 'https://login.microsoftonline.com/organizations/v2.0',
      CLIENT_ID: '11111111-2222-3333-4444-555555555555',
      DYNAMICS_URL: 'https://org.crm4.dynamics.com',
      ALLOWED_RETURN_URLS: 'https://app.example.com/return,https://app.example.com/other,http://localhost:5173',
      PENDING_LOGINS_TABLE: { Ref: tableIds.pendingLogins },
      SESSIONS_TABLE: { Ref: tableIds.sessions },
      API_KEYS_TABLE: { Ref: tableIds.apiKeys },
      NATIVE_REDIRECT_SCHEMES: 'com.contoso.crmcli,com.contoso.excel-addin',
      KMS_KEY_ID: { 'Fn::GetAtt': [keyId, 'Arn'] },
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'dynamics-auth',
      LOG_LEVEL: 'DEBUG',
    });
    // PUBLIC_BASE_URL references the Api resource itself (not the stage/routes: no cycle).
    expect(env.PUBLIC_BASE_URL).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/Api/), 'ApiEndpoint'] });
    // By name, never a partial ARN (its "-secret" ending would read as the ARN's random suffix).
    expect(env.CLIENT_SECRET_ARN).toBe(SECRET_NAME);
  });

  it('no function has a plain CLIENT_SECRET variable', () => {
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      expect(Object.keys(fn.Properties.Environment?.Variables ?? {})).not.toContain('CLIENT_SECRET');
    }
    expect(JSON.stringify(template.toJSON())).not.toMatch(/"CLIENT_SECRET"/);
  });
});

describe('alarms', () => {
  const alarms = () => resourcesOf(template, 'AWS::CloudWatch::Alarm');
  /** The alarm whose (single) metric has these dimensions. */
  const alarmOn = (metricName: string, dimensions: Json[]) => {
    const found = Object.values(alarms()).filter(
      (a) =>
        a.Properties.MetricName === metricName &&
        JSON.stringify(a.Properties.Dimensions) === JSON.stringify(dimensions),
    );
    expect(found, `${metricName} ${JSON.stringify(dimensions)}`).toHaveLength(1);
    return found[0]!.Properties;
  };
  // Every alarm: ≥ threshold in one 5-minute period, one datapoint, an idle service is OK.
  const EVALUATION = {
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    EvaluationPeriods: 1,
    DatapointsToAlarm: 1,
    TreatMissingData: 'notBreaching',
  };

  it('38 alarms: Errors and Throttles per function, the API 5xx, DynamoDB throttling per table, three rate alarms, the webhook dead-letter queue', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 15 * 2 + 1 + 3 + 3 + 1);
    const ids = stack.service.alarms.map((a) => refId(stack.resolve(a.alarmArn))!);
    expect(ids.sort()).toEqual(Object.keys(alarms()).sort());
  });

  it.each(FN_NAMES)('%s: Errors ≥ 1 and Throttles ≥ 1 over 5 minutes (Sum), named after the function', (name) => {
    const dims = [{ Name: 'FunctionName', Value: { Ref: fns[name] } }];
    const logGroupId = refId(fnProps(name).LoggingConfig.LogGroup)!;
    for (const metric of ['Errors', 'Throttles']) {
      const a = alarmOn(metric, dims);
      expect(a).toMatchObject({
        ...EVALUATION,
        Namespace: 'AWS/Lambda',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        AlarmName: `ServiceTest-Service-${name}-${metric}`,
      });
      expect(JSON.stringify(a.AlarmDescription)).toContain(`he ${name} function (${ROUTES[name].join(', ')})`);
    }
    // The Errors alarm says where to look: the function's own log group.
    const errors = alarmOn('Errors', dims);
    expect(errors.AlarmDescription['Fn::Join'][1]).toContainEqual({ Ref: logGroupId });
    expect(JSON.stringify(errors.AlarmDescription)).toMatch(/Task timed out.*OutOfMemory/);
  });

  it('API: 5xx ≥ 5 in 5 minutes on the $default stage (AWS/ApiGateway, dimensions ApiId and Stage)', () => {
    const apiId = refId(stack.resolve(stack.service.api.apiId))!;
    const a = alarmOn('5xx', [
      { Name: 'ApiId', Value: { Ref: apiId } },
      { Name: 'Stage', Value: '$default' },
    ]);
    expect(a).toMatchObject({
      ...EVALUATION,
      Namespace: 'AWS/ApiGateway',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 5,
      AlarmName: 'ServiceTest-Service-api-5xx',
    });
    const accessLogsId = refId(stack.resolve(stack.service.accessLogs.logGroupName))!;
    expect(a.AlarmDescription['Fn::Join'][1]).toContainEqual({ Ref: accessLogsId });
  });

  // ThrottledRequests is only published per TableName AND Operation: each alarm sums the operations
  // the functions may call on that table (the IAM contract above), so a throttle on any of them counts.
  const TABLE_OPERATIONS: Record<keyof typeof tableIds, string[]> = {
    pendingLogins: ['DeleteItem', 'GetItem', 'PutItem'],
    sessions: ['DeleteItem', 'GetItem', 'PutItem', 'UpdateItem'],
    apiKeys: ['GetItem', 'PutItem'],
  };

  it.each(Object.keys(TABLE_OPERATIONS) as (keyof typeof tableIds)[])(
    '%s table: ThrottledRequests ≥ 1 over 5 minutes, summed over its operations',
    (key) => {
      const mine = Object.values(alarms()).filter((a) =>
        (a.Properties.Metrics ?? []).some(
          (m: Json) =>
            m.MetricStat && JSON.stringify(m.MetricStat.Metric.Dimensions).includes(`"Ref":"${tableIds[key]}"`),
        ),
      );
      expect(mine).toHaveLength(1);
      const a = mine[0]!.Properties;
      expect(a).toMatchObject({ ...EVALUATION, Threshold: 1 });
      expect(a.MetricName).toBeUndefined();
      const metrics: Json[] = a.Metrics;
      const expression = metrics.filter((m) => m.Expression !== undefined);
      expect(expression).toHaveLength(1);
      expect(expression[0].ReturnData).toBe(true);
      const stats = metrics.filter((m) => m.MetricStat);
      expect(metrics.length).toBeLessThanOrEqual(11); // a metric-math alarm reads at most 10 metrics
      const operations = stats.map((m) => {
        expect(m.ReturnData).toBe(false);
        expect(m.MetricStat).toMatchObject({
          Period: 300,
          Stat: 'Sum',
          Metric: { Namespace: 'AWS/DynamoDB', MetricName: 'ThrottledRequests' },
        });
        const dims = Object.fromEntries(m.MetricStat.Metric.Dimensions.map((d: Json) => [d.Name, d.Value]));
        expect(Object.keys(dims).sort()).toEqual(['Operation', 'TableName']);
        expect(dims.TableName).toEqual({ Ref: tableIds[key] });
        return dims.Operation as string;
      });
      expect(operations.sort()).toEqual(TABLE_OPERATIONS[key]);
      // The expression adds up every one of those metrics (missing values count as 0 in metric math).
      expect(expression[0].Expression.split(' + ').sort()).toEqual(stats.map((m) => m.Id).sort());
      expect(a.AlarmName).toMatch(/^ServiceTest-Service-\w+Table-ThrottledRequests$/);
      expect(JSON.stringify(a.AlarmDescription)).toContain(TABLE_OPERATIONS[key].join(', '));
    },
  );

  it('the table alarms cover every DynamoDB action any role holds on that table', () => {
    const byTable: Record<string, Set<string>> = {};
    const streamReads = new Set<string>();
    for (const { statement } of allIamStatements(template)) {
      for (const action of asArray(statement.Action).filter((x) => x.startsWith('dynamodb:'))) {
        for (const r of asArray(statement.Resource)) {
          // The Sessions stream (the webhook outbox) is read by the outbox processor: no table request.
          if (r?.['Fn::GetAtt']?.[1] === 'StreamArn') streamReads.add(`${refId(r)} ${action}`);
          else (byTable[refId(r)!] ??= new Set()).add(action.slice('dynamodb:'.length));
        }
      }
    }
    for (const [key, ops] of Object.entries(TABLE_OPERATIONS)) {
      expect([...byTable[tableIds[key as keyof typeof tableIds]]!].sort()).toEqual(ops);
    }
    expect([...streamReads].sort()).toEqual(
      ['DescribeStream', 'GetRecords', 'GetShardIterator', 'ListStreams'].map(
        (a) => `${tableIds.sessions} dynamodb:${a}`,
      ),
    );
  });

  it('without an alarm topic: no actions on any alarm, no SNS resources', () => {
    for (const a of Object.values(alarms())) {
      expect(a.Properties.AlarmActions).toBeUndefined();
      expect(a.Properties.OKActions).toBeUndefined();
      expect(a.Properties.InsufficientDataActions).toBeUndefined();
    }
    expect(Object.values(resourcesOf(template)).filter((r) => r.Type.startsWith('AWS::SNS::'))).toEqual([]);
    expect(Object.keys(template.toJSON().Outputs)).not.toContain('AlarmTopicArn');
  });

  it('alarm names are unique and every description says what to look at', () => {
    const names = Object.values(alarms()).map((a) => a.Properties.AlarmName as string);
    expect(new Set(names).size).toBe(names.length);
    for (const a of Object.values(alarms())) {
      expect(JSON.stringify(a.Properties.AlarmDescription)).toMatch(/Look|check/);
    }
  });
});

describe('outputs', () => {
  it('exports ApiUrl and RedirectUri (= PUBLIC_BASE_URL + /auth/callback)', () => {
    const outputs = template.toJSON().Outputs;
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['ApiUrl', 'RedirectUri', 'ApiKeysTable']));
    const endpoint = { 'Fn::GetAtt': [expect.stringMatching(/Api/), 'ApiEndpoint'] };
    expect(outputs.ApiUrl.Value).toEqual(endpoint);
    expect(outputs.RedirectUri.Value).toEqual({ 'Fn::Join': ['', [endpoint, '/auth/callback']] });
  });
});

describe('warnings', () => {
  it('without publicBaseUrl, warns that browser apps on another site never send the SameSite=Lax cookie', () => {
    const warnings = Annotations.fromStack(stack).findWarning('/ServiceTest/Service', Match.stringLikeRegexp('.*'));
    const texts = warnings.map((w) => (typeof w.entry.data === 'string' ? w.entry.data : JSON.stringify(w.entry.data)));
    expect(texts).toHaveLength(1);
    expect(texts[0]).toContain(SAME_SITE_WARNING);
    expect(texts[0]).toContain(
      "Browser apps send the session cookie only to a service on their own site: set publicBaseUrl to a custom domain on the app's site (e.g. auth.example.com for app.example.com), or use bearer/native clients.",
    );
  });
});

describe('cdk-nag (AwsSolutions)', () => {
  it('has zero unacknowledged errors and warnings', () => {
    expect(nagFindings(stack)).toEqual([]);
  });

  it('acknowledges only AwsSolutions-APIG4, once per route, and the X-Ray statement once per role, each with a reason', () => {
    const acks: string[] = [];
    for (const c of stack.node.findAll()) {
      for (const entry of c.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          expect(reason.length, id).toBeGreaterThan(80);
          acks.push(`${id.replace(/^annotation::/i, '')} at ${c.node.path}`);
        }
      }
    }
    expect(acks).toHaveLength(24 + 15 + 2);
    expect(acks.sort()).toEqual(
      [
        ...ROUTE_KEYS.map(
          (key) => `AwsSolutions-APIG4 at ServiceTest/Service/Api/${key.replace(' ', '').replace(/\//g, '--')}`,
        ),
        ...FN_NAMES.map((name) => `AwsSolutions-IAM5[Resource::*] at ServiceTest/Service/${constructIdOf(name)}Role`),
        ...['Outbox', 'Delivery'].map(
          (name) => `AwsSolutions-IAM5[Resource::*] at ServiceTest/Service/Webhooks/${name}Role`,
        ),
      ].sort(),
    );
  });

  it('the APIG4 reason covers the API-key, handoff and session routes', () => {
    const route = stack.node
      .findChild('Service')
      .node.findChild('Api')
      .node.findChild('DELETE--connections--{connectionId}');
    const entry = route.node.metadata.find((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
    const reason = Object.values(entry?.data as Record<string, string>).join(' ');
    for (const phrase of [
      '/connect/sessions',
      '/connections/*',
      'SHA-256',
      '/auth/token',
      'verifier',
      'sessions table',
    ]) {
      expect(reason).toContain(phrase);
    }
  });

  it('a route added later to service.api is still checked (acknowledgments are per route)', () => {
    const app = new App({ context: NO_BUNDLING });
    const other = new DynamicsAuthStack(app, 'Later', {
      service: {
        clientId: 'x',
        dynamicsUrl: 'https://x.crm.dynamics.com',
        allowedReturnUrls: ['https://x.example.com'],
      },
    });
    other.service.api.addRoutes({
      path: '/extra',
      methods: [HttpMethod.GET],
      integration: new HttpLambdaIntegration('Extra', other.service.functions.session),
    });
    expect(nagFindings(other)).toEqual([
      expect.stringMatching(/AwsSolutions-APIG4 at Later\/Service\/Api\/GET--extra/),
    ]);
  });

  it('no AwsSolutions annotations either (cdk-nag v2-style check; v3 reports via the validation plugin)', () => {
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });

  it('the plugin wrote no failing report into the cloud assembly', () => {
    const reportPath = path.join(assembly.directory, 'validation-report.json');
    if (!existsSync(reportPath)) return;
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    const nag = (report.pluginReports ?? []).filter((p: Json) => p.pluginName === 'AwsSolutions');
    for (const p of nag) expect(p.violations).toEqual([]);
  });
});

describe('bundles', () => {
  const assetDir = (name: Fn): string => {
    const key: string = fnProps(name).Code.S3Key;
    return path.join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
  };

  it.each(FN_NAMES)('%s: index.mjs (ESM, createRequire banner, AWS SDK bundled) + source map', (name) => {
    const dir = assetDir(name);
    const code = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
    // (booleans, so a failure does not print a megabyte of minified code)
    expect(code.startsWith(LAMBDA_BUNDLE.banner), 'createRequire banner first').toBe(true);
    expect(/export\s*\{[^}]*\bhandler\b[^}]*\}/.test(code), 'ESM export of handler').toBe(true);
    expect(/(from|import\()\s*["']@aws-sdk\//.test(code), '@aws-sdk left external').toBe(false);
    expect(/\bmodule\.exports\s*=\s*[^;]*handler/.test(code), 'CommonJS handler export').toBe(false);
    expect(code.trimEnd().endsWith('//# sourceMappingURL=index.mjs.map'), 'source map comment').toBe(true);
    expect(existsSync(path.join(dir, 'index.mjs.map'))).toBe(true);
  });

  it('bundleHandler() reproduces the deployed bundle byte for byte, chunks and source maps included', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'dynamics-auth-bundle-'));
    await bundleHandler('functions/callback/handler.ts', out, PROJECT_ROOT);
    // The same bytes and the same (content-hashed) chunk names wherever the bundle is written.
    const outputs = (dir: string) =>
      readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.mjs') || f.endsWith('.map'))
        .sort()
        .map((f) => ({ name: f, code: readFileSync(path.join(dir, f), 'utf8') }));
    const direct = outputs(out);
    const deployed = outputs(assetDir('callback'));
    expect(direct.map((f) => f.name)).toEqual(deployed.map((f) => f.name));
    for (const [i, file] of direct.entries()) {
      expect(file.code === deployed[i]!.code, `${file.name}: direct esbuild output equals the CDK asset`).toBe(true);
    }
  });

  it('proxy: the KMS and Secrets Manager clients and the OAuth library sit in lazily loaded chunks', () => {
    const dir = assetDir('proxy');
    const entry = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
    const chunks = readdirSync(path.join(dir, 'chunks')).filter((f) => f.endsWith('.mjs'));
    const lazy = (needle: string) =>
      chunks.filter((f) => readFileSync(path.join(dir, 'chunks', f), 'utf8').includes(needle));
    // Only dynamic imports lead to them: the entry never imports them statically.
    for (const needle of ['TrentService', 'secretsmanager', 'unexpected JWT "iss"']) {
      const holders = lazy(needle);
      expect(holders.length, needle).toBeGreaterThan(0);
      expect(entry.includes(needle), `${needle} in index.mjs`).toBe(false);
      for (const chunk of holders) {
        expect(
          new RegExp(`import\\s*[^()]*?from\\s*"\\./chunks/${chunk.replace('.', '\\.')}"`).test(entry),
          `${chunk} imported statically`,
        ).toBe(false);
      }
    }
  });

  it('every deployed bundle and each of its chunks loads in a fresh Node.js process', () => {
    for (const name of FN_NAMES) {
      const dir = assetDir(name);
      const chunkDir = path.join(dir, 'chunks');
      const chunks = existsSync(chunkDir) ? readdirSync(chunkDir).filter((f) => f.endsWith('.mjs')) : [];
      const files = [path.join(dir, 'index.mjs'), ...chunks.map((f) => path.join(chunkDir, f))];
      const script = `for (const f of ${JSON.stringify(files)}) await import(f); const m = await import(${JSON.stringify(files[0])}); if (typeof m.handler !== 'function') process.exit(3);`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status, `${name}: ${r.stderr.slice(0, 500)}`).toBe(0);
    }
  });
});
