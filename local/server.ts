import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ServiceError } from '../shared/errors/service-error.ts';
import { decodePercentEscapes } from '../shared/http/percent-decoding.ts';
import { errorResponse } from '../shared/http/response.ts';
import { isPreflight, preflightHeaders, responseCorsHeaders, type LocalCors } from './cors.ts';

export type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface LocalRoute {
  /** An HTTP method, or `ANY` for every method. */
  method: string;
  /** Matches the request path (see `routePattern` in shared/http/routes.ts). */
  path: RegExp;
  name: string;
  handler: LambdaHandler;
  /** The function's timeout in milliseconds (its Lambda time budget). */
  timeoutMs: number;
}

/** API Gateway HTTP API's payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/**
 * Lambda's synchronous invocation payload limits ("6 MB", Invoke API), as exact as Lambda's own
 * errors state them: the event JSON "must be smaller than 6291456 bytes"; the result JSON may be up
 * to 6291556 bytes ("Exceeded maximum allowed payload size (6291556 bytes)").
 */
export const LAMBDA_MAX_EVENT_BYTES = 6_291_456;
export const LAMBDA_MAX_RESULT_BYTES = 6_291_556;

function matchRoute(routes: readonly LocalRoute[], method: string, path: string): LocalRoute | undefined {
  return routes.find((r) => (r.method === 'ANY' || r.method === method) && r.path.test(path));
}

/** Strips leading and trailing SP (0x20) only, as API Gateway does with each cookie. */
function stripSpaces(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && value.charCodeAt(start) === 0x20) start++;
  while (end > start && value.charCodeAt(end - 1) === 0x20) end--;
  return value.slice(start, end);
}

/**
 * The event's `cookies` as API Gateway HTTP API builds them: the Cookie header as UTF-8 text, split
 * on ";" with surrounding spaces removed. Node hands header values over as latin1 (one character per
 * byte), so the raw bytes are decoded again as UTF-8; any other whitespace stays part of the cookie.
 */
function cookiesOf(req: IncomingMessage): string[] | undefined {
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== 'cookie') continue;
    const header = Buffer.from(req.rawHeaders[i + 1]!, 'latin1').toString('utf8');
    for (const part of header.split(';')) {
      const cookie = stripSpaces(part);
      if (cookie) cookies.push(cookie);
    }
  }
  return cookies.length > 0 ? cookies : undefined;
}

/**
 * The request path as an HTTP API delivers it in `rawPath`: percent-decoded once ("API Gateway
 * decodes URL-encoded request parameters before passing them to your backend integration", HTTP API
 * routes docs), unlike REST APIs and function URLs, which keep the encoding. An escape that is not
 * UTF-8 is left as it is (an assumption: AWS does not document that case).
 */
export function httpApiRawPath(encodedPath: string): string {
  return decodePercentEscapes(encodedPath);
}

/** Turns a Node request into the API Gateway v2 event the Lambda functions receive. */
export function toApiGatewayEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = httpApiRawPath(q === -1 ? rawUrl : rawUrl.slice(0, q));
  const rawQueryString = q === -1 ? '' : rawUrl.slice(q + 1);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'cookie') continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const cookies = cookiesOf(req);
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
      http: {
        method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
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
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- Context still declares the legacy callbacks; a fake context must provide them.
    done: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- Context still declares the legacy callbacks; a fake context must provide them.
    fail: () => undefined,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- Context still declares the legacy callbacks; a fake context must provide them.
    succeed: () => undefined,
  };
}

/**
 * An error of the front door itself (no route, body too large), from the catalogue like the handlers'
 * errors, in the flat shape on every path: it stands in for API Gateway, not for the Web API.
 */
function sendError(res: ServerResponse, err: ServiceError): void {
  const answer = errorResponse(err, undefined);
  res.writeHead(answer.statusCode, answer.headers);
  res.end(answer.body);
}

/** The bytes of `JSON.stringify(payload)`; a base64 body (which JSON never escapes) is counted, not copied. */
function payloadBytes(payload: { body?: string; isBase64Encoded?: boolean }): number {
  if (!payload.isBase64Encoded || payload.body === undefined) return Buffer.byteLength(JSON.stringify(payload));
  return Buffer.byteLength(JSON.stringify({ ...payload, body: '' })) + payload.body.length;
}

/**
 * What an HTTP API answers when Lambda refuses the invocation itself: 413 for an event over Lambda's
 * request limit, 500 `{"message":"Internal Server Error"}` for a failed invocation such as a result
 * over the response limit (HTTP API Lambda troubleshooting docs). The function's own code never sees either.
 */
function sendGatewayError(res: ServerResponse, status: 413 | 500): void {
  const message = status === 413 ? 'Request Entity Too Large' : 'Internal Server Error';
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message }));
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
      const path = httpApiRawPath((req.url ?? '/').split('?')[0]!);
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
      if (!route) {
        sendError(res, new ServiceError('not_found', `No route for ${method} ${path}.`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) {
          sendError(res, new ServiceError('payload_too_large', 'The request body exceeds 10 MB.'));
          return;
        }
        chunks.push(chunk as Buffer);
      }
      const event = toApiGatewayEvent(req, Buffer.concat(chunks));
      if (payloadBytes(event) >= LAMBDA_MAX_EVENT_BYTES) {
        sendGatewayError(res, 413);
        return;
      }
      const result = await route.handler(event, lambdaContext(route.name, route.timeoutMs));
      if (payloadBytes(result) > LAMBDA_MAX_RESULT_BYTES) {
        sendGatewayError(res, 500);
        return;
      }
      writeResult(res, result);
    })().catch(() => {
      if (!res.headersSent) sendError(res, new ServiceError('internal_error'));
      else res.destroy();
    });
  });
}
