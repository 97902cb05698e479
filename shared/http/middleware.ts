import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { ConfigError } from '../config/config.ts';
import { DecryptionError, KeyServiceUnavailableError } from '../crypto/key-provider.ts';
import { ClientRejectedError, TokenEndpointError, TransientTokenError } from '../oauth/errors.ts';
import { StoreUnavailableError } from '../stores/model.ts';
import { CORRELATION_ID_HEADER, correlationIdOf } from '../observability/correlation.ts';
import { logger } from '../observability/logger.ts';
import type { MetricsPort } from '../observability/metrics.ts';
import { processMetrics } from '../observability/process-metrics.ts';
import { ServiceError } from '../errors/service-error.ts';
import { originVerifierFromEnvironment } from './origin-verify.ts';
import { errorResponse, type HttpResponse } from './response.ts';

type Request = middy.Request<APIGatewayProxyEventV2, HttpResponse>;

export type RouteHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResponse>;

/** Milliseconds kept back from the Lambda's remaining time to answer before being cut off. */
export const LAMBDA_MARGIN_MS = 1_000;

/** Epoch ms by which a handler must have finished its own work (its Lambda time less a margin). */
export function handlerDeadline(context: Context | undefined, nowMs: number): number {
  const remaining =
    typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 30_000;
  return nowMs + remaining - LAMBDA_MARGIN_MS;
}

/**
 * Maps any thrown error to the JSON error contract, shaped for the request's path (OData's shape on
 * Web API paths). Dependency errors become their catalogue code; unknown errors are logged and
 * become a generic 500.
 */
export function toErrorResponse(err: unknown, path?: string): HttpResponse {
  const mapped = toServiceError(err);
  if (err instanceof ServiceError) {
    if (err.status >= 500) logger.warn('request failed', { errorCode: err.code, error: describe(err.cause) });
    else logger.info('request rejected', { statusCode: err.status, errorCode: err.code });
  }
  return errorResponse(mapped, path);
}

/** The ServiceError a thrown error stands for, logging what the client is not told. */
function toServiceError(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  if (err instanceof StoreUnavailableError || err instanceof KeyServiceUnavailableError) {
    logger.warn('dependency unavailable', { error: describe(err) });
    return new ServiceError(
      'temporarily_unavailable',
      'A storage or key service is briefly unavailable; retry shortly.',
    );
  }
  if (err instanceof TransientTokenError) {
    logger.warn('identity provider unavailable', { error: describe(err) });
    return new ServiceError('temporarily_unavailable', 'The identity provider is briefly unavailable; retry shortly.');
  }
  if (err instanceof ClientRejectedError) {
    // The service's own credentials or registration: the operator must fix it; the session is kept.
    logger.error('identity provider refused this client; check CLIENT_ID, its credential and grant types', {
      oauthError: err.oauthError,
    });
    return new ServiceError('client_rejected');
  }
  if (err instanceof TokenEndpointError) {
    logger.error('identity provider error', { error: describe(err) });
    return new ServiceError('upstream_error');
  }
  if (err instanceof DecryptionError) {
    logger.error('stored tokens could not be decrypted', { error: describe(err) });
    return new ServiceError('session_unreadable');
  }
  if (err instanceof ConfigError) {
    logger.error('configuration error', { error: err.message });
    return new ServiceError('misconfigured');
  }
  logger.error('unhandled error', { error: describe(err) });
  return new ServiceError('internal_error');
}

/** The error code `toErrorResponse` answers for an error (for metrics: a code, never a message). */
export function errorCodeOf(err: unknown): string {
  if (err instanceof ServiceError) return err.code;
  if (
    err instanceof StoreUnavailableError ||
    err instanceof KeyServiceUnavailableError ||
    err instanceof TransientTokenError
  )
    return 'temporarily_unavailable';
  if (err instanceof ClientRejectedError) return 'client_rejected';
  if (err instanceof TokenEndpointError) return 'upstream_error';
  if (err instanceof DecryptionError) return 'session_unreadable';
  if (err instanceof ConfigError) return 'misconfigured';
  return 'internal_error';
}

/** Name and message only: never a stack trace, request, or response body. */
function describe(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return typeof err;
}

/**
 * Wraps a route in middy with the logger context, the request's correlation id (on every log line and
 * in the `x-correlation-id` response header), the origin check (when ORIGIN_VERIFY_SECRET_ID is set:
 * requests that bypass CloudFront get 403 before the route runs), the one error mapper, and one
 * metrics flush per invocation.
 */
export function createHandler(route: RouteHandler, options: { metrics?: () => MetricsPort } = {}) {
  let verifyOrigin: ReturnType<typeof originVerifierFromEnvironment> | null = null;
  const metrics = options.metrics ?? (() => processMetrics());
  const answer = (request: { event: APIGatewayProxyEventV2; response: HttpResponse | undefined | null }) => {
    const id = correlationIdOf(request.event);
    if (request.response && id !== undefined)
      request.response.headers = { ...request.response.headers, [CORRELATION_ID_HEADER]: id };
    metrics().flush();
  };
  return (
    middy<APIGatewayProxyEventV2, HttpResponse>()
      // Never log the event: its query string, cookies and body carry codes, handoffs and tokens.
      .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
      .use({
        before: async (request: Request) => {
          const id = correlationIdOf(request.event);
          if (id !== undefined) logger.appendKeys({ correlation_id: id });
          if (verifyOrigin === null) verifyOrigin = originVerifierFromEnvironment();
          await verifyOrigin?.(request.event);
        },
        after: (request: Request) => {
          answer(request);
        },
        onError: (request: Request) => {
          // Outside data: a malformed invocation may carry no event at all.
          const event = request.event as APIGatewayProxyEventV2 | undefined;
          request.response = toErrorResponse(request.error, event?.rawPath);
          answer(request);
        },
      })
      .handler(route)
  );
}
