/**
 * When a failed delivery is tried again: the delay after attempt n is `RETRY_DELAYS_SECONDS[n - 1]`.
 * Exponential at first, then capped at 10 h, spanning more than a day (Standard Webhooks suggests
 * retrying over about a day). Every step fits SQS's 12-hour visibility-timeout maximum
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html).
 */
export const RETRY_DELAYS_SECONDS: readonly number[] = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];

/** Attempts in all: the first, then one after each delay. The queue's maxReceiveCount is this number. */
export const MAX_DELIVERY_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;

/** SQS's ceiling for ChangeMessageVisibility. */
export const MAX_VISIBILITY_SECONDS = 12 * 3600;

/** Seconds from the first attempt to the last (99,305 s, about 27.6 h). */
export const RETRY_SPAN_SECONDS = RETRY_DELAYS_SECONDS.reduce((sum, d) => sum + d, 0);

/** The delay before the attempt after `attempt` (1-based), or undefined when `attempt` was the last. */
export function retryDelaySeconds(attempt: number): number | undefined {
  if (!Number.isInteger(attempt) || attempt < 1) return RETRY_DELAYS_SECONDS[0];
  return RETRY_DELAYS_SECONDS[attempt - 1];
}
