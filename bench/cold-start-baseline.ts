// Cold-start baseline for the benchmark: the smallest useful Lambda module (one DynamoDB client),
// bundled with exactly the same esbuild settings as the functions (infra/bundling.ts).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export const client = new DynamoDBClient({ region: 'eu-west-1' });
