/**
 * The DynamoDB stores, one file each under ./dynamodb/: the client factory, attribute marshalling,
 * the conditional-write helper, and the single-use items every short-lived record shares.
 */
export { attempt, request } from './dynamodb/requests.ts';
export { createDynamoClient, traceDynamoCalls, type DynamoClientOptions } from './dynamodb/client.ts';
export { DynamoApiKeyStore } from './dynamodb/api-keys.ts';
export { DynamoConnectSessionStore } from './dynamodb/connect-sessions.ts';
export { DynamoHandoffStore } from './dynamodb/handoffs.ts';
export { DynamoPendingLoginStore } from './dynamodb/pending-logins.ts';
export { DynamoSessionStore } from './dynamodb/sessions.ts';
