/** The thin Stack `cdk deploy` deploys: one `DynamicsAuthService` plus its outputs. */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DynamicsAuthService, type DynamicsAuthServiceProps } from './construct.ts';

export interface DynamicsAuthStackProps extends StackProps {
  readonly service: DynamicsAuthServiceProps;
}

export class DynamicsAuthStack extends Stack {
  readonly service: DynamicsAuthService;

  constructor(scope: Construct, id: string, props: DynamicsAuthStackProps) {
    super(scope, id, {
      description: 'Serverless OAuth 2.0 service for Microsoft Dynamics 365 / Dataverse',
      ...props,
    });
    this.service = new DynamicsAuthService(this, 'Service', props.service);

    new CfnOutput(this, 'ApiUrl', {
      description: 'Execute-api URL of the HTTP API',
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
  }
}
