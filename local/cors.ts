import type { IncomingMessage } from 'node:http';
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
} from '../shared/http/cors.ts';

/** The origins the local server answers CORS requests for (the allowed return URLs' origins, as in AWS). */
export interface LocalCors {
  allowOrigins: ReadonlySet<string>;
}

/** `ALLOWED_RETURN_URLS` → its origins (what the construct gives API Gateway as `allowOrigins`). */
export function corsFromAllowedReturnUrls(allowedReturnUrls: string): LocalCors {
  const origins = allowedReturnUrls
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean)
    .flatMap((u) => (URL.canParse(u) ? [new URL(u).origin] : []));
  return { allowOrigins: new Set(origins) };
}

const originOf = (req: IncomingMessage, cors: LocalCors): string | undefined => {
  const origin = req.headers.origin;
  return typeof origin === 'string' && cors.allowOrigins.has(origin) ? origin : undefined;
};

/** A preflight: OPTIONS with Origin and Access-Control-Request-Method (API Gateway answers these itself). */
export function isPreflight(req: IncomingMessage): boolean {
  return (
    req.method === 'OPTIONS' &&
    req.headers.origin !== undefined &&
    req.headers['access-control-request-method'] !== undefined
  );
}

/**
 * The preflight answer API Gateway gives with the construct's CORS configuration: the policy's lists
 * for an allowed origin, no CORS headers (so the browser refuses) for any other.
 */
export function preflightHeaders(req: IncomingMessage, cors: LocalCors): Record<string, string> {
  const origin = originOf(req, cors);
  if (!origin) return { vary: 'Origin' };
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    'access-control-allow-methods': CORS_ALLOW_METHODS.join(','),
    'access-control-allow-headers': CORS_ALLOW_HEADERS.join(','),
    'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
    vary: 'Origin',
  };
}

/** The CORS headers API Gateway adds to a response for a request from an allowed origin. */
export function responseCorsHeaders(req: IncomingMessage, cors: LocalCors): Record<string, string> {
  const origin = originOf(req, cors);
  if (!origin) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': CORS_EXPOSE_HEADERS.join(','),
    vary: 'Origin',
  };
}
