/**
 * The construct creates the API Gateway custom domain, maps it to the `$default` stage and turns off
 * the execute-api endpoint, so the service answers only on its own domain (opt-out available).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamicsAuthService, type DynamicsAuthServiceProps } from '../../infra/construct.ts';
import { readSettings, type SettingName } from '../../infra/settings.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import { nagFindings, newApp, NO_BUNDLING, refId, resourcesOf } from './support.ts';

const BASE: DynamicsAuthServiceProps = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://org.crm.dynamics.com',
  allowedReturnUrls: ['https://app.example.com'],
};
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666';

let withDomain: DynamicsAuthStack;
let optOut: Stack;
let byCertificate: Stack;
let without: Stack;
beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  withDomain = new DynamicsAuthStack(app, 'WithDomain', {
    service: { ...BASE, customDomain: { domainName: 'auth.example.com', certificate: CERT } },
  });
  optOut = new Stack(app, 'OptOut');
  new DynamicsAuthService(optOut, 'Service', {
    ...BASE,
    customDomain: { domainName: 'auth.example.com', certificate: CERT },
    disableExecuteApiEndpoint: false,
  });
  byCertificate = new Stack(app, 'ByCertificate');
  new DynamicsAuthService(byCertificate, 'Service', {
    ...BASE,
    customDomain: {
      domainName: 'login.example.org',
      certificate: Certificate.fromCertificateArn(byCertificate, 'Cert', CERT),
    },
  });
  without = new Stack(app, 'Without');
  new DynamicsAuthService(without, 'Service', BASE);
  app.synth();
});

const api = (stack: Stack) => Object.values(resourcesOf(Template.fromStack(stack), 'AWS::ApiGatewayV2::Api'))[0]!;

describe('custom domain', () => {
  it('creates the domain (regional, TLS 1.2) with the certificate and maps it to the $default stage', () => {
    const template = Template.fromStack(withDomain);
    const domains = resourcesOf(template, 'AWS::ApiGatewayV2::DomainName');
    const [domainId, domain] = Object.entries(domains)[0]!;
    expect(Object.keys(domains)).toHaveLength(1);
    expect(domain.Properties).toMatchObject({
      DomainName: 'auth.example.com',
      DomainNameConfigurations: [{ CertificateArn: CERT, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' }],
    });
    const mappings = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::ApiMapping'));
    expect(mappings).toHaveLength(1);
    const stageId = Object.keys(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'))[0]!;
    const apiId = Object.keys(resourcesOf(template, 'AWS::ApiGatewayV2::Api'))[0]!;
    expect(refId(mappings[0]!.Properties.DomainName)).toBe(domainId);
    expect(refId(mappings[0]!.Properties.ApiId)).toBe(apiId);
    expect(mappings[0]!.Properties.Stage).toBe('$default');
    const mappingId = Object.keys(resourcesOf(template, 'AWS::ApiGatewayV2::ApiMapping'))[0]!;
    expect(template.toJSON().Resources[mappingId].DependsOn).toContain(stageId);
    expect(mappings[0]!.Properties.ApiMappingKey).toBeUndefined();
  });

  it('disables the execute-api endpoint', () => {
    expect(api(withDomain).Properties.DisableExecuteApiEndpoint).toBe(true);
  });

  it('PUBLIC_BASE_URL and RedirectUri default to https://<domain>; DNS target is an output; no same-site warning', () => {
    const template = Template.fromStack(withDomain);
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables.PUBLIC_BASE_URL).toBe('https://auth.example.com');
    }
    const outputs = template.toJSON().Outputs;
    expect(outputs.RedirectUri.Value).toBe('https://auth.example.com/auth/callback');
    const domainId = Object.keys(resourcesOf(template, 'AWS::ApiGatewayV2::DomainName'))[0]!;
    expect(outputs.CustomDomainTarget.Value).toEqual({ 'Fn::GetAtt': [domainId, 'RegionalDomainName'] });
    expect(outputs.CustomDomainHostedZoneId.Value).toEqual({ 'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'] });
    expect(Annotations.fromStack(withDomain).findWarning('*', Match.stringLikeRegexp('Browser apps send.*'))).toEqual(
      [],
    );
  });

  it('disableExecuteApiEndpoint: false keeps the execute-api endpoint (domain and mapping still created)', () => {
    const template = Template.fromStack(optOut);
    expect(api(optOut).Properties.DisableExecuteApiEndpoint ?? false).toBe(false);
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 1);
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
  });

  it('takes an ICertificate too', () => {
    Template.fromStack(byCertificate).hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'login.example.org',
      DomainNameConfigurations: [{ CertificateArn: CERT }],
    });
  });

  it('without a custom domain: no domain, no mapping, execute-api endpoint on', () => {
    const template = Template.fromStack(without);
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 0);
    expect(api(without).Properties.DisableExecuteApiEndpoint ?? false).toBe(false);
  });

  it('is cdk-nag clean', () => {
    expect(nagFindings(withDomain)).toEqual([]);
    expect(nagFindings(optOut)).toEqual([]);
  });

  it.each([
    [
      { customDomain: { domainName: 'https://auth.example.com', certificate: CERT } },
      /invalid customDomain.domainName/,
    ],
    [
      { customDomain: { domainName: 'auth.example.com', certificate: 'arn:aws:iam::1:cert' } },
      /invalid customDomain.certificate/,
    ],
    [
      {
        customDomain: { domainName: 'auth.example.com', certificate: CERT },
        publicBaseUrl: 'https://other.example.com',
      },
      /invalid publicBaseUrl.*auth\.example\.com/,
    ],
  ] as [Partial<DynamicsAuthServiceProps>, RegExp][])('rejects %j', (props, error) => {
    expect(
      () => new DynamicsAuthService(new Stack(new App({ context: NO_BUNDLING })), 'S', { ...BASE, ...props }),
    ).toThrow(error);
  });
});

describe('settings (CDK context)', () => {
  const read = (ctx: Partial<Record<SettingName, unknown>>) => readSettings((name) => ctx[name]);

  it('domainName + certificateArn become customDomain; disableExecuteApiEndpoint=false opts out', () => {
    expect(read({ domainName: 'auth.example.com', certificateArn: CERT }).serviceProps.customDomain).toEqual({
      domainName: 'auth.example.com',
      certificate: CERT,
    });
    const props = read({
      domainName: 'auth.example.com',
      certificateArn: CERT,
      disableExecuteApiEndpoint: 'false',
    }).serviceProps;
    expect(props.disableExecuteApiEndpoint).toBe(false);
    expect(read({}).serviceProps).not.toHaveProperty('customDomain');
  });

  it.each<[Partial<Record<SettingName, unknown>>, SettingName]>([
    [{ domainName: 'auth.example.com' }, 'certificateArn'],
    [{ certificateArn: CERT }, 'domainName'],
    [{ domainName: 'auth example.com', certificateArn: CERT }, 'domainName'],
    [{ domainName: 'auth.example.com', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:cert' }, 'certificateArn'],
    [{ disableExecuteApiEndpoint: 'maybe' }, 'disableExecuteApiEndpoint'],
  ])('rejects %j naming %s', (ctx, name) => {
    expect(() => read(ctx)).toThrow(new RegExp(`^Invalid setting "${name}"`));
  });
});
