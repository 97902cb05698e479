/**
 * Other shapes of the construct: a public client on a custom domain, a secret given by complete
 * ARN, alarms emailed through an SNS topic (`alarmEmail`), and two independent services in one
 * stack — all stacks of one app, synthesized once. None of
 * these tests reads a bundle (service.test.ts does), so the app skips esbuild bundling altogether.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamicsAuthService, type DynamicsAuthServiceProps, SAME_SITE_WARNING } from '../../infra/construct.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import {
  allIamStatements,
  asArray,
  containsWildcard,
  FN_NAMES,
  functionsByName,
  type Json,
  nagFindings,
  newApp,
  NO_BUNDLING,
  refId,
  resourcesOf,
  roleOf,
  roleStatements,
} from './support.ts';

const BASE: DynamicsAuthServiceProps = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://org.crm.dynamics.com',
  allowedReturnUrls: ['https://app.example.com'],
};
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dynamics/client-AbC123';

// One app holding every variant stack, synthesized once, without bundling (see above).
let publicStack: DynamicsAuthStack;
let byArnStack: DynamicsAuthStack;
let emailStack: DynamicsAuthStack;
let twoStack: Stack;
let sales: DynamicsAuthService;
let support: DynamicsAuthService;
beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  publicStack = new DynamicsAuthStack(app, 'PublicClient', {
    service: { ...BASE, publicBaseUrl: 'https://auth.example.com/' },
  });
  byArnStack = new DynamicsAuthStack(app, 'ByArn', { service: { ...BASE, clientSecret: SECRET_ARN } });
  emailStack = new DynamicsAuthStack(app, 'WithAlarmEmail', { service: BASE, alarmEmail: 'ops@example.com' });
  twoStack = new Stack(app, 'TwoServices');
  sales = new DynamicsAuthService(twoStack, 'Sales', { ...BASE, clientSecret: 'sales/client-secret' });
  support = new DynamicsAuthService(twoStack, 'Support', {
    clientId: '99999999-8888-7777-6666-555555555555',
    dynamicsUrl: 'https://support.crm4.dynamics.com',
    allowedReturnUrls: ['https://support.example.com'],
    throttle: { rateLimit: 5, burstLimit: 10 },
  });
  app.synth(); // throws on any unacknowledged cdk-nag finding
});

describe('public client on a custom domain, default settings', () => {
  let stack: DynamicsAuthStack;
  let template: Template;
  beforeAll(() => {
    stack = publicStack;
    template = Template.fromStack(stack);
  });

  it('PUBLIC_BASE_URL and RedirectUri use the custom domain; ApiUrl stays the execute-api URL', () => {
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables.PUBLIC_BASE_URL).toBe('https://auth.example.com');
    }
    const outputs = template.toJSON().Outputs;
    expect(outputs.RedirectUri.Value).toBe('https://auth.example.com/auth/callback');
    expect(outputs.ApiUrl.Value).toEqual({ 'Fn::GetAtt': [expect.any(String), 'ApiEndpoint'] });
  });

  it('no secret: no CLIENT_SECRET_ARN, no Secrets Manager permission at all', () => {
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      const env = fn.Properties.Environment.Variables;
      expect(env.CLIENT_SECRET_ARN).toBeUndefined();
      expect(env.CLIENT_SECRET).toBeUndefined();
    }
    expect(JSON.stringify(template.toJSON())).not.toContain('secretsmanager');
  });

  it('default throttling, log retention, authority and log level', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    for (const lg of Object.values(resourcesOf(template, 'AWS::Logs::LogGroup'))) {
      expect(lg.Properties.RetentionInDays).toBe(30);
    }
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        ENTRA_AUTHORITY: 'https://login.microsoftonline.com/organizations/v2.0',
        LOG_LEVEL: 'INFO',
      });
    }
  });

  it('no nativeRedirectSchemes: no NATIVE_REDIRECT_SCHEMES variable; the other tables are still wired', () => {
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      const env = fn.Properties.Environment.Variables;
      expect(env).not.toHaveProperty('NATIVE_REDIRECT_SCHEMES');
      expect(env.API_KEYS_TABLE).toEqual({ Ref: expect.stringMatching(/^ServiceApiKeys/) });
    }
  });

  it('is cdk-nag clean', () => {
    expect(nagFindings(stack)).toEqual([]);
  });

  it('with publicBaseUrl, no same-site cookie warning (nor any other warning)', () => {
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });
});

describe('same-site cookie warning', () => {
  it('appears without publicBaseUrl, once per service, on the service construct', () => {
    const warnings = Annotations.fromStack(twoStack).findWarning('*', Match.stringLikeRegexp('Browser apps send.*'));
    expect(warnings.map((w) => w.id).sort()).toEqual(['/TwoServices/Sales', '/TwoServices/Support']);
    for (const w of warnings) expect(w.entry.data).toEqual(expect.stringContaining(SAME_SITE_WARNING));
  });
});

describe('secret given by complete ARN', () => {
  const ARN = SECRET_ARN;
  let template: Template;
  beforeAll(() => {
    template = Template.fromStack(byArnStack);
  });

  it('GetSecretValue on exactly that ARN for callback/refresh/proxy/connections/environments; env CLIENT_SECRET_ARN is the ARN', () => {
    const fns = functionsByName(template);
    for (const name of FN_NAMES) {
      const env = resourcesOf(template, 'AWS::Lambda::Function')[fns[name]]!.Properties.Environment.Variables;
      expect(env.CLIENT_SECRET_ARN).toBe(ARN);
      const reads = roleStatements(template, roleOf(template, fns[name])).filter((s) =>
        asArray(s.Action).includes('secretsmanager:GetSecretValue'),
      );
      const readers = ['callback', 'refresh', 'proxy', 'connections', 'environments', 'logout'];
      expect(reads.map((s) => s.Resource)).toEqual(readers.includes(name) ? [ARN] : []);
    }
  });
});

describe('alarmEmail: alarms notify an SNS topic with an email subscription', () => {
  let template: Template;
  let topicId: string;
  beforeAll(() => {
    template = Template.fromStack(emailStack);
    topicId = refId(emailStack.resolve(emailStack.alarmTopic!.topicArn))!;
  });

  it('one topic, TLS-only, with the email subscription', () => {
    expect(Object.keys(resourcesOf(template, 'AWS::SNS::Topic'))).toEqual([topicId]);
    const subscriptions = Object.values(resourcesOf(template, 'AWS::SNS::Subscription'));
    expect(subscriptions.map((s) => s.Properties)).toEqual([
      { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topicId } },
    ]);
    expect(template.toJSON().Outputs.AlarmTopicArn.Value).toEqual({ Ref: topicId });
  });

  it('every alarm (all 38) notifies the topic on ALARM; the three rate alarms on OK too', () => {
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(38);
    expect(emailStack.service.alarms).toHaveLength(38);
    const rate = /-(refresh-failure-ratio|proxy-latency-p99|api-5xx-ratio)$/;
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
      if (rate.test(a.Properties.AlarmName as string)) expect(a.Properties.OKActions).toEqual([{ Ref: topicId }]);
      else expect(a.Properties.OKActions).toBeUndefined();
    }
    expect(alarms.filter((a) => rate.test(a.Properties.AlarmName as string))).toHaveLength(3);
  });

  it('the topic policy denies non-TLS publishing and lets CloudWatch publish for exactly these alarms', () => {
    const policies = Object.values(resourcesOf(template, 'AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    expect(policies[0]!.Properties.Topics).toEqual([{ Ref: topicId }]);
    const statements: Json[] = policies[0]!.Properties.PolicyDocument.Statement;
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatchObject({
      Effect: 'Deny',
      Action: 'sns:Publish',
      Principal: '*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    const allow = statements[1];
    expect(allow).toMatchObject({
      Effect: 'Allow',
      Action: 'sns:Publish',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Resource: { Ref: topicId },
    });
    expect(allow.Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    const alarmIds = Object.keys(resourcesOf(template, 'AWS::CloudWatch::Alarm')).sort();
    expect(allow.Condition.ArnEquals['aws:SourceArn'].map((arn: Json) => refId(arn)).sort()).toEqual(alarmIds);
    expect(containsWildcard(allow)).toBe(false);
  });

  it('is cdk-nag clean with nothing acknowledged but the per-route APIG4 and the X-Ray statement (SNS3 satisfied by enforceSSL)', () => {
    expect(nagFindings(emailStack)).toEqual([]);
    const acks: string[] = [];
    for (const c of emailStack.node.findAll()) {
      for (const entry of c.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        acks.push(...Object.keys(entry.data as Record<string, string>).map((id) => id.replace(/^annotation::/i, '')));
      }
    }
    expect(new Set(acks)).toEqual(new Set(['AwsSolutions-APIG4', 'AwsSolutions-IAM5[Resource::*]']));
  });

  it('stacks without alarmEmail have no topic and no AlarmTopicArn output', () => {
    for (const s of [publicStack, byArnStack]) {
      expect(s.alarmTopic).toBeUndefined();
      const t = Template.fromStack(s);
      t.resourceCountIs('AWS::SNS::Topic', 0);
      t.resourceCountIs('AWS::CloudWatch::Alarm', 38);
      expect(Object.keys(t.toJSON().Outputs)).not.toContain('AlarmTopicArn');
    }
  });

  it.each(['ops', 'ops@example', 'Ops <ops@example.com>', 'ops@example.com,dev@example.com'])(
    'the stack rejects alarmEmail=%j before creating anything',
    (alarmEmail) => {
      expect(() => new DynamicsAuthStack(new App(), 'Bad', { service: BASE, alarmEmail })).toThrow(
        /invalid alarmEmail/,
      );
    },
  );
});

describe('two independent services in one stack', () => {
  let stack: Stack;
  let template: Template;
  let a: DynamicsAuthService;
  let b: DynamicsAuthService;
  beforeAll(() => {
    stack = twoStack;
    a = sales;
    b = support;
    template = Template.fromStack(stack);
  });

  it('synthesizes two of everything', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 2);
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 2);
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 48);
    // 15 route functions and the two webhook delivery functions, per service.
    template.resourceCountIs('AWS::Lambda::Function', 34);
    template.resourceCountIs('AWS::DynamoDB::Table', 6);
    template.resourceCountIs('AWS::KMS::Key', 2);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 76);
  });

  it('alarm names stay unique: each carries its service’s construct id', () => {
    const names = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).map(
      (r) => r.Properties.AlarmName as string,
    );
    expect(new Set(names).size).toBe(76);
    expect(names.filter((n) => n.startsWith('TwoServices-Sales-'))).toHaveLength(38);
    expect(names.filter((n) => n.startsWith('TwoServices-Support-'))).toHaveLength(38);
  });

  it('each service only touches its own tables, key and secret', () => {
    for (const [service, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const apiId = refId(stack.resolve(service.api.apiId))!;
      const own = new Set(
        [
          service.tables.pendingLogins.tableName,
          service.tables.sessions.tableName,
          service.tables.apiKeys.tableName,
          service.key.keyArn,
          service.api.apiEndpoint,
        ].map((t) => refId(stack.resolve(t))!),
      );
      const foreign = new Set(
        [
          other.tables.pendingLogins.tableName,
          other.tables.sessions.tableName,
          other.tables.apiKeys.tableName,
          other.key.keyArn,
          other.api.apiEndpoint,
        ].map((t) => refId(stack.resolve(t))!),
      );
      const fns = functionsByName(template, apiId);
      for (const name of FN_NAMES) {
        const fn = resourcesOf(template, 'AWS::Lambda::Function')[fns[name]]!;
        const env = fn.Properties.Environment.Variables as Record<string, Json>;
        for (const v of ['PENDING_LOGINS_TABLE', 'SESSIONS_TABLE', 'API_KEYS_TABLE', 'KMS_KEY_ID', 'PUBLIC_BASE_URL']) {
          expect(own.has(refId(env[v])!), `${name} ${v}`).toBe(true);
        }
        const referenced = JSON.stringify(roleStatements(template, roleOf(template, fns[name])));
        for (const f of foreign) expect(referenced).not.toContain(`"${f}"`);
      }
    }
    // Only the Sales service has a secret.
    const salesFns = functionsByName(template, refId(stack.resolve(a.api.apiId)));
    const supportFns = functionsByName(template, refId(stack.resolve(b.api.apiId)));
    const env = (id: string) => resourcesOf(template, 'AWS::Lambda::Function')[id]!.Properties.Environment.Variables;
    expect(env(salesFns.callback).CLIENT_SECRET_ARN).toBe('sales/client-secret');
    expect(env(supportFns.callback).CLIENT_SECRET_ARN).toBeUndefined();
    expect(env(supportFns.callback).CLIENT_ID).toBe('99999999-8888-7777-6666-555555555555');
  });

  it('keeps each service’s own CORS origins and throttling', () => {
    const apis = resourcesOf(template, 'AWS::ApiGatewayV2::Api');
    expect(apis[refId(stack.resolve(a.api.apiId))!]!.Properties.CorsConfiguration.AllowOrigins).toEqual([
      'https://app.example.com',
    ]);
    expect(apis[refId(stack.resolve(b.api.apiId))!]!.Properties.CorsConfiguration.AllowOrigins).toEqual([
      'https://support.example.com',
    ]);
    const rates = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'))
      .map((s) => s.Properties.DefaultRouteSettings.ThrottlingRateLimit)
      .sort((x, y) => x - y);
    expect(rates).toEqual([5, 50]);
  });

  it('is cdk-nag clean and wildcard-free but for the X-Ray statement of active tracing', () => {
    expect(nagFindings(stack)).toEqual([]);
    // X-Ray's trace-writing actions support no resource-level permissions: "*" is the only resource.
    const isXray = (s: { Action?: unknown }) =>
      JSON.stringify([...[s.Action].flat()].sort()) ===
      JSON.stringify(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    const statements = allIamStatements(template);
    expect(statements.filter(({ statement }) => isXray(statement))).toHaveLength(2 * 17);
    for (const { statement } of statements) {
      expect(JSON.stringify(statement.Action)).not.toContain('*');
      if (!isXray(statement)) expect(JSON.stringify(statement.Resource)).not.toContain('*');
    }
  });
});

describe('the cdk-nag check is not vacuous', () => {
  it('reports a wildcard policy that nothing acknowledges', () => {
    const stack = new Stack(new App(), 'Canary');
    new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') }).addToPolicy(
      new PolicyStatement({ actions: ['dynamodb:*'], resources: ['*'] }),
    );
    expect(nagFindings(stack).join('\n')).toMatch(/AwsSolutions-IAM5\[Action::dynamodb:\*\]/);
  });

  it('reports a topic without enforceSSL (SNS3); has no SNS2 rule (the alarm topic is unencrypted on purpose, see infra/stack.ts)', () => {
    const stack = new Stack(new App(), 'TopicCanary');
    new Topic(stack, 'Topic');
    const findings = nagFindings(stack);
    expect(findings).toEqual([expect.stringMatching(/^error AwsSolutions-SNS3 at TopicCanary\/Topic\//)]);
  });
});

describe('construct prop validation (fails before anything is bundled)', () => {
  const make = (props: Partial<DynamicsAuthServiceProps>) => () =>
    new DynamicsAuthService(new Stack(new App(), 'V'), 'S', { ...BASE, ...props });

  it.each([
    [{ allowedReturnUrls: [] }, /invalid allowedReturnUrls/],
    [{ allowedReturnUrls: ['not a url'] }, /invalid allowedReturnUrls/],
    [{ allowedReturnUrls: ['http://app.example.com'] }, /invalid allowedReturnUrls.*https/],
    [{ allowedReturnUrls: ['https://app.example.com/?x=1'] }, /invalid allowedReturnUrls/],
    [{ dynamicsUrl: 'http://org.crm.dynamics.com' }, /invalid dynamicsUrl/],
    [{ clientId: ' ' }, /invalid clientId/],
    [{ entraAuthority: 'login.microsoftonline.com' }, /invalid entraAuthority/],
    [{ throttle: { rateLimit: 0 } }, /invalid throttle.rateLimit/],
    [{ throttle: { burstLimit: 1.5 } }, /invalid throttle.burstLimit/],
    [{ nativeRedirectSchemes: ['crmcli'] }, /invalid nativeRedirectSchemes.*reverse-domain/],
    [{ nativeRedirectSchemes: ['https'] }, /invalid nativeRedirectSchemes/],
    [{ nativeRedirectSchemes: ['com.contoso.app:/callback'] }, /invalid nativeRedirectSchemes/],
    [{ nativeRedirectSchemes: ['com.contoso.a,com.contoso.b'] }, /invalid nativeRedirectSchemes/],
  ] as [Partial<DynamicsAuthServiceProps>, RegExp][])('%j is rejected', (props, error) => {
    expect(make(props)).toThrow(error);
  });
});
