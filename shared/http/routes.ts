/**
 * The service's routes: one Lambda function each. The CDK construct and the local server both
 * build from this table, so the two cannot drift apart.
 */
export type FunctionName = 'login' | 'callback' | 'refresh' | 'proxy' | 'session' | 'logout';

export interface RouteSpec {
  readonly function: FunctionName;
  readonly method: 'GET' | 'POST' | 'ANY';
  /** API Gateway route path (`{proxy+}` matches the rest of the path). */
  readonly path: string;
  /** Function timeout in seconds (its time budget). */
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
}

// Memory: 256 MB for the small auth handlers (Lambda CPU scales with memory); 512 MB for the proxy,
// which buffers Dataverse bodies of up to 6 MB and is on every request's path.
// Timeouts: 5 s for DynamoDB-only handlers; 10 s for those that call the token endpoint (8 s token
// timeout + margin); 29 s for the proxy (API Gateway HTTP API's integration limit is 30 s).
export const ROUTES: readonly RouteSpec[] = [
  { function: 'login', method: 'GET', path: '/auth/login', timeoutSeconds: 5, memoryMb: 256 },
  { function: 'callback', method: 'GET', path: '/auth/callback', timeoutSeconds: 10, memoryMb: 256 },
  { function: 'refresh', method: 'POST', path: '/auth/refresh', timeoutSeconds: 10, memoryMb: 256 },
  { function: 'proxy', method: 'ANY', path: '/api/data/{proxy+}', timeoutSeconds: 29, memoryMb: 512 },
  { function: 'session', method: 'GET', path: '/auth/session', timeoutSeconds: 5, memoryMb: 256 },
  { function: 'logout', method: 'POST', path: '/auth/logout', timeoutSeconds: 5, memoryMb: 256 },
];
