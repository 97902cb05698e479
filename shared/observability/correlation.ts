import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** The response (and request) header that carries the request's correlation id. */
export const CORRELATION_ID_HEADER = 'x-correlation-id';

/**
 * A client's own id is taken only in this shape (a UUID or similar: letters, digits and hyphens, 8–64 long): anything else could
 * forge log lines or carry data into them, so it is ignored for the API Gateway request id.
 */
const CLIENT_CORRELATION_ID = /^[A-Za-z0-9][A-Za-z0-9-]{7,63}$/;

/** The request's correlation id: the client's `x-correlation-id` if well-formed, else API Gateway's request id. */
export function correlationIdOf(
  // Outside data: a direct invocation may carry neither headers nor a request context.
  event:
    | {
        headers?: APIGatewayProxyEventV2['headers'];
        requestContext?: Partial<APIGatewayProxyEventV2['requestContext']>;
      }
    | undefined,
): string | undefined {
  const headers = event?.headers ?? {};
  const sent = Object.entries(headers).find(([name]) => name.toLowerCase() === CORRELATION_ID_HEADER)?.[1];
  if (sent !== undefined && CLIENT_CORRELATION_ID.test(sent)) return sent;
  return event?.requestContext?.requestId;
}
