import { randomBytes } from 'node:crypto';
import { callbackRoute } from '../../functions/callback/handler.ts';
import { loginRoute } from '../../functions/login/handler.ts';
import { logoutRoute } from '../../functions/logout/handler.ts';
import { proxyRoute } from '../../functions/proxy/handler.ts';
import { refreshRoute } from '../../functions/refresh/handler.ts';
import { sessionRoute } from '../../functions/session/handler.ts';
import { tokenRoute } from '../../functions/token/handler.ts';
import { connectRoute } from '../../functions/connect/handler.ts';
import { adminConsentRoute } from '../../functions/admin-consent/handler.ts';
import { connectEnvironmentRoute } from '../../functions/connect-environment/handler.ts';
import { connectStartRoute } from '../../functions/connect-start/handler.ts';
import { connectionsRoute } from '../../functions/connections/handler.ts';
import { environmentsRoute } from '../../functions/environments/handler.ts';
import { DataverseStandIn } from '../../local/dataverse.ts';
import { createTables, startEmbeddedDynamo, type EmbeddedDynamo } from '../../local/dynamodb.ts';
import { startDevIdentityProvider, type DevIdentityProvider } from '../../local/idp.ts';
import { loadConfig, type Config } from '../../shared/config/config.ts';
import { LocalKeyProvider } from '../../shared/crypto/local-key-provider.ts';
import { LOGIN_BINDING_COOKIE, SESSION_COOKIE } from '../../shared/http/cookies.ts';
import { createHandler } from '../../shared/http/middleware.ts';
import type { HttpResponse } from '../../shared/http/response.ts';
import { createServices, type ServiceOverrides, type Services } from '../../shared/runtime.ts';
import { createDynamoClient } from '../../shared/stores/dynamodb.ts';
import { apiEvent, lambdaContext, type EventInit } from './events.ts';

export { LOGIN_BINDING_COOKIE as LOGIN_COOKIE } from '../../shared/http/cookies.ts';
export const RETURN_ORIGIN = 'http://localhost:5173';
export const PUBLIC_BASE = 'http://localhost:3000';

/** A token-endpoint request as the IdP received it. */
export type TokenRequest = Record<string, string>;

export interface TestStack {
  config: Config;
  services: Services;
  idp: DevIdentityProvider;
  dataverse: DataverseStandIn;
  dynamo: EmbeddedDynamo;
  dynamoClient: ReturnType<typeof createDynamoClient>;
  keyProvider: LocalKeyProvider;
  tokenRequests: TokenRequest[];
  /** A second, independent runtime (separate caches) sharing the same stores, as another Lambda instance. */
  newInstance(overrides?: ServiceOverrides): Services;
  routes(services?: Services): Routes;
  stop(): Promise<void>;
}

type Invoke = (init: EventInit, remainingMs?: number) => Promise<HttpResponse>;
export interface Routes {
  login: Invoke;
  callback: Invoke;
  refresh: Invoke;
  proxy: Invoke;
  session: Invoke;
  logout: Invoke;
  token: Invoke;
  connect: Invoke;
  connectStart: Invoke;
  connectEnvironment: Invoke;
  adminConsent: Invoke;
  connections: Invoke;
  environments: Invoke;
}

function invoker(route: ReturnType<typeof loginRoute>): Invoke {
  const handler = createHandler(route);
  return async (init, remainingMs) => await handler(apiEvent(init), lambdaContext(remainingMs));
}

/** Starts dynalite, the dev IdP (oauth2-mock-server) and the Dataverse stand-in on loopback. */
export async function startTestStack(
  options: {
    env?: Record<string, string>;
    accessTokenTtlSeconds?: number;
    /** Runs once the IdP and the stand-in are up, before configuration is read; returns more settings. */
    prepare?: (started: { idp: DevIdentityProvider; dataverse: DataverseStandIn }) => Promise<Record<string, string>>;
  } = {},
): Promise<TestStack> {
  const dynamo = await startEmbeddedDynamo();
  const idp = await startDevIdentityProvider({ accessTokenTtlSeconds: options.accessTokenTtlSeconds });
  const dataverse = new DataverseStandIn({ issuer: idp.issuer });
  await dataverse.start();
  const tokenRequests: TokenRequest[] = [];
  idp.server.service.on('beforeResponse', (_res: unknown, req: { body: TokenRequest }) => {
    tokenRequests.push({ ...req.body });
  });
  const prepared = options.prepare ? await options.prepare({ idp, dataverse }) : {};
  const config = loadConfig({
    ENTRA_AUTHORITY: idp.issuer,
    CLIENT_ID: 'test-client',
    DYNAMICS_URL: dataverse.url,
    PUBLIC_BASE_URL: PUBLIC_BASE,
    ALLOWED_RETURN_URLS: `${RETURN_ORIGIN},https://app.example.com/portal`,
    ...options.env,
    ...prepared,
  });
  const dynamoClient = createDynamoClient({ endpoint: dynamo.endpoint });
  await createTables(dynamoClient);
  const keyProvider = new LocalKeyProvider(randomBytes(32));
  const newInstance = (overrides: ServiceOverrides = {}) =>
    createServices(config, { keyProvider, dynamo: dynamoClient, refresher: { pollMs: 20 }, ...overrides });
  const services = newInstance();
  const routes = (s: Services = services): Routes => ({
    login: invoker(loginRoute(() => s)),
    callback: invoker(callbackRoute(() => s)),
    refresh: invoker(refreshRoute(() => s)),
    proxy: invoker(proxyRoute(() => s)),
    session: invoker(sessionRoute(() => s)),
    logout: invoker(logoutRoute(() => s)),
    token: invoker(tokenRoute(() => s)),
    connect: invoker(connectRoute(() => s)),
    connectStart: invoker(connectStartRoute(() => s)),
    connectEnvironment: invoker(connectEnvironmentRoute(() => s)),
    adminConsent: invoker(adminConsentRoute(() => s)),
    connections: invoker(connectionsRoute(() => s)),
    environments: invoker(environmentsRoute(() => s)),
  });
  return {
    config,
    services,
    idp,
    dataverse,
    dynamo,
    dynamoClient,
    keyProvider,
    tokenRequests,
    newInstance,
    routes,
    stop: async () => {
      dynamoClient.destroy();
      await dataverse.stop();
      await idp.stop();
      await dynamo.stop();
    },
  };
}

/** `name=value` of a Set-Cookie string. */
export function cookiePair(setCookies: string[] | undefined, name: string): string | undefined {
  const found = setCookies?.find((c) => c.startsWith(`${name}=`));
  return found?.split(';')[0];
}

export interface SignIn {
  sessionToken: string;
  sessionCookie: string;
  authorizationUrl: URL;
  callback: HttpResponse;
}

/** Runs login → IdP authorize → callback over the real dev IdP, as a browser would. */
export async function signIn(
  stack: TestStack,
  routes = stack.routes(),
  returnTo = `${RETURN_ORIGIN}/app`,
  extraQuery = '',
): Promise<SignIn> {
  const login = await routes.login({
    path: '/auth/login',
    query: `returnTo=${encodeURIComponent(returnTo)}${extraQuery}`,
  });
  if (login.statusCode !== 302) throw new Error(`login answered ${login.statusCode}: ${login.body}`);
  const binding = cookiePair(login.cookies, LOGIN_BINDING_COOKIE)!;
  const authorizationUrl = new URL(login.headers.Location!);
  const idpAnswer = await fetch(authorizationUrl, { redirect: 'manual' });
  const back = new URL(idpAnswer.headers.get('location')!);
  const callback = await routes.callback({ path: '/auth/callback', query: back.search.slice(1), cookies: [binding] });
  if (callback.statusCode !== 302) throw new Error(`callback answered ${callback.statusCode}: ${callback.body}`);
  const sessionCookie = cookiePair(callback.cookies, SESSION_COOKIE)!;
  return { sessionToken: sessionCookie.split('=')[1]!, sessionCookie, authorizationUrl, callback };
}

export function jsonBody(response: HttpResponse): Record<string, unknown> {
  const text = response.isBase64Encoded
    ? Buffer.from(response.body ?? '', 'base64').toString('utf8')
    : (response.body ?? '');
  return JSON.parse(text) as Record<string, unknown>;
}
