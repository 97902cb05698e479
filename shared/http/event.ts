import type { APIGatewayProxyEventHeaders } from 'aws-lambda';

// The proxy event is outside data: API Gateway, function URLs and direct invocations may leave out
// `headers` or `rawQueryString` (AWS: "Working with AWS Lambda proxy integrations for HTTP APIs"),
// whatever aws-lambda's type declares. These readers admit that.

/** The request's raw query string, `''` when the event has none. */
export function rawQueryOf(event: { rawQueryString?: string }): string {
  return event.rawQueryString ?? '';
}

/** The request's headers (lower-cased names), `{}` when the event has none. */
export function headersOf(event: { headers?: APIGatewayProxyEventHeaders }): APIGatewayProxyEventHeaders {
  return event.headers ?? {};
}
