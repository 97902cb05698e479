import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { TABLES, type TableDefinition } from '../shared/stores/tables.ts';

export interface EmbeddedDynamo {
  endpoint: string;
  stop: () => Promise<void>;
}

/** Starts dynalite (an in-memory DynamoDB API) on loopback. */
export async function startEmbeddedDynamo(port = 0): Promise<EmbeddedDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Creates the service's tables from the same definitions the CDK construct uses (idempotent). */
export async function createTables(
  client: DynamoDBClient,
  names: Record<string, string> = {},
  tables: readonly TableDefinition[] = TABLES,
): Promise<void> {
  for (const table of tables) {
    const TableName = names[table.envVar] ?? table.logicalName;
    const index = table.ownerIndex;
    try {
      await client.send(
        new CreateTableCommand({
          TableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: table.partitionKey, AttributeType: 'S' },
            ...(index
              ? [
                  { AttributeName: index.partitionKey, AttributeType: 'S' as const },
                  { AttributeName: index.sortKey, AttributeType: 'S' as const },
                ]
              : []),
          ],
          KeySchema: [{ AttributeName: table.partitionKey, KeyType: 'HASH' }],
          // The same keys-only index the CDK construct adds (infra/owner-index.ts).
          GlobalSecondaryIndexes: index
            ? [
                {
                  IndexName: index.indexName,
                  KeySchema: [
                    { AttributeName: index.partitionKey, KeyType: 'HASH' },
                    { AttributeName: index.sortKey, KeyType: 'RANGE' },
                  ],
                  Projection: { ProjectionType: 'KEYS_ONLY' },
                },
              ]
            : undefined,
        }),
      );
    } catch (err) {
      if (!(err instanceof ResourceInUseException)) throw err;
    }
    // dynalite has no TTL expiry; the service treats expired items as absent on every read.
    for (let i = 0; i < 50; i++) {
      const out = await client.send(new DescribeTableCommand({ TableName }));
      if (out.Table?.TableStatus === 'ACTIVE') break;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
