import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUNCTIONS, routePattern } from '../shared/http/routes.ts';
import { createDynamoClient } from '../shared/stores/dynamodb.ts';
import { TABLES } from '../shared/stores/tables.ts';
import type { DataverseStandIn } from './dataverse.ts';
import type { DiscoveryStandIn } from './discovery.ts';
import { createTables, startEmbeddedDynamo, type EmbeddedDynamo } from './dynamodb.ts';
import { startLocalEnvironments, type LocalEnvironment } from './environments.ts';
import { startDevIdentityProvider, type DevIdentityProvider } from './idp.ts';
import { corsFromAllowedReturnUrls } from './cors.ts';
import { createLocalServer, type LambdaHandler, type LocalApp } from './server.ts';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface LocalStack {
  url: string;
  /** The development IdP, when no ENTRA_AUTHORITY was configured. */
  idp?: DevIdentityProvider;
  /** The default environment's Dataverse stand-in (`contoso`, = `environments[0].dataverse`), when no DYNAMICS_URL was configured. */
  dataverse?: DataverseStandIn;
  /** Every development environment (`contoso`, `contoso-sandbox`, `fabrikam`), when no DYNAMICS_URL was configured. */
  environments?: LocalEnvironment[];
  /** The Global Discovery stand-in listing them (its origin is DISCOVERY_URL), when no DYNAMICS_URL was configured. */
  discovery?: DiscoveryStandIn;
  dynamodbEndpoint: string;
  /** The configuration the handlers run with (no secrets). */
  summary: Record<string, string>;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Environment to read configuration from and to set for the handlers (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Access-token lifetime the dev IdP issues, in seconds (default 3600). */
  accessTokenTtlSeconds?: number;
  /**
   * With the development environments: whether contoso becomes DYNAMICS_URL (default true). false
   * runs as a multi-environment deployment without a default (connections then offer the chooser).
   */
  defaultEnvironment?: boolean;
}

/**
 * Starts the service locally: embedded DynamoDB (dynalite), a development IdP and a Dataverse
 * stand-in — each only when its configuration variable is unset — and the local server that runs
 * the same Lambda handlers as AWS.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, not "${env.PORT}"`);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    let dynamo: EmbeddedDynamo | undefined;
    if (!env.DYNAMODB_ENDPOINT) {
      dynamo = await startEmbeddedDynamo();
      stops.push(dynamo.stop);
      env.DYNAMODB_ENDPOINT = dynamo.endpoint;
    }
    let idp: DevIdentityProvider | undefined;
    if (!env.ENTRA_AUTHORITY) {
      idp = await startDevIdentityProvider({ accessTokenTtlSeconds: options.accessTokenTtlSeconds });
      stops.push(idp.stop);
      env.ENTRA_AUTHORITY = idp.issuer;
      env.CLIENT_ID ??= 'local-dev-client';
    }
    let local: Awaited<ReturnType<typeof startLocalEnvironments>> | undefined;
    if (!env.DYNAMICS_URL) {
      if (!idp) throw new Error('DYNAMICS_URL is required when ENTRA_AUTHORITY points at a real identity provider');
      local = await startLocalEnvironments(idp.issuer);
      stops.push(local.stop);
      // The first environment stays the default, so single-environment use works as before.
      if (options.defaultEnvironment !== false) env.DYNAMICS_URL = local.environments[0]!.dataverse.url;
      env.DISCOVERY_URL ??= local.discovery.url;
      env.DATAVERSE_HOSTS ??= local.hosts.join(',');
    }

    // Bind first so that PORT=0 works, then publish the URL the handlers need.
    const app: LocalApp = { routes: [], statics: [] };
    const server = await listen(createLocalServer(app), port);
    stops.push(() => close(server));
    const url = `http://localhost:${(server.address() as AddressInfo).port}`;
    env.PUBLIC_BASE_URL ??= url;
    // The development IdP's end-session endpoint needs a post_logout_redirect_uri: back to the demo page.
    if (idp && env.ALLOWED_RETURN_URLS === undefined) env.POST_LOGOUT_REDIRECT_URI ??= `${url}/`;
    env.ALLOWED_RETURN_URLS ??= url;
    app.cors = corsFromAllowedReturnUrls(env.ALLOWED_RETURN_URLS);
    if (!env.KMS_KEY_ID) env.LOCAL_KEY_FILE ??= resolve(root, '.local', 'master.key');
    env.POWERTOOLS_SERVICE_NAME ??= 'dynamics-auth-local';
    if (env !== process.env) Object.assign(process.env, env);

    const client = createDynamoClient({ endpoint: env.DYNAMODB_ENDPOINT });
    await createTables(client, Object.fromEntries(TABLES.map((t) => [t.envVar, env[t.envVar] ?? t.logicalName])));
    client.destroy();

    // Imported only now: the handlers read their configuration from the environment set above.
    for (const spec of FUNCTIONS) {
      const module = (await import(`../functions/${spec.name}/handler.ts`)) as { handler: LambdaHandler };
      for (const route of spec.routes) {
        app.routes.push({
          name: spec.name,
          method: route.method,
          path: routePattern(route.path),
          handler: module.handler,
          timeoutMs: spec.timeoutSeconds * 1000,
        });
      }
    }
    app.statics.push(
      { path: '/', file: resolve(root, 'local/public/index.html'), contentType: 'text/html; charset=utf-8' },
      { path: '/demo.js', file: resolve(root, 'local/public/demo.js'), contentType: 'text/javascript; charset=utf-8' },
      { path: '/demo.css', file: resolve(root, 'local/public/demo.css'), contentType: 'text/css; charset=utf-8' },
    );

    return {
      url,
      idp,
      dataverse: local?.environments[0]!.dataverse,
      environments: local?.environments,
      discovery: local?.discovery,
      dynamodbEndpoint: env.DYNAMODB_ENDPOINT,
      summary: {
        service: url,
        identityProvider: env.ENTRA_AUTHORITY,
        dataverse: env.DYNAMICS_URL ?? '(none: choose an environment)',
        ...(local && {
          environments: local.environments.map((e) => `${e.uniqueName} ${e.dataverse.url}`).join(', '),
          discovery: env.DISCOVERY_URL!,
        }),
        dynamodb: env.DYNAMODB_ENDPOINT,
        keys: env.KMS_KEY_ID ? `KMS ${env.KMS_KEY_ID}` : `local key file ${env.LOCAL_KEY_FILE}`,
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function listen(server: Server, port: number): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolvePromise(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolvePromise) => {
    server.closeAllConnections();
    server.close(() => resolvePromise());
  });
}
