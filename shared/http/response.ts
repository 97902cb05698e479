import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type HttpResponse = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
};

/** Auth responses must never be cached (RFC 6749 §5.1, RFC 9700 §4.11). */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

export function json(statusCode: number, body: unknown, extra: Partial<HttpResponse> = {}): HttpResponse {
  return {
    ...extra,
    statusCode,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...NO_STORE, ...(extra.headers ?? {}) },
    body: JSON.stringify(body),
  };
}

export function redirect(location: string, cookies: string[] = []): HttpResponse {
  return {
    statusCode: 302,
    headers: { Location: location, ...NO_STORE, 'Referrer-Policy': 'no-referrer' },
    cookies,
    body: '',
  };
}

/** How an error body is shaped: the service's own, or OData's (what OData clients read on Web API paths). */
export type ErrorShape = 'service' | 'odata';

/**
 * Web API paths, at the root or below an environment prefix (`/api/data/…`, `/orgs/{host}/api/data/…`):
 * OData clients call them and read `error.message` (OData JSON Format 4.0 §19 "Error Response").
 */
const WEB_API_ROUTE = /^(?:\/orgs\/[^/]+)?\/api\/data(?:\/|$)/;

export function errorShapeFor(path: string | undefined): ErrorShape {
  return path !== undefined && WEB_API_ROUTE.test(path) ? 'odata' : 'service';
}

/** `{"error": code, "message": …}`, or on Web API paths OData's `{"error": {"code", "message"}}`. */
export function errorBody(code: string, message: string, shape: ErrorShape = 'service') {
  return shape === 'odata' ? { error: { code, message } } : { error: code, message };
}

