import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

export interface EventInit {
  method?: string;
  path: string;
  query?: string;
  headers?: Record<string, string>;
  cookies?: string[];
  body?: string | Buffer;
}

/** An API Gateway HTTP API (payload 2.0) event, as the service receives it in AWS. */
export function apiEvent(init: EventInit): APIGatewayProxyEventV2 {
  const method = init.method ?? 'GET';
  const query = init.query ?? '';
  const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const params = new URLSearchParams(query);
  const isBinary = Buffer.isBuffer(init.body);
  return {
    version: '2.0',
    routeKey: `${method} ${init.path}`,
    rawPath: init.path,
    rawQueryString: query,
    cookies: init.cookies,
    headers,
    queryStringParameters: query ? Object.fromEntries(params.entries()) : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path: init.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'test',
      routeKey: `${method} ${init.path}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    body:
      init.body === undefined ? undefined : isBinary ? (init.body as Buffer).toString('base64') : (init.body as string),
    isBase64Encoded: isBinary,
  };
}

/** A Lambda context with a fixed remaining-time budget. */
export function lambdaContext(remainingMs = 30_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:test',
    memoryLimitInMB: '256',
    awsRequestId: 'test-request',
    logGroupName: 'test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- Context still declares the legacy callbacks; a fake context must provide them.
    done: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- Context still declares the legacy callbacks; a fake context must provide them.
    fail: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- Context still declares the legacy callbacks; a fake context must provide them.
    succeed: () => undefined,
  };
}
