import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { isPreflight, preflightHeaders, responseCorsHeaders, type LocalCors } from './cors.ts';

export type LambdaHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export interface LocalRoute {
  method: string | 'ANY';
  /** Matches the request path (see `routePattern` in shared/http/routes.ts). */
  path: RegExp;
  name: string;
  handler: LambdaHandler;
  /** The function's timeout in milliseconds (its Lambda time budget). */
  timeoutMs: number;
}

/** API Gateway HTTP API's payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

function matchRoute(routes: readonly LocalRoute[], method: string, path: string): LocalRoute | undefined {
  return routes.find((r) => (r.method === 'ANY' || r.method === method) && r.path.test(path));
}

/** Turns a Node request into the API Gateway v2 event the Lambda functions receive. */
export function toApiGatewayEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const rawQueryString = q === -1 ? '' : rawUrl.slice(q + 1);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'cookie') continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const cookies = req.headers.cookie
    ?.split(';')
    .map((c) => c.trim())
    .filter(Boolean);
  const query = new URLSearchParams(rawQueryString);
  const method = (req.method ?? 'GET').toUpperCase();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    cookies,
    headers,
    queryStringParameters: rawQueryString ? Object.fromEntries(query.entries()) : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body: body.length > 0 ? body.toString('base64') : undefined,
    isBase64Encoded: body.length > 0,
  };
}

function lambdaContext(name: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${name}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/local/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function sendJson(res: ServerResponse, status: number, error: string, message: string) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error, message }));
}

/** Writes a Lambda proxy result as API Gateway would. */
function writeResult(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  const body = result.body ? Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(body);
}

export interface StaticFile {
  path: string;
  file: string;
  contentType: string;
}

/** What the local server serves; filled in once the handlers are loaded. */
export interface LocalApp {
  routes: LocalRoute[];
  statics: StaticFile[];
  /** CORS as API Gateway applies it with the construct's configuration (none when unset). */
  cors?: LocalCors;
}

/**
 * The local HTTP front door: what API Gateway does in AWS. Each request becomes the API Gateway v2
 * event and goes to the same handler the Lambda function runs.
 */
export function createLocalServer(app: LocalApp): Server {
  return createServer((req, res) => {
    void (async () => {
      const { routes, statics, cors } = app;
      if (cors) {
        if (isPreflight(req)) {
          res.writeHead(204, preflightHeaders(req, cors));
          res.end();
          return;
        }
        for (const [name, value] of Object.entries(responseCorsHeaders(req, cors))) res.setHeader(name, value);
      }
      const method = (req.method ?? 'GET').toUpperCase();
      const path = (req.url ?? '/').split('?')[0]!;
      const asset = method === 'GET' ? statics.find((s) => s.path === path) : undefined;
      if (asset) {
        const content = await readFile(asset.file);
        res.writeHead(200, {
          'content-type': asset.contentType,
          'cache-control': 'no-store',
          'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'",
          'x-content-type-options': 'nosniff',
        });
        res.end(content);
        return;
      }
      const route = matchRoute(routes, method, path);
      if (!route) return sendJson(res, 404, 'not_found', `No route for ${method} ${path}.`);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) return sendJson(res, 413, 'payload_too_large', 'The request body exceeds 10 MB.');
        chunks.push(chunk as Buffer);
      }
      const event = toApiGatewayEvent(req, Buffer.concat(chunks));
      const result = await route.handler(event, lambdaContext(route.name, route.timeoutMs));
      writeResult(res, result);
    })().catch(() => {
      if (!res.headersSent) sendJson(res, 500, 'internal_error', 'An unexpected error occurred.');
      else res.destroy();
    });
  });
}
