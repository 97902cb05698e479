/**
 * The two ways a store calls DynamoDB. Only a write with a ConditionExpression can fail its condition
 * (ConditionalCheckFailedException), so only `attempt` has a `false` outcome; reads and
 * unconditional writes go through `request`. Any other failure is a StoreUnavailableError.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { StoreUnavailableError } from '../model.ts';

/** Runs a read or an unconditional write; a failure comes back as StoreUnavailableError. */
export async function request<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw unavailable(err);
  }
}

/** Runs a conditional write; a failed condition comes back as `false`, other failures as StoreUnavailableError. */
export async function attempt<T>(call: () => Promise<T>): Promise<T | false> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') {
      return false;
    }
    throw unavailable(err);
  }
}

function unavailable(err: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`DynamoDB request failed (${(err as Error).name})`, { cause: err });
}
