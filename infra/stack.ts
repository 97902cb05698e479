/**
 * The thin Stack `cdk deploy` deploys: one `DynamicsAuthService` plus its outputs, and, with
 * `alarmEmail`, an SNS topic that emails the service's alarms.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { DynamicsAuthService, type DynamicsAuthServiceProps } from './construct.ts';
import { isEmailAddress } from './settings.ts';

export interface DynamicsAuthStackProps extends StackProps {
  readonly service: DynamicsAuthServiceProps;
  /**
   * Email address to notify of the service's alarms: the stack creates an SNS topic (TLS-only) with
   * this email subscription and passes it as the service's `alarmTopic`. AWS emails a confirmation
   * link first; nothing is delivered until it is confirmed.
   * @default - no topic: the alarms only change state in CloudWatch
   */
  readonly alarmEmail?: string;
}

export class DynamicsAuthStack extends Stack {
  readonly service: DynamicsAuthService;
  /** The alarm topic, if `alarmEmail` was given. */
  readonly alarmTopic?: Topic;

  constructor(scope: Construct, id: string, props: DynamicsAuthStackProps) {
    const { service, alarmEmail, ...stackProps } = props;
    super(scope, id, {
      description: 'Serverless OAuth 2.0 service for Microsoft Dynamics 365 / Dataverse',
      ...stackProps,
    });
    if (alarmEmail !== undefined) {
      if (!isEmailAddress(alarmEmail)) {
        throw new Error(`DynamicsAuthStack: invalid alarmEmail: "${alarmEmail}" is not an email address`);
      }
      // TLS only (cdk-nag AwsSolutions-SNS3). No KMS encryption at rest, on purpose: the topic
      // carries only CloudWatch alarm notifications (alarm name, description, state, metric and
      // threshold; no tokens, secrets or user data), which leave SNS as plain email anyway. The AWS
      // managed aws/sns key cannot be used (CloudWatch cannot publish to topics encrypted with it),
      // and the service's key is reserved for session tokens (its policy allows data-plane use only
      // with their encryption context), so it would take a dedicated customer-managed key ($1/month)
      // protecting nothing confidential. (cdk-nag 3's AwsSolutions pack has no SNS2 rule any more;
      // test/infra/variants.test.ts notices if it comes back.)
      this.alarmTopic = new Topic(this, 'AlarmTopic', {
        displayName: 'Dynamics auth service alarms',
        enforceSSL: true,
      });
      this.alarmTopic.addSubscription(new EmailSubscription(alarmEmail));
    }
    this.service = new DynamicsAuthService(this, 'Service', {
      ...service,
      ...(this.alarmTopic ? { alarmTopic: this.alarmTopic } : {}),
    });

    new CfnOutput(this, 'ApiUrl', {
      description: 'URL of the HTTP API (execute-api, or the custom domain when the execute-api endpoint is off)',
      value: this.service.apiUrl,
    });
    new CfnOutput(this, 'RedirectUri', {
      description: 'Redirect URI to register on the Entra app registration',
      value: this.service.redirectUri,
    });
    new CfnOutput(this, 'ApiKeysTable', {
      description: 'API keys table, for `npm run admin -- keys ...` (API_KEYS_TABLE)',
      value: this.service.tables.apiKeys.tableName,
    });
    new CfnOutput(this, 'SessionsTable', {
      description: 'Sessions table (retained; pass as existingSessionsTableName to a re-created stack)',
      value: this.service.tables.sessions.tableName,
    });
    new CfnOutput(this, 'TokenKeyArn', {
      description: 'Session-token KMS key (retained; pass as existingKeyArn to a re-created stack)',
      value: this.service.key.keyArn,
    });
    if (!this.service.keyAlias) {
      new CfnOutput(this, 'TokenKeyPolicyStatements', {
        description: "Statements to add to the existing key's policy so the functions can use it",
        value: this.toJsonString(this.service.keyPolicyStatements.map((st): unknown => st.toStatementJson())),
      });
      new CfnOutput(this, 'WebhookKeyPolicyStatements', {
        description: "Statements to add to the existing key's policy so webhook secrets can be sealed and opened",
        value: this.toJsonString(this.service.webhookKeyPolicyStatements.map((st): unknown => st.toStatementJson())),
      });
    }
    if (this.service.domainName) {
      new CfnOutput(this, 'CustomDomainTarget', {
        description: 'Point a DNS CNAME (or Route 53 alias) for the custom domain at this name',
        value: this.service.domainName.regionalDomainName,
      });
      new CfnOutput(this, 'CustomDomainHostedZoneId', {
        description: 'Hosted zone id of CustomDomainTarget (for a Route 53 alias record)',
        value: this.service.domainName.regionalHostedZoneId,
      });
    }
    if (this.service.clientAssertionKey) {
      new CfnOutput(this, 'ClientAssertionKeyArn', {
        description: 'KMS key that signs client assertions, for `npm run admin -- cert create --key <it>`',
        value: this.service.clientAssertionKey.key.keyArn,
      });
    }
    if (this.alarmTopic) {
      new CfnOutput(this, 'AlarmTopicArn', {
        description: 'SNS topic the alarms notify (add more subscriptions to it if needed)',
        value: this.alarmTopic.topicArn,
      });
    }
  }
}
