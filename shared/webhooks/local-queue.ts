/**
 * Local mode's delivery queue: in process, with the same retry schedule and dead-lettering as the
 * SQS queue and the same `deliverWebhook`. Time comes from an injected scheduler (tests advance a
 * fake one); the queue is bounded and lives only as long as the process (no durability).
 */
import { logger } from '../observability/logger.ts';
import type { DeliveryMessage, DeliveryOutcome } from './delivery.ts';
import type { DeliveryQueue } from './outbox.ts';

/** A clock with timers: the real one (setTimeout) or a test's. */
export interface Scheduler {
  nowMs(): number;
  /** Runs `task` at `atMs` (or as soon as possible after). */
  at(atMs: number, task: () => void): void;
}

export const realScheduler: Scheduler = {
  nowMs: () => Date.now(),
  at(atMs, task) {
    // unref: pending retries must not keep a finished process (or a test run) alive.
    setTimeout(task, Math.max(0, atMs - Date.now())).unref();
  },
};

export interface LocalQueueOptions {
  scheduler?: Scheduler;
  /** Messages waiting or in flight at most; beyond it `send` refuses (default 1,000). */
  maxPending?: number;
  /** Dead letters kept (default 100, oldest dropped first). */
  maxDeadLetters?: number;
}

export interface DeadLetter {
  message: DeliveryMessage;
  attempts: number;
  reason: string;
}

export class LocalDeliveryQueue implements DeliveryQueue {
  readonly deadLetters: DeadLetter[] = [];
  private pending = 0;
  private readonly scheduler: Scheduler;
  private readonly maxPending: number;
  private readonly maxDeadLetters: number;
  private readonly settled = new Set<() => void>();

  constructor(
    private readonly deliver: (message: DeliveryMessage, attempt: number) => Promise<DeliveryOutcome>,
    options: LocalQueueOptions = {},
  ) {
    this.scheduler = options.scheduler ?? realScheduler;
    this.maxPending = options.maxPending ?? 1_000;
    this.maxDeadLetters = options.maxDeadLetters ?? 100;
  }

  send(messages: readonly DeliveryMessage[]): Promise<void> {
    if (this.pending + messages.length > this.maxPending) {
      return Promise.reject(new Error(`local delivery queue full (${this.maxPending} messages)`));
    }
    const now = this.scheduler.nowMs();
    for (const message of messages) {
      this.pending += 1;
      this.scheduler.at(now, () => void this.attempt(message, 1));
    }
    return Promise.resolve();
  }

  /** Messages waiting for an attempt or in one. */
  get size(): number {
    return this.pending;
  }

  /** Resolves when no message is waiting or in flight (tests; a bounded wait is the caller's). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.settled.add(resolve));
  }

  /** Puts every dead letter back at attempt 1 (the local counterpart of an SQS redrive). */
  redrive(): Promise<void> {
    const letters = this.deadLetters.splice(0);
    return this.send(letters.map((l) => l.message));
  }

  private async attempt(message: DeliveryMessage, attempt: number): Promise<void> {
    // deliverWebhook never throws; a deliver that does ends the message rather than looping.
    const outcome = await this.deliver(message, attempt).catch((): DeliveryOutcome => ({
      status: 'dead-lettered',
      error: 'internal',
    }));
    if (outcome.status === 'retry') {
      this.scheduler.at(
        this.scheduler.nowMs() + outcome.delaySeconds * 1000,
        () => void this.attempt(message, attempt + 1),
      );
      return;
    }
    if (outcome.status === 'dead-lettered' || outcome.status === 'rejected') {
      this.deadLetters.push({ message, attempts: attempt, reason: outcome.error });
      if (this.deadLetters.length > this.maxDeadLetters) this.deadLetters.shift();
      logger.warn('webhook message dead-lettered (local queue)', { eventId: message.event.id, attempts: attempt });
    }
    this.pending -= 1;
    if (this.pending === 0) {
      for (const resolve of this.settled) resolve();
      this.settled.clear();
    }
  }
}
