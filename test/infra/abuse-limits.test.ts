/**
 * Abuse limits in the construct: route-level throttles so proxy traffic cannot starve sign-in, an
 * optional reserved concurrency for the proxy, and the origin secret that lets the functions refuse
 * requests bypassing CloudFront + AWS WAF.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamicsAuthService, type DynamicsAuthServiceProps } from '../../infra/construct.ts';
import { readSettings, type SettingName } from '../../infra/settings.ts';
import {
  asArray,
  FN_NAMES,
  functionsByName,
  type Json,
  nagFindings,
  newApp,
  NO_BUNDLING,
  resourcesOf,
  roleOf,
  roleStatements,
  ROUTE_KEYS,
  documentedOperations,
  samplePath,
  selectRoute,
} from './support.ts';

const BASE: DynamicsAuthServiceProps = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://org.crm.dynamics.com',
  allowedReturnUrls: ['https://app.example.com'],
  publicBaseUrl: 'https://auth.example.com',
};
/**
 * The routes anyone may call before signing in: those serving an operation the OpenAPI document
 * marks `security: []`.
 */
const SIGN_IN_ROUTES = [
  ...new Set(
    documentedOperations()
      .filter((op) => op.public)
      .map((op) => {
        const key = selectRoute(ROUTE_KEYS, op.method, samplePath(op.path));
        if (!key) throw new Error(`no route serves ${op.method} ${op.path}`);
        return key;
      }),
  ),
];

let defaults: Stack;
let tuned: Stack;
beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  defaults = new Stack(app, 'Defaults');
  new DynamicsAuthService(defaults, 'Service', BASE);
  tuned = new Stack(app, 'Tuned');
  new DynamicsAuthService(tuned, 'Service', {
    ...BASE,
    throttle: { rateLimit: 30, burstLimit: 40 },
    signInThrottle: { rateLimit: 3, burstLimit: 6 },
    proxyReservedConcurrency: 25,
    originVerifySecret: 'dynamics-auth/origin-secret',
  });
  app.synth(); // throws on any unacknowledged cdk-nag finding
});

const stage = (stack: Stack): Json =>
  Object.values(resourcesOf(Template.fromStack(stack), 'AWS::ApiGatewayV2::Stage'))[0]!;

describe('route-level throttles (per route, not per client)', () => {
  it('each route that needs no sign-in has its own limit (10/s, burst 20 by default); the proxy route its own', () => {
    const settings = stage(defaults).Properties.RouteSettings;
    expect(Object.keys(settings).sort()).toEqual(
      [...SIGN_IN_ROUTES, 'ANY /api/data/{proxy+}', 'ANY /orgs/{host}/api/data/{proxy+}'].sort(),
    );
    for (const key of SIGN_IN_ROUTES) {
      expect(settings[key], key).toEqual({ ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 });
    }
    expect(settings['ANY /api/data/{proxy+}']).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(settings['ANY /orgs/{host}/api/data/{proxy+}']).toEqual({
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    });
    expect(stage(defaults).Properties.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    });
  });

  it('takes signInThrottle and throttle from the props', () => {
    const settings = stage(tuned).Properties.RouteSettings;
    for (const key of SIGN_IN_ROUTES)
      expect(settings[key]).toEqual({ ThrottlingRateLimit: 3, ThrottlingBurstLimit: 6 });
    expect(settings['ANY /api/data/{proxy+}']).toEqual({ ThrottlingRateLimit: 30, ThrottlingBurstLimit: 40 });
    expect(settings['ANY /orgs/{host}/api/data/{proxy+}']).toEqual({
      ThrottlingRateLimit: 30,
      ThrottlingBurstLimit: 40,
    });
  });

  it('every route key in the route settings is a route of the API, and the stage waits for the routes', () => {
    const template = Template.fromStack(defaults);
    const routes = resourcesOf(template, 'AWS::ApiGatewayV2::Route');
    const keys = Object.values(routes).map((r) => r.Properties.RouteKey);
    for (const key of Object.keys(stage(defaults).Properties.RouteSettings)) expect(keys).toContain(key);
    const stageResource =
      template.toJSON().Resources[Object.keys(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'))[0]!];
    expect(asArray(stageResource.DependsOn)).toEqual(expect.arrayContaining(Object.keys(routes)));
  });
});

describe('proxy reserved concurrency', () => {
  it('is off by default (no function reserves concurrency)', () => {
    for (const fn of Object.values(resourcesOf(Template.fromStack(defaults), 'AWS::Lambda::Function'))) {
      expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
  });

  it('proxyReservedConcurrency reserves it for the proxy only', () => {
    const template = Template.fromStack(tuned);
    const fns = functionsByName(template);
    for (const name of FN_NAMES) {
      const fn = resourcesOf(template, 'AWS::Lambda::Function')[fns[name]]!;
      expect(fn.Properties.ReservedConcurrentExecutions, name).toBe(name === 'proxy' ? 25 : undefined);
    }
  });

  it.each([0, -1, 2.5])('rejects proxyReservedConcurrency=%j', (value) => {
    expect(
      () =>
        new DynamicsAuthService(new Stack(new App({ context: NO_BUNDLING })), 'S', {
          ...BASE,
          proxyReservedConcurrency: value,
        }),
    ).toThrow(/invalid proxyReservedConcurrency/);
  });
});

describe('origin secret (requests must come through CloudFront)', () => {
  it('every function gets ORIGIN_VERIFY_SECRET_ID (the name, never a partial ARN) and may read only that secret', () => {
    const template = Template.fromStack(tuned);
    const fns = functionsByName(template);
    for (const name of FN_NAMES) {
      const fn = resourcesOf(template, 'AWS::Lambda::Function')[fns[name]]!;
      expect(fn.Properties.Environment.Variables.ORIGIN_VERIFY_SECRET_ID, name).toBe('dynamics-auth/origin-secret');
      const reads = roleStatements(template, roleOf(template, fns[name])).filter(
        (s) => s.Sid === 'ReadOriginVerifySecret',
      );
      expect(reads).toHaveLength(1);
      expect(reads[0]!.Action).toBe('secretsmanager:GetSecretValue');
      expect(JSON.stringify(reads[0]!.Resource)).toMatch(/:secret:dynamics-auth\/origin-secret-\?\?\?\?\?\?"/);
    }
  });

  it('without it: no ORIGIN_VERIFY_SECRET_ID and no origin-secret permission', () => {
    const template = Template.fromStack(defaults);
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables).not.toHaveProperty('ORIGIN_VERIFY_SECRET_ID');
    }
    expect(JSON.stringify(template.toJSON())).not.toContain('ReadOriginVerifySecret');
  });

  it('is cdk-nag clean', () => {
    expect(nagFindings(tuned)).toEqual([]);
    expect(nagFindings(defaults)).toEqual([]);
  });
});

describe('settings (CDK context)', () => {
  const read = (ctx: Partial<Record<SettingName, unknown>>) => readSettings((name) => ctx[name]);

  it('reads signInThrottleRate/Burst, proxyReservedConcurrency and originVerifySecretName', () => {
    const props = read({
      signInThrottleRate: '2.5',
      signInThrottleBurst: 5,
      proxyReservedConcurrency: '40',
      originVerifySecretName: 'dynamics-auth/origin-secret',
    }).serviceProps;
    expect(props.signInThrottle).toEqual({ rateLimit: 2.5, burstLimit: 5 });
    expect(props.proxyReservedConcurrency).toBe(40);
    expect(props.originVerifySecret).toBe('dynamics-auth/origin-secret');
  });

  it('defaults: sign-in routes 10/s burst 20, no reserved concurrency, no origin secret', () => {
    const props = read({}).serviceProps;
    expect(props.signInThrottle).toEqual({ rateLimit: 10, burstLimit: 20 });
    expect(props).not.toHaveProperty('proxyReservedConcurrency');
    expect(props).not.toHaveProperty('originVerifySecret');
  });

  it.each<[SettingName, unknown]>([
    ['signInThrottleRate', '0'],
    ['signInThrottleBurst', '1.5'],
    ['proxyReservedConcurrency', '0'],
    ['proxyReservedConcurrency', 'ten'],
    ['originVerifySecretName', 'has spaces'],
    ['originVerifySecretName', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:origin'],
  ])('rejects %s=%j with an error naming it', (name, value) => {
    expect(() => read({ [name]: value })).toThrow(new RegExp(`^Invalid setting "${name}"`));
  });
});
