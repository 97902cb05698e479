import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inSpan } from '../../observability/tracing.ts';

export interface DynamoClientOptions {
  endpoint?: string;
  region?: string;
}

/** The one place that builds the DynamoDB client (local mode points it at the embedded endpoint). */
export function createDynamoClient(options: DynamoClientOptions = {}): DynamoDBClient {
  return traceDynamoCalls(buildDynamoClient(options));
}

/**
 * Every call of the client in a span named after its operation, with the table name and HTTP status
 * (OpenTelemetry semantic conventions for DynamoDB); never a key, an item or an expression value.
 */
export function traceDynamoCalls(client: DynamoDBClient): DynamoDBClient {
  client.middlewareStack.add(
    (next, context) => (args) => {
      const operation = (context.commandName ?? 'Command').replace(/Command$/, '');
      const table = (args.input as { TableName?: unknown }).TableName;
      return inSpan(
        `DynamoDB.${operation}`,
        {
          'rpc.system': 'aws-api',
          'rpc.service': 'DynamoDB',
          'rpc.method': operation,
          'db.system': 'dynamodb',
          'db.operation': operation,
          ...(typeof table === 'string' ? { 'aws.dynamodb.table_names': [table] } : {}),
        },
        async (span) => {
          try {
            const out = await next(args);
            const meta = (out.output as { $metadata?: { httpStatusCode?: number; requestId?: string } }).$metadata;
            if (meta?.httpStatusCode) span.setAttribute('http.response.status_code', meta.httpStatusCode);
            if (meta?.requestId) span.setAttribute('aws.request_id', meta.requestId);
            return out;
          } catch (err) {
            const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
            if (status) span.setAttribute('http.response.status_code', status);
            throw err;
          }
        },
      );
    },
    { step: 'initialize', name: 'dynamicsAuthTraceSpan' },
  );
  return client;
}

function buildDynamoClient(options: DynamoClientOptions): DynamoDBClient {
  if (options.endpoint) {
    return new DynamoDBClient({
      endpoint: options.endpoint,
      region: options.region ?? 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 2,
    });
  }
  return new DynamoDBClient({
    region: options.region ?? process.env.AWS_REGION,
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 },
  });
}
