import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SessionRefresher, type RefresherOptions } from './auth/refresher.ts';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { TokenVault, type DataKeyCacheOptions } from './crypto/envelope.ts';
import type { KeyProvider } from './crypto/key-provider.ts';
import { KmsKeyProvider } from './crypto/kms-key-provider.ts';
import { LocalKeyProvider } from './crypto/local-key-provider.ts';
import { clientAssertionSignerFor } from './oauth/client-assertion-signer.ts';
import { clientSecretSource } from './oauth/client-secret.ts';
import type { Signer } from './crypto/signer.ts';
import type { EntraClient, Fetch } from './oauth/client.ts';
import type { MetricsPort } from './observability/metrics.ts';
import { processMetrics } from './observability/process-metrics.ts';
import { systemClock, type Clock } from './ports.ts';
import {
  createDynamoClient,
  DynamoApiKeyStore,
  DynamoConnectSessionStore,
  DynamoHandoffStore,
  DynamoPendingLoginStore,
  DynamoSessionStore,
} from './stores/dynamodb.ts';
import type {
  ApiKeyStore,
  ConnectSessionStore,
  HandoffStore,
  PendingLoginStore,
  SessionStore,
} from './stores/model.ts';
import { isConnectionRecord } from './webhooks/connection-events.ts';
import { DynamoWebhookEndpointStore } from './webhooks/endpoint-store.ts';
import type { WebhookEndpointStore } from './webhooks/endpoints.ts';
import { attachChangeFeed, type ChangeListener } from './webhooks/local-change-feed.ts';

/**
 * Everything a handler needs, built once per process from configuration. AWS or local stand-ins
 * are chosen here (KMS_KEY_ID or LOCAL_KEY_FILE; DYNAMODB_ENDPOINT), never inside the core.
 */
export interface Services {
  config: Config;
  pendingLogins: PendingLoginStore;
  sessions: SessionStore;
  handoffs: HandoffStore;
  connectSessions: ConnectSessionStore;
  apiKeys: ApiKeyStore;
  /** Webhook endpoints (items of their own kind in the API keys table). */
  webhookEndpoints: WebhookEndpointStore;
  /** The master key (KMS or the local key file), built on first use; seals webhook secrets. */
  keys: () => KeyProvider;
  /** The token vault; built on first use so requests that decrypt nothing never load the key client. */
  vault: () => Promise<TokenVault>;
  entra: () => Promise<EntraClient>;
  refresher: SessionRefresher;
  /** fetch used for Dataverse calls. */
  dataverseFetch: Fetch;
  /** Counts and timings (EMF in Lambda, printed locally with PRINT_METRICS=1, recorded in tests). */
  metrics: MetricsPort;
  now: Clock;
}

export interface ServiceOverrides {
  keyProvider?: KeyProvider;
  dynamo?: DynamoDBClient;
  pendingLogins?: PendingLoginStore;
  sessions?: SessionStore;
  /** fetch used for the identity provider (discovery, JWKS, token endpoint). */
  idpFetch?: Fetch;
  /** Reads the client secret instead of the configured value or Secrets Manager secret. */
  clientSecret?: () => Promise<string | undefined>;
  /** Signs client assertions instead of the configured KMS key or key file. */
  clientAssertionSigner?: Signer;
  dataverseFetch?: Fetch;
  dataKeyCache?: DataKeyCacheOptions;
  refresher?: RefresherOptions;
  metrics?: MetricsPort;
  now?: () => number;
  /** Local mode: where connection changes of the Sessions table go (the stand-in for its stream). */
  changeFeed?: ChangeListener;
}

function keyProviderFor(config: Config, metrics: MetricsPort): KeyProvider {
  if (config.kmsKeyId) return new KmsKeyProvider(config.kmsKeyId, undefined, metrics);
  if (config.localKeyFile) return LocalKeyProvider.fromFile(config.localKeyFile);
  throw new ConfigError('Invalid configuration: KMS_KEY_ID (AWS) or LOCAL_KEY_FILE (local mode) is required');
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  const now = overrides.now ?? systemClock;
  const metrics = overrides.metrics ?? processMetrics();
  const dynamo = overrides.dynamo ?? createDynamoClient({ endpoint: config.dynamodbEndpoint });
  if (overrides.changeFeed) attachChangeFeed(dynamo, config.sessionsTable, overrides.changeFeed, isConnectionRecord);
  const pendingLogins = overrides.pendingLogins ?? new DynamoPendingLoginStore(dynamo, config.pendingLoginsTable);
  const sessions =
    overrides.sessions ?? new DynamoSessionStore(dynamo, config.sessionsTable, config.sessionIdleTimeoutSeconds);

  let keys: KeyProvider | undefined;
  const getKeys = () => (keys ??= overrides.keyProvider ?? keyProviderFor(config, metrics));
  let vault: Promise<TokenVault> | undefined;
  const getVault = () =>
    (vault ??= Promise.resolve().then(() => new TokenVault(getKeys(), { now, ...overrides.dataKeyCache })));
  let entra: Promise<EntraClient> | undefined;
  // Loaded on first use: a warm proxy request never needs the protocol library.
  const getEntra = () =>
    (entra ??= import('./oauth/client.ts').then(
      ({ EntraClient }) =>
        new EntraClient(config, {
          fetch: overrides.idpFetch,
          clientSecret: overrides.clientSecret ?? clientSecretSource(config),
          clientAssertionSigner: overrides.clientAssertionSigner ?? clientAssertionSignerFor(config, metrics),
          metrics,
          now,
        }),
    ));
  const refresher = new SessionRefresher(
    { config, sessions, vault: getVault, entra: getEntra, metrics },
    { now, ...overrides.refresher },
  );
  return {
    config,
    pendingLogins,
    sessions,
    handoffs: new DynamoHandoffStore(dynamo, config.pendingLoginsTable),
    connectSessions: new DynamoConnectSessionStore(dynamo, config.pendingLoginsTable),
    apiKeys: new DynamoApiKeyStore(dynamo, config.apiKeysTable),
    webhookEndpoints: new DynamoWebhookEndpointStore(dynamo, config.apiKeysTable),
    keys: getKeys,
    vault: getVault,
    entra: getEntra,
    refresher,
    dataverseFetch: overrides.dataverseFetch ?? ((input, init) => fetch(input, init)),
    metrics,
    now,
  };
}

let processServices: Services | undefined;

/** The process-wide services, from the environment (Lambda and the local server). */
export function getServices(): Services {
  if (processServices) return processServices;
  const config = loadConfig();
  // Local mode has no DynamoDB Streams: a change feed drives the webhook outbox (docs/webhook-delivery.md).
  // Imported on use, so no Lambda bundle carries the local pipeline.
  const changeFeed: ChangeListener | undefined = config.dynamodbEndpoint
    ? async (record) =>
        (await import('./webhooks/local-outbox.ts')).onLocalConnectionChange(record, config, () => processServices!)
    : undefined;
  processServices = createServices(config, changeFeed ? { changeFeed } : {});
  return processServices;
}
