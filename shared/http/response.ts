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

export function errorBody(code: string, message: string) {
  return { error: code, message };
}

