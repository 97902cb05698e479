/**
 * One delivery attempt of one event to one endpoint, and what should happen next. The SQS delivery
 * function and the local in-process queue both call `deliverWebhook`; only how they wait between
 * attempts differs (SQS visibility timeout, or a timer).
 */
import { logger } from '../observability/logger.ts';
import type { DeliveryLog, DeliveryStatus } from './delivery-log.ts';
import type { WebhookEndpointStore, WebhookSecretDeps } from './endpoints.ts';
import { signingSecrets } from './endpoints.ts';
import { WEBHOOK_EVENT_TYPES, type WebhookEvent } from './events.ts';
import { MAX_DELIVERY_ATTEMPTS, retryDelaySeconds } from './retry-schedule.ts';
import type { DeliveryResult } from './sender.ts';

/** A queue message: one event for one of its owner's endpoints. */
export interface DeliveryMessage {
  endpointId: string;
  event: WebhookEvent;
}

export type DeliveryOutcome =
  | { status: 'delivered' }
  /** Try again after `delaySeconds`. */
  | { status: 'retry'; delaySeconds: number; error: string }
  /** The last attempt failed: to the dead-letter queue. */
  | { status: 'dead-lettered'; error: string }
  /** Failed in a way a retry cannot fix (refused address, redirect, not https): to the dead-letter queue now. */
  | { status: 'rejected'; error: string }
  /** Nothing to deliver to (the endpoint was deleted) or an unreadable message: done. */
  | { status: 'dropped'; error: string };

export interface DeliveryDeps {
  endpoints: Pick<WebhookEndpointStore, 'get'>;
  secrets: WebhookSecretDeps;
  /** `sendWebhook` with its SSRF-safe dependencies bound. */
  send(url: string, secrets: string[], event: WebhookEvent): Promise<DeliveryResult>;
  log: DeliveryLog;
  nowMs(): number;
}

export function deliveryMessageBody(message: DeliveryMessage): string {
  return JSON.stringify({ endpointId: message.endpointId, event: message.event });
}

/** Reads a queue message body; undefined when it is not one this service wrote. */
export function parseDeliveryMessage(body: string): DeliveryMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  // A queue body is outside data: any field, `data` included, may be missing.
  const m = value as {
    endpointId?: unknown;
    event?: Partial<Omit<WebhookEvent, 'data'>> & { data?: Partial<WebhookEvent['data']> };
  } | null;
  const e = m?.event;
  const ok =
    typeof m?.endpointId === 'string' &&
    typeof e?.id === 'string' &&
    e.type !== undefined &&
    WEBHOOK_EVENT_TYPES.includes(e.type) &&
    typeof e.ownerKeyId === 'string' &&
    typeof e.timestamp === 'number' &&
    typeof e.data?.connectionId === 'string' &&
    typeof e.data.version === 'number';
  return ok ? (m as DeliveryMessage) : undefined;
}

/**
 * Attempt `attempt` (1-based) of one message. Never throws: a failure of its own dependencies
 * (store, key) counts as a retryable failure like the receiver's.
 */
export async function deliverWebhook(
  message: DeliveryMessage,
  attempt: number,
  deps: DeliveryDeps,
): Promise<DeliveryOutcome> {
  const { event, endpointId } = message;
  let outcome: DeliveryOutcome;
  let result: DeliveryResult | undefined;
  try {
    const endpoint = await deps.endpoints.get(event.ownerKeyId, endpointId);
    if (!endpoint) {
      outcome = { status: 'dropped', error: 'endpoint_deleted' };
    } else {
      const secrets = await signingSecrets(endpoint, deps.secrets, Math.floor(deps.nowMs() / 1000));
      result = await deps.send(endpoint.url, secrets, event);
      outcome = nextStep(result.ok, result.retryable, result.error ?? 'http_status', attempt);
    }
  } catch (err) {
    logger.warn('webhook delivery could not run', { error: (err as Error).name });
    outcome = nextStep(false, true, 'internal', attempt);
  }
  await recordAttempt(deps, message, attempt, outcome, result);
  return outcome;
}

function nextStep(ok: boolean, retryable: boolean, error: string, attempt: number): DeliveryOutcome {
  if (ok) return { status: 'delivered' };
  if (!retryable) return { status: 'rejected', error };
  const delaySeconds = attempt < MAX_DELIVERY_ATTEMPTS ? retryDelaySeconds(attempt) : undefined;
  return delaySeconds === undefined ? { status: 'dead-lettered', error } : { status: 'retry', delaySeconds, error };
}

const LOGGED_STATUS: Record<DeliveryOutcome['status'], DeliveryStatus> = {
  delivered: 'delivered',
  retry: 'retrying',
  'dead-lettered': 'dead-lettered',
  rejected: 'rejected',
  dropped: 'dropped',
};

/** The log is for operators: losing an entry must not change what happens to the delivery. */
async function recordAttempt(
  deps: DeliveryDeps,
  message: DeliveryMessage,
  attempt: number,
  outcome: DeliveryOutcome,
  result: DeliveryResult | undefined,
): Promise<void> {
  const error = 'error' in outcome ? outcome.error : undefined;
  await deps.log
    .record({
      eventId: message.event.id,
      type: message.event.type,
      endpointId: message.endpointId,
      attempt,
      status: LOGGED_STATUS[outcome.status],
      ...(result?.status !== undefined ? { httpStatus: result.status } : {}),
      ...(error !== undefined ? { error } : {}),
      at: deps.nowMs(),
    })
    .catch((err: unknown) => logger.warn('webhook delivery not logged', { error: (err as Error).name }));
  const level = outcome.status === 'delivered' ? 'info' : 'warn';
  logger[level]('webhook delivery', {
    eventId: message.event.id,
    type: message.event.type,
    endpointId: message.endpointId,
    attempt,
    outcome: outcome.status,
    httpStatus: result?.status,
    durationMs: result?.durationMs,
  });
}
