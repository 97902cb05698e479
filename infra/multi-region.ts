/**
 * Active-active over AWS Regions: one stack per Region from one CDK app, over one store (DynamoDB
 * global tables with multi-Region strong consistency, MRSC) and one key (a KMS multi-Region key and
 * its replicas), behind Route 53 latency records with health checks. See docs/multi-region.md.
 */
import { CfnOutput, Lazy, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { ApiMapping, DomainName, EndpointType, SecurityPolicy } from 'aws-cdk-lib/aws-apigatewayv2';
import { Certificate, CertificateValidation } from 'aws-cdk-lib/aws-certificatemanager';
import { AttributeType, Billing, MultiRegionConsistency, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { CfnReplicaKey } from 'aws-cdk-lib/aws-kms';
import {
  ARecord,
  HealthCheck,
  HealthCheckType,
  HostedZone,
  type IHostedZone,
  RecordTarget,
} from 'aws-cdk-lib/aws-route53';
import { ApiGatewayv2DomainProperties } from 'aws-cdk-lib/aws-route53-targets';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { API_KEYS_TABLE, PENDING_LOGINS_TABLE, SESSIONS_TABLE, type TableDefinition } from '../shared/stores/tables.ts';
import { addOwnerIndex } from './owner-index.ts';
import { DynamicsAuthService, type DynamicsAuthServiceProps } from './construct.ts';
import { KEY_ADMIN_ACTIONS } from './token-key.ts';
import { assertionKeyPolicy } from './client-assertion-key.ts';
import { ExpiredRowSweeper } from './expired-row-sweeper.ts';
import { keyAdministrationStatement } from './key-administration.ts';

/**
 * The Region sets MRSC global tables support: every replica and the witness must be in one set
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-dynamodb-globaltable-globaltablewitness.html).
 */
export const MRSC_REGION_SETS: readonly (readonly string[])[] = [
  ['us-east-1', 'us-east-2', 'us-west-2'],
  ['eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1'],
  ['ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3'],
];

/** The route Route 53 probes in each Region: no sign-in, no store access, a static document. */
export const HEALTH_CHECK_PATH = '/openapi.json';

export interface MultiRegionPlan {
  /** Regions that serve traffic; the first is the primary (it holds the global tables and the primary key). */
  readonly regions: readonly string[];
  /** The MRSC witness Region, with exactly two serving Regions. */
  readonly witnessRegion?: string;
  /** Route 53 zone of the custom domain: the per-Region certificates, latency records and health checks live in it. */
  readonly hostedZone?: { readonly hostedZoneId: string; readonly zoneName: string };
}

export class MultiRegionError extends Error {
  override name = 'MultiRegionError';
}

/**
 * Validates a Region plan against MRSC's documented limits: exactly three replicas, or two plus a
 * witness, all in one supported Region set
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/multi-region-strong-consistency-gt.html).
 */
export function multiRegionPlan(
  regions: readonly string[],
  witnessRegion?: string,
  hostedZone?: MultiRegionPlan['hostedZone'],
): MultiRegionPlan {
  const all = [...regions, ...(witnessRegion ? [witnessRegion] : [])];
  if (new Set(all).size !== all.length)
    throw new MultiRegionError(`regions and witnessRegion must all differ: ${all.join(',')}`);
  if (!(regions.length === 3 && !witnessRegion) && !(regions.length === 2 && witnessRegion)) {
    throw new MultiRegionError(
      `multi-Region strong consistency needs exactly three regions, or two regions and a witnessRegion (got ${regions.length} region(s)${witnessRegion ? ' and a witness' : ''})`,
    );
  }
  if (!MRSC_REGION_SETS.some((set) => all.every((r) => set.includes(r)))) {
    throw new MultiRegionError(
      `${all.join(',')} are not in one Region set that supports multi-Region strong consistency: ${MRSC_REGION_SETS.map((s) => s.join(',')).join(' | ')}`,
    );
  }
  return { regions: [...regions], ...(witnessRegion ? { witnessRegion } : {}), ...(hostedZone ? { hostedZone } : {}) };
}

/** The physical name every Region's replica of a table has (one global table, one name). */
export function globalTableName(stackName: string, def: TableDefinition): string {
  return `${stackName}-${def.logicalName}`;
}

export interface DynamicsAuthRegionStackProps extends StackProps {
  readonly stackName: string;
  readonly plan: MultiRegionPlan;
  readonly service: DynamicsAuthServiceProps;
  /** The primary Region's stack (its token key is the multi-Region primary key); unset in the primary itself. */
  readonly primary?: DynamicsAuthRegionStack;
  readonly alarmEmail?: string;
}

/** One Region's stack of a multi-Region deployment. */
export class DynamicsAuthRegionStack extends Stack {
  readonly service: DynamicsAuthService;
  /** The global tables (primary Region only): each one AWS::DynamoDB::GlobalTable with its replicas. */
  readonly globalTables?: readonly TableV2[];
  /** This Region's replica of the multi-Region token key (not in the primary Region). */
  readonly replicaKey?: CfnReplicaKey;
  /** This Region's replica of the multi-Region client-assertion key, with a certificate credential (not in the primary Region). */
  readonly assertionReplicaKey?: CfnReplicaKey;
  readonly healthCheck?: HealthCheck;
  /** The scheduled deletion of expired rows (primary Region only): MRSC tables have no TTL. */
  readonly sweeper?: ExpiredRowSweeper;

  constructor(scope: Construct, id: string, props: DynamicsAuthRegionStackProps) {
    const { plan, service, primary, alarmEmail, ...stackProps } = props;
    // The replica key names the primary key's ARN, which only exists in the primary Region's stack.
    super(scope, id, {
      description:
        'Serverless OAuth 2.0 service for Microsoft Dynamics 365 / Dataverse (one Region of a multi-Region deployment)',
      crossRegionReferences: true,
      ...stackProps,
    });
    const region = this.region;
    refuseRegionalCredentials(service);
    if (service.customDomain && !plan.hostedZone) {
      // An ACM certificate ARN names one Region; each Region needs its own, validated in the zone.
      throw new MultiRegionError(
        'domainName in multi-Region mode needs hostedZoneId and hostedZoneName (each Region validates its own certificate)',
      );
    }
    const isPrimary = primary === undefined;
    const tableNames = {
      existingPendingLoginsTableName: globalTableName(props.stackName, PENDING_LOGINS_TABLE),
      existingSessionsTableName: globalTableName(props.stackName, SESSIONS_TABLE),
      existingApiKeysTableName: globalTableName(props.stackName, API_KEYS_TABLE),
    };

    const zone = plan.hostedZone ? HostedZone.fromHostedZoneAttributes(this, 'Zone', plan.hostedZone) : undefined;
    const domainName = service.customDomain?.domainName;
    // ACM certificates are Regional: each Region validates its own for the service's name and its
    // Region's own name (which the health check probes).
    const regionalName = domainName && zone ? `${region}.${domainName}` : undefined;
    const certificate =
      domainName && zone && regionalName
        ? new Certificate(this, 'Certificate', {
            domainName,
            subjectAlternativeNames: [regionalName],
            validation: CertificateValidation.fromDns(zone),
          })
        : undefined;

    let replicaKey: CfnReplicaKey | undefined;
    let assertionReplicaKey: CfnReplicaKey | undefined;
    // One certificate for every Region: the assertion key is a multi-Region key, replicated to each
    // other Region, so every Region signs with the same key material (same x5t#S256).
    const requested = service.clientCertificate;
    const clientCertificate = requested
      ? primary === undefined
        ? { ...requested, multiRegion: true }
        : { ...requested, keyArn: Lazy.string({ produce: () => assertionReplicaKey!.attrArn }) }
      : undefined;
    const alarmTopic = alarmEmail
      ? new Topic(this, 'AlarmTopic', { displayName: 'Dynamics auth service alarms', enforceSSL: true })
      : undefined;
    alarmTopic?.addSubscription(new EmailSubscription(alarmEmail!));
    this.service = new DynamicsAuthService(this, 'Service', {
      ...service,
      ...(clientCertificate ? { clientCertificate } : {}),
      ...tableNames,
      ...(certificate && domainName ? { customDomain: { domainName, certificate } } : {}),
      ...(alarmTopic ? { alarmTopic } : {}),
      ...(isPrimary
        ? { multiRegionKey: true }
        : { existingKeyArn: Lazy.string({ produce: () => replicaKey!.attrArn }) }),
    });

    if (isPrimary) {
      this.globalTables = [PENDING_LOGINS_TABLE, SESSIONS_TABLE, API_KEYS_TABLE].map((def) =>
        this.globalTable(def, plan),
      );
      for (const table of this.globalTables) this.service.node.addDependency(table);
      this.sweeper = new ExpiredRowSweeper(this, 'ExpiredRowSweeper', {
        tables: this.globalTables,
        tableNames: [
          tableNames.existingPendingLoginsTableName,
          tableNames.existingSessionsTableName,
          tableNames.existingApiKeysTableName,
        ],
        ...(service.projectRoot ? { projectRoot: service.projectRoot } : {}),
      });
    } else {
      // Same key material as the primary (an `mrk-` key id): a data key sealed in any Region opens
      // here under the same encryption context. A replica's key policy is its own, so it names this
      // Region's function roles (https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-replicate.html).
      replicaKey = new CfnReplicaKey(this, 'TokenKeyReplica', {
        primaryKeyArn: primary.service.key.keyArn,
        description: `Replica of the session-token key (${this.node.path})`,
        keyPolicy: Lazy.any({ produce: (): unknown => this.replicaKeyPolicy().toJSON() }),
      });
      replicaKey.applyRemovalPolicy(RemovalPolicy.RETAIN);
      this.replicaKey = replicaKey;
      const primaryAssertionKey = primary.service.clientAssertionKey?.key;
      if (primaryAssertionKey) {
        assertionReplicaKey = new CfnReplicaKey(this, 'ClientAssertionKeyReplica', {
          primaryKeyArn: primaryAssertionKey.keyArn,
          description: `Replica of the client-assertion signing key (${this.node.path})`,
          keyPolicy: assertionKeyPolicy().toJSON() as unknown,
        });
        assertionReplicaKey.applyRemovalPolicy(RemovalPolicy.RETAIN);
        this.assertionReplicaKey = assertionReplicaKey;
      }
    }

    if (zone && domainName && regionalName && certificate && this.service.domainName) {
      this.healthCheck = this.routing(zone, domainName, regionalName, certificate);
    }

    new CfnOutput(this, 'ApiUrl', { description: 'URL of the HTTP API in this Region', value: this.service.apiUrl });
    new CfnOutput(this, 'TokenKeyArn', {
      description: "This Region's session-token key (multi-Region primary or replica)",
      value: this.service.key.keyArn,
    });
    if (this.service.clientAssertionKey) {
      new CfnOutput(this, 'ClientAssertionKeyArn', {
        description:
          "This Region's client-assertion signing key (multi-Region primary or replica; one certificate serves all)",
        value: this.service.clientAssertionKey.key.keyArn,
      });
    }
    new CfnOutput(this, 'SessionsTable', {
      description: 'Sessions global table (same name in every Region)',
      value: tableNames.existingSessionsTableName,
    });
    new CfnOutput(this, 'ApiKeysTable', {
      description: 'API keys global table (same name in every Region)',
      value: tableNames.existingApiKeysTableName,
    });
  }

  /** A global table with MRSC: replicas in the other serving Regions, or one replica and the witness. */
  private globalTable(def: TableDefinition, plan: MultiRegionPlan): TableV2 {
    const others = plan.regions.filter((r) => r !== this.region);
    const table = new TableV2(this, `Global${def.logicalName}`, {
      tableName: globalTableName(this.stackName, def),
      partitionKey: { name: def.partitionKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      // No timeToLiveAttribute: MRSC global tables do not support TTL
      // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html).
      // Readers treat an expired item as absent (shared/stores/dynamodb.ts); the sweeper deletes it.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      multiRegionConsistency: MultiRegionConsistency.STRONG,
      ...(plan.witnessRegion ? { witnessRegion: plan.witnessRegion } : {}),
      replicas: others.map((region) => ({ region })),
      removalPolicy: def === PENDING_LOGINS_TABLE ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      deletionProtection: def !== PENDING_LOGINS_TABLE,
    });
    // Global tables' indexes exist in every replica (TableV2 defines them for all).
    addOwnerIndex(table, def);
    return table;
  }

  /** Administration by the account, use only by this Region's function roles (the service's statements), no grants. */
  private replicaKeyPolicy(): PolicyDocument {
    return new PolicyDocument({
      statements: [
        keyAdministrationStatement(KEY_ADMIN_ACTIONS),
        new PolicyStatement({
          sid: 'DenyGrants',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['kms:CreateGrant'],
          resources: ['*'],
        }),
        ...this.service.keyPolicyStatements,
        ...this.service.webhookKeyPolicyStatements,
      ],
    });
  }

  /**
   * The service's name answers from the nearest healthy Region: a latency alias record per Region,
   * tied to a health check that probes this Region's own name (a second custom domain on the same
   * API), so one Region failing takes only its record out of DNS answers.
   */
  private routing(zone: IHostedZone, domainName: string, regionalName: string, certificate: Certificate): HealthCheck {
    const regional = new DomainName(this, 'RegionalDomain', {
      domainName: regionalName,
      certificate,
      endpointType: EndpointType.REGIONAL,
      securityPolicy: SecurityPolicy.TLS_1_2,
    });
    new ApiMapping(this, 'RegionalDomainMapping', {
      api: this.service.api,
      domainName: regional,
      stage: this.service.stage,
    });
    new ARecord(this, 'RegionalRecord', {
      zone,
      recordName: regionalName,
      target: RecordTarget.fromAlias(
        new ApiGatewayv2DomainProperties(regional.regionalDomainName, regional.regionalHostedZoneId),
      ),
    });
    const healthCheck = new HealthCheck(this, 'HealthCheck', {
      type: HealthCheckType.HTTPS,
      fqdn: regionalName,
      resourcePath: HEALTH_CHECK_PATH,
      // Three failures 30 s apart: a Region leaves DNS answers within about 90 s of failing.
      failureThreshold: 3,
    });
    const domain = this.service.domainName!;
    new ARecord(this, 'LatencyRecord', {
      zone,
      recordName: domainName,
      region: this.region,
      setIdentifier: this.region,
      healthCheck,
      target: RecordTarget.fromAlias(
        new ApiGatewayv2DomainProperties(domain.regionalDomainName, domain.regionalHostedZoneId),
      ),
    });
    return healthCheck;
  }
}

/**
 * The client credential must exist in every Region under the same reference. A secret given by
 * name resolves to each Region's replica (Secrets Manager replica secrets keep the name:
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/create-manage-multi-region-secrets.html);
 * a complete ARN names one Region. A certificate key is created as a multi-Region key (see
 * `DynamicsAuthRegionStack`); an existing key's ARN names one Region and is refused.
 */
function refuseRegionalCredentials(service: DynamicsAuthServiceProps): void {
  if (typeof service.clientSecret === 'string' && service.clientSecret.startsWith('arn:')) {
    throw new MultiRegionError(
      "clientSecretName: pass the secret name (each Region resolves its replica secret), not one Region's ARN",
    );
  }
  if (service.clientCertificate?.keyArn) {
    // An existing key names one Region; the deployment creates a multi-Region key and its replicas instead.
    throw new MultiRegionError(
      'clientCertificateKey: an existing KMS key ARN names one Region; use clientCertificateKey=create in multi-Region mode (a multi-Region key with a replica in every Region)',
    );
  }
}

export interface MultiRegionDeployment {
  readonly primary: DynamicsAuthRegionStack;
  readonly stacks: readonly DynamicsAuthRegionStack[];
}

/**
 * Reads the multi-Region context (`-c regions=us-east-1,us-east-2,us-west-2`, or two regions and
 * `-c witnessRegion=...`; `-c hostedZoneId=... -c hostedZoneName=...` for the routing); undefined
 * without `regions` (single-Region, the default).
 */
export function readMultiRegionPlan(read: (name: string) => unknown): MultiRegionPlan | undefined {
  const value = (name: string) => {
    const raw = read(name);
    if (raw === undefined || raw === null) return undefined;
    const text = (typeof raw === 'string' ? raw : JSON.stringify(raw)).trim();
    return text === '' ? undefined : text;
  };
  const regions = value('regions');
  if (regions === undefined) return undefined;
  const hostedZoneId = value('hostedZoneId');
  const zoneName = value('hostedZoneName');
  if ((hostedZoneId === undefined) !== (zoneName === undefined))
    throw new MultiRegionError('hostedZoneId and hostedZoneName go together');
  return multiRegionPlan(
    regions.split(',').map((r) => r.trim()),
    value('witnessRegion'),
    hostedZoneId && zoneName ? { hostedZoneId, zoneName } : undefined,
  );
}

/** One stack per Region (`<stackName>-<region>`), the primary first; the others depend on it. */
export function addMultiRegionStacks(
  app: Construct,
  stackName: string,
  plan: MultiRegionPlan,
  service: DynamicsAuthServiceProps,
  options: { account?: string; alarmEmail?: string } = {},
): MultiRegionDeployment {
  const env = (region: string) => ({ region, ...(options.account ? { account: options.account } : {}) });
  const common = { plan, service, ...(options.alarmEmail ? { alarmEmail: options.alarmEmail } : {}) };
  const [first, ...rest] = plan.regions;
  const primary = new DynamicsAuthRegionStack(app, `${stackName}-${first}`, { stackName, env: env(first!), ...common });
  const stacks = [primary];
  for (const region of rest) {
    // The cross-Region reference to the primary key makes this stack depend on the primary's.
    stacks.push(
      new DynamicsAuthRegionStack(app, `${stackName}-${region}`, { stackName, env: env(region), primary, ...common }),
    );
  }
  return { primary, stacks };
}
