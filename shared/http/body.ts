import { ServiceError } from '../errors/service-error.ts';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

const MAX_JSON_BODY = 16 * 1024;

/** Parses a small JSON object body, or throws 400 `invalid_request`. */
export function readJsonBody(event: APIGatewayProxyEventV2): Record<string, unknown> {
  const raw =
    event.body === undefined ? '' : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8').toString('utf8');
  if (raw.length === 0 || raw.length > MAX_JSON_BODY)
    throw new ServiceError('invalid_request', 'Send a JSON object body (at most 16 KB).');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ServiceError('invalid_request', 'The body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ServiceError('invalid_request', 'The body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}
