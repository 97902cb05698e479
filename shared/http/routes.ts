/**
 * The service's functions and their routes. The CDK construct and the local server both build from
 * this table, so the two cannot drift apart.
 */
export type FunctionName =
  | 'login'
  | 'callback'
  | 'refresh'
  | 'proxy'
  | 'session'
  | 'logout'
  | 'token'
  | 'connect'
  | 'connect-start'
  | 'connect-environment'
  | 'admin-consent'
  | 'connections'
  | 'webhooks'
  | 'environments'
  | 'openapi';

export interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE' | 'ANY';
  /** API Gateway route path: `{name}` matches one segment, `{proxy+}` the rest of the path. */
  readonly path: string;
}

export interface FunctionSpec {
  readonly name: FunctionName;
  readonly routes: readonly Route[];
  /** Function timeout in seconds (its time budget). */
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
}

// Memory: 256 MB for the small auth handlers (Lambda CPU scales with memory); 512 MB for the proxy,
// which buffers Dataverse bodies of up to 6 MB and is on every request's path.
// Timeouts: 5 s for DynamoDB-only handlers; 20 s for the callback (discovery and the token call, 8 s
// each at most); 29 s (API Gateway HTTP API's integration limit is 30 s) for the functions that may
// refresh or wait for another instance's refresh lease (20 s) — they answer 503 JSON before their
// own time runs out (see SessionRefresher's deadline).
export const FUNCTIONS: readonly FunctionSpec[] = [
  { name: 'login', routes: [{ method: 'GET', path: '/auth/login' }], timeoutSeconds: 5, memoryMb: 256 },
  { name: 'callback', routes: [{ method: 'GET', path: '/auth/callback' }], timeoutSeconds: 20, memoryMb: 256 },
  {
    name: 'admin-consent',
    routes: [
      { method: 'GET', path: '/auth/admin-consent' },
      { method: 'GET', path: '/auth/admin-consent/callback' },
    ],
    timeoutSeconds: 5,
    memoryMb: 256,
  },
  { name: 'refresh', routes: [{ method: 'POST', path: '/auth/refresh' }], timeoutSeconds: 29, memoryMb: 256 },
  {
    name: 'proxy',
    routes: [
      { method: 'ANY', path: '/api/data/{proxy+}' },
      // `{host}` is an environment URL's host (Dataverse's own `<org>.crm.dynamics.com`).
      { method: 'ANY', path: '/orgs/{host}/api/data/{proxy+}' },
    ],
    timeoutSeconds: 29,
    memoryMb: 512,
  },
  { name: 'session', routes: [{ method: 'GET', path: '/auth/session' }], timeoutSeconds: 5, memoryMb: 256 },
  { name: 'logout', routes: [{ method: 'POST', path: '/auth/logout' }], timeoutSeconds: 5, memoryMb: 256 },
  { name: 'token', routes: [{ method: 'POST', path: '/auth/token' }], timeoutSeconds: 5, memoryMb: 256 },
  { name: 'connect', routes: [{ method: 'POST', path: '/connect/sessions' }], timeoutSeconds: 5, memoryMb: 256 },
  { name: 'connect-start', routes: [{ method: 'GET', path: '/connect/start' }], timeoutSeconds: 5, memoryMb: 256 },
  {
    name: 'connect-environment',
    routes: [
      { method: 'GET', path: '/connect/environment' },
      { method: 'POST', path: '/connect/environment' },
    ],
    timeoutSeconds: 5,
    memoryMb: 256,
  },
  {
    name: 'connections',
    routes: [
      { method: 'GET', path: '/connections/{connectionId}' },
      { method: 'GET', path: '/connections/{connectionId}/token' },
      { method: 'DELETE', path: '/connections/{connectionId}' },
    ],
    timeoutSeconds: 29,
    memoryMb: 256,
  },
  {
    name: 'webhooks',
    routes: [
      { method: 'POST', path: '/webhooks' },
      { method: 'GET', path: '/webhooks' },
      { method: 'DELETE', path: '/webhooks/{webhookId}' },
      { method: 'POST', path: '/webhooks/{webhookId}/rotate-secret' },
    ],
    timeoutSeconds: 5,
    memoryMb: 256,
  },
  {
    name: 'environments',
    routes: [
      { method: 'GET', path: '/auth/environments' },
      { method: 'POST', path: '/auth/environment' },
    ],
    // May refresh the discovery token and call the Global Discovery Service.
    timeoutSeconds: 29,
    memoryMb: 256,
  },
  { name: 'openapi', routes: [{ method: 'GET', path: '/openapi.json' }], timeoutSeconds: 5, memoryMb: 128 },
];

/** A matcher for a route path template (what API Gateway does in AWS; the local server uses it). */
export function routePattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => {
      if (segment === '{proxy+}') return '.+';
      if (/^\{\w+\}$/.test(segment)) return '[^/]+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}$`);
}
