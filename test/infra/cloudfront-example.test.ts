/**
 * examples/cloudfront-waf.ts: the service behind CloudFront with an AWS WAF rate-based rule,
 * synthesized offline. CloudFront's origin header and the functions' origin check name one secret.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamicsAuthBehindCloudFrontStack } from '../../examples/cloudfront-waf.ts';
import { type Json, nagFindings, newApp, NO_BUNDLING, refId, resourcesOf } from './support.ts';

let stack: DynamicsAuthBehindCloudFrontStack;
let template: Template;
beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  stack = new DynamicsAuthBehindCloudFrontStack(app, 'BehindCloudFront', {
    env: { account: '123456789012', region: 'us-east-1' },
    service: {
      clientId: '11111111-2222-3333-4444-555555555555',
      dynamicsUrl: 'https://org.crm.dynamics.com',
      allowedReturnUrls: ['https://app.example.com'],
    },
    rateLimitPer5Minutes: 300,
  });
  app.synth(); // no dependency cycle, no unacknowledged cdk-nag finding
  template = Template.fromStack(stack);
});

describe('CloudFront + AWS WAF example', () => {
  it('a CLOUDFRONT web ACL with a per-IP rate-based rule is attached to the distribution', () => {
    const acls = resourcesOf(template, 'AWS::WAFv2::WebACL');
    const [aclId, acl] = Object.entries(acls)[0]!;
    expect(Object.keys(acls)).toHaveLength(1);
    expect(acl.Properties.Scope).toBe('CLOUDFRONT');
    expect(acl.Properties.Rules[0]).toMatchObject({
      Statement: { RateBasedStatement: { Limit: 300, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
      Action: { Block: {} },
    });
    const dist = Object.values(resourcesOf(template, 'AWS::CloudFront::Distribution'))[0]!;
    expect(dist.Properties.DistributionConfig.WebACLId).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
  });

  it('CloudFront sends the origin secret as X-Origin-Verify; the functions check the same secret', () => {
    const secretId = Object.keys(resourcesOf(template, 'AWS::SecretsManager::Secret'))[0]!;
    const dist = Object.values(resourcesOf(template, 'AWS::CloudFront::Distribution'))[0]!;
    const origin: Json = dist.Properties.DistributionConfig.Origins[0];
    const header = origin.OriginCustomHeaders.find((h: Json) => h.HeaderName === 'x-origin-verify');
    // A dynamic reference CloudFormation resolves at deploy time: the value is never in the template.
    expect(JSON.stringify(header.HeaderValue)).toMatch(/\{\{resolve:secretsmanager:/);
    expect(JSON.stringify(header.HeaderValue)).toContain(`"Ref":"${secretId}"`);
    expect(origin.CustomOriginConfig.OriginProtocolPolicy).toBe('https-only');
    for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      expect(refId(fn.Properties.Environment.Variables.ORIGIN_VERIFY_SECRET_ID)).toBe(secretId);
      expect(fn.Properties.Environment.Variables.PUBLIC_BASE_URL).toEqual({
        'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [expect.stringMatching(/^Distribution/), 'DomainName'] }]],
      });
    }
  });

  it('forwards everything, caches nothing, answers over HTTPS only', () => {
    const dist = Object.values(resourcesOf(template, 'AWS::CloudFront::Distribution'))[0]!;
    const behavior = dist.Properties.DistributionConfig.DefaultCacheBehavior;
    expect(behavior.AllowedMethods).toEqual(['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE']);
    expect(behavior.ViewerProtocolPolicy).toBe('https-only');
    expect(behavior.CachePolicyId).toBe('4135ea2d-6df8-44a3-9df3-4b5a84be39ad'); // CachingDisabled
  });

  it('is cdk-nag clean', () => {
    expect(nagFindings(stack)).toEqual([]);
  });
});
