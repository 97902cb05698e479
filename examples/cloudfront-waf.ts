/**
 * Worked example: the service behind Amazon CloudFront with AWS WAF rate-based rules. HTTP APIs
 * cannot take a WAF web ACL directly, so the web ACL sits on a CloudFront distribution in front of
 * the API. CloudFront adds a secret `X-Origin-Verify` header to every request it forwards, and every
 * function refuses requests without it (403 `origin_not_verified`), so calling the execute-api
 * endpoint directly does not skip the WAF.
 *
 * A web ACL for CloudFront must live in us-east-1, so this stack is deployed there. To keep the API
 * in another region, put the web ACL in a us-east-1 stack of its own and pass its ARN
 * (`crossRegionReferences`).
 *
 *   npx cdk deploy --app "npx tsx examples/cloudfront-waf.ts" -c clientId=... -c dynamicsUrl=...
 */
import { App, Fn, Lazy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  PriceClass,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DynamicsAuthService, type DynamicsAuthServiceProps } from '../infra/construct.ts';
import { readSettings } from '../infra/settings.ts';
import { ORIGIN_VERIFY_HEADER } from '../shared/http/origin-verify.ts';

export interface CloudFrontWafProps extends StackProps {
  /**
   * The service's settings; `publicBaseUrl` and `originVerifySecret` are set by this stack, and the
   * API keeps its execute-api endpoint (CloudFront's origin), so no API custom domain.
   */
  readonly service: Omit<
    DynamicsAuthServiceProps,
    'publicBaseUrl' | 'originVerifySecret' | 'customDomain' | 'disableExecuteApiEndpoint'
  >;
  /** Requests one client IP may make in any 5-minute window before WAF blocks it. @default 500 */
  readonly rateLimitPer5Minutes?: number;
}

export class DynamicsAuthBehindCloudFrontStack extends Stack {
  readonly service: DynamicsAuthService;
  readonly distribution: Distribution;
  readonly webAcl: CfnWebACL;

  constructor(scope: Construct, id: string, props: CloudFrontWafProps) {
    super(scope, id, props);

    // The header value CloudFront sends and the functions expect: random, never in the template
    // (CloudFormation resolves the dynamic reference when it configures the distribution).
    const originSecret = new Secret(this, 'OriginVerifySecret', {
      description: 'X-Origin-Verify header value CloudFront adds to requests for the Dynamics auth service',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    Validations.of(originSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'No automatic rotation: CloudFront reads the header value only when the distribution is deployed, so a ' +
        'rotation is a new value plus a redeploy of this stack. The functions re-read the secret after a mismatch ' +
        '(at most once a minute), so they follow without a restart.',
    });

    this.webAcl = new CfnWebACL(this, 'RateLimit', {
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${id}-waf`, sampledRequestsEnabled: true },
      rules: [
        {
          name: 'RatePerClientIp',
          priority: 0,
          // Rate-based rule: a client IP above the limit in the evaluation window is blocked (429).
          statement: {
            rateBasedStatement: {
              limit: props.rateLimitPer5Minutes ?? 500,
              evaluationWindowSec: 300,
              aggregateKeyType: 'IP',
            },
          },
          action: { block: { customResponse: { responseCode: 429 } } },
          visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${id}-rate`, sampledRequestsEnabled: true },
        },
      ],
    });

    // PUBLIC_BASE_URL is the distribution's domain, and the distribution's origin is the API: the
    // service takes it lazily (the API resource does not depend on the functions, so no cycle).
    this.service = new DynamicsAuthService(this, 'Service', {
      ...props.service,
      publicBaseUrl: Lazy.string({ produce: () => `https://${this.distribution.distributionDomainName}` }),
      originVerifySecret: originSecret,
    });
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'Dynamics auth service',
      priceClass: PriceClass.PRICE_CLASS_100,
      webAclId: this.webAcl.attrArn,
      defaultBehavior: {
        // apiEndpoint is https://<id>.execute-api.<region>.amazonaws.com: the origin is its host.
        origin: new HttpOrigin(Fn.select(2, Fn.split('/', this.service.api.apiEndpoint)), {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
          customHeaders: { [ORIGIN_VERIFY_HEADER]: originSecret.secretValue.unsafeUnwrap() },
        }),
        allowedMethods: AllowedMethods.ALLOW_ALL,
        // Nothing is cached: every answer is per user (and `Cache-Control: no-store` anyway).
        cachePolicy: CachePolicy.CACHING_DISABLED,
        // Cookies, query strings and headers reach the API; Host stays the API's own.
        originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        // HTTPS only, no redirect: a redirected POST would lose its body.
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      },
    });
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason:
          'No geo restriction: users sign in from wherever they work; abuse is limited by the WAF rate-based rule ' +
          'per client IP and by the API route throttles.',
      },
      {
        id: 'AwsSolutions-CFR3',
        reason:
          'No CloudFront standard logs in this example (they need an S3 bucket with ACLs): every request that reaches ' +
          'the API is in its JSON access log, and WAF keeps sampled requests; add CloudFront logging for edge-level detail.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason:
          'The example uses the default *.cloudfront.net certificate, whose minimum TLS version CloudFront fixes; with ' +
          'your own domain and ACM certificate, set minimumProtocolVersion to TLSv1.2_2021.',
      },
    );
  }
}

/** `cdk deploy --app "npx tsx examples/cloudfront-waf.ts"`: the same settings as infra/app.ts. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const app = new App();
  const settings = readSettings((name) => app.node.tryGetContext(name));
  const {
    publicBaseUrl: _publicBaseUrl,
    originVerifySecret: _originVerifySecret,
    customDomain: _customDomain,
    disableExecuteApiEndpoint: _disableExecuteApiEndpoint,
    ...service
  } = settings.serviceProps;
  new DynamicsAuthBehindCloudFrontStack(app, `${settings.stackName}-CloudFront`, {
    env: { region: 'us-east-1' },
    service,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}
