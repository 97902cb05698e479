import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { errorBody, ServiceError, type ErrorShape } from '../errors/service-error.ts';

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

/**
 * Web API paths, at the root or below an environment prefix (`/api/data/…`, `/orgs/{host}/api/data/…`):
 * OData clients call them and read `error.message` (OData JSON Format 4.0 §19 "Error Response").
 */
const WEB_API_ROUTE = /^(?:\/orgs\/[^/]+)?\/api\/data(?:\/|$)/;

export function errorShapeFor(path: string | undefined): ErrorShape {
  return path !== undefined && WEB_API_ROUTE.test(path) ? 'odata' : 'service';
}

/** The one answer to a ServiceError: its catalogue status and headers, its body shaped for the path. */
export function errorResponse(err: ServiceError, path: string | undefined): HttpResponse {
  return json(err.status, errorBody(err, errorShapeFor(path)), { headers: { ...err.headers } });
}
