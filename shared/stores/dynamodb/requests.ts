import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { StoreUnavailableError } from '../model.ts';

/** Runs a DynamoDB call; conditional failures come back as `false`, other failures as StoreUnavailableError. */
export async function attempt<T>(call: () => Promise<T>): Promise<T | false> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') {
      return false;
    }
    throw new StoreUnavailableError(`DynamoDB request failed (${(err as Error).name})`, { cause: err });
  }
}
