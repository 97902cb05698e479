/**
 * Delivery retries: the backoff schedule, the SQS delivery function's handling of each outcome
 * (ChangeMessageVisibility to the next step, batch item failures, dead-lettering), the outbox's SQS
 * sends, and the local in-process queue on an injected clock.
 */
import { randomBytes } from 'node:crypto';
import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { deliveryHandler } from '../../functions/webhook-delivery/handler.ts';
import { LocalKeyProvider } from '../../shared/crypto/local-key-provider.ts';
import type { DeliveryRecord } from '../../shared/webhooks/delivery-log.ts';
import {
  deliverWebhook,
  deliveryMessageBody,
  type DeliveryDeps,
  type DeliveryMessage,
  type DeliveryOutcome,
} from '../../shared/webhooks/delivery.ts';
import { newEndpoint, type WebhookEndpoint } from '../../shared/webhooks/endpoints.ts';
import type { WebhookEvent } from '../../shared/webhooks/events.ts';
import { LocalDeliveryQueue, type Scheduler } from '../../shared/webhooks/local-queue.ts';
import {
  MAX_DELIVERY_ATTEMPTS,
  MAX_VISIBILITY_SECONDS,
  RETRY_DELAYS_SECONDS,
  RETRY_SPAN_SECONDS,
} from '../../shared/webhooks/retry-schedule.ts';
import type { DeliveryResult } from '../../shared/webhooks/sender.ts';
import { SqsDeliveryQueue } from '../../shared/webhooks/sqs.ts';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/deliveries';
const DLQ_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/dead-letters';

const EVENT: WebhookEvent = {
  id: 'evt_test',
  type: 'connection.failed',
  timestamp: 1_800_000_000,
  ownerKeyId: 'key_1',
  data: { connectionId: 'crm-42', state: 'failed', reason: 'invalid_grant', version: 1_800_000_000_000 },
};
const MESSAGE: DeliveryMessage = { endpointId: 'whep_1', event: EVENT };

function sqsRecord(messageId: string, receiveCount: number, body = deliveryMessageBody(MESSAGE)): SQSRecord {
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: '0',
      SenderId: 'x',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:deliveries',
    awsRegion: 'eu-west-1',
  };
}

const failure = (retryable: boolean, status = retryable ? 503 : 410): DeliveryResult => ({
  ok: false,
  status,
  error: 'http_status',
  retryable,
  durationMs: 3,
});

/** deliverWebhook's dependencies around one endpoint whose receiver answers with `answers` in turn. */
async function deliveryDeps(answers: (attempt: number) => DeliveryResult | Promise<DeliveryResult>) {
  const keys = new LocalKeyProvider(randomBytes(32));
  const { endpoint } = await newEndpoint({ keys }, 'key_1', 'https://hooks.example.com/in', 1_800_000_000);
  const stored: WebhookEndpoint = endpoint;
  const log: DeliveryRecord[] = [];
  const sent: { url: string; secrets: string[] }[] = [];
  let calls = 0;
  const deps: DeliveryDeps = {
    // The messages name it 'whep_1'; its secret stays sealed under its own id.
    endpoints: {
      get: async (owner, id) => (owner === stored.ownerKeyId && id === MESSAGE.endpointId ? stored : undefined),
    },
    secrets: { keys },
    send: async (url, secrets) => {
      sent.push({ url, secrets });
      calls += 1;
      return answers(calls);
    },
    log: { record: async (entry) => void log.push(entry), recent: async () => log },
    nowMs: () => 1_800_000_000_000,
  };
  return { deps, log, sent };
}

describe('retry schedule', () => {
  it('spans more than a day in steps SQS can express', () => {
    expect(RETRY_DELAYS_SECONDS).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);
    expect(RETRY_SPAN_SECONDS).toBe(99_305);
    expect(RETRY_SPAN_SECONDS).toBeGreaterThan(24 * 3600);
    for (const d of RETRY_DELAYS_SECONDS) expect(d).toBeLessThanOrEqual(MAX_VISIBILITY_SECONDS);
    expect(MAX_DELIVERY_ATTEMPTS).toBe(8);
  });
});

describe('deliverWebhook', () => {
  it("signs with the endpoint's current secret and reports success", async () => {
    const { deps, log, sent } = await deliveryDeps(() => ({ ok: true, status: 204, retryable: false, durationMs: 2 }));
    expect(await deliverWebhook(MESSAGE, 1, deps)).toEqual({ status: 'delivered' });
    expect(sent[0]!.url).toBe('https://hooks.example.com/in');
    expect(sent[0]!.secrets).toHaveLength(1);
    expect(sent[0]!.secrets[0]).toMatch(/^whsec_/);
    expect(log).toEqual([
      {
        eventId: 'evt_test',
        type: 'connection.failed',
        endpointId: 'whep_1',
        attempt: 1,
        status: 'delivered',
        httpStatus: 204,
        at: 1_800_000_000_000,
      },
    ]);
    // The log holds ids and status only: no secret, no URL.
    expect(JSON.stringify(log)).not.toMatch(/whsec_|hooks\.example/);
  });

  it('asks for the next backoff step after each retryable failure, and dead-letters after the last', async () => {
    const { deps, log } = await deliveryDeps(() => failure(true));
    const outcomes: DeliveryOutcome[] = [];
    for (let attempt = 1; attempt <= MAX_DELIVERY_ATTEMPTS; attempt += 1)
      outcomes.push(await deliverWebhook(MESSAGE, attempt, deps));
    expect(outcomes).toEqual([
      ...RETRY_DELAYS_SECONDS.map((delaySeconds) => ({ status: 'retry', delaySeconds, error: 'http_status' })),
      { status: 'dead-lettered', error: 'http_status' },
    ]);
    expect(log.map((e) => `${e.attempt}:${e.status}`)).toEqual([
      '1:retrying',
      '2:retrying',
      '3:retrying',
      '4:retrying',
      '5:retrying',
      '6:retrying',
      '7:retrying',
      '8:dead-lettered',
    ]);
  });

  it('rejects at once what no retry can fix (a 410, a refused address)', async () => {
    const { deps } = await deliveryDeps(() => failure(false));
    expect(await deliverWebhook(MESSAGE, 1, deps)).toEqual({ status: 'rejected', error: 'http_status' });
  });

  it('drops a message whose endpoint was deleted meanwhile', async () => {
    const { deps, sent } = await deliveryDeps(() => failure(true));
    expect(await deliverWebhook({ ...MESSAGE, endpointId: 'whep_gone' }, 1, deps)).toEqual({
      status: 'dropped',
      error: 'endpoint_deleted',
    });
    expect(sent).toHaveLength(0);
  });

  it('retries when its own dependencies fail (store or key unavailable), and still logs the attempt', async () => {
    const { deps, log } = await deliveryDeps(() => failure(true));
    deps.endpoints = { get: () => Promise.reject(new Error('DynamoDB down')) };
    expect(await deliverWebhook(MESSAGE, 2, deps)).toEqual({ status: 'retry', delaySeconds: 300, error: 'internal' });
    expect(log[0]).toMatchObject({ attempt: 2, status: 'retrying', error: 'internal' });
  });

  it('is not changed by a deliveries log that cannot be written', async () => {
    const { deps } = await deliveryDeps(() => ({ ok: true, status: 200, retryable: false, durationMs: 1 }));
    deps.log = { record: () => Promise.reject(new Error('throttled')), recent: async () => [] };
    expect(await deliverWebhook(MESSAGE, 1, deps)).toEqual({ status: 'delivered' });
  });
});

const sqsMock = mockClient(SQSClient);
beforeEach(() => sqsMock.reset());

describe('SQS delivery function', () => {
  const run = (records: SQSRecord[], deliver: (m: DeliveryMessage, attempt: number) => Promise<DeliveryOutcome>) =>
    deliveryHandler(() => ({
      deliver,
      sqs: new SQSClient({ region: 'eu-west-1' }),
      queueUrl: QUEUE_URL,
      deadLetterQueueUrl: DLQ_URL,
    }))({
      Records: records,
    });

  it("sets each failed message's visibility to the next backoff step and reports it as a batch item failure", async () => {
    const { deps } = await deliveryDeps(() => failure(true));
    const records = RETRY_DELAYS_SECONDS.map((_, i) => sqsRecord(`m${i + 1}`, i + 1));
    const response = await run(records, (m, attempt) => deliverWebhook(m, attempt, deps));
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.map((r) => r.messageId));
    const visibility = sqsMock.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input);
    expect(visibility.map((v) => [v.ReceiptHandle, v.VisibilityTimeout])).toEqual(
      RETRY_DELAYS_SECONDS.map((d, i) => [`receipt-m${i + 1}`, d]),
    );
    expect(visibility.every((v) => v.QueueUrl === QUEUE_URL)).toBe(true);
  });

  it('after the last attempt leaves the message to the redrive policy (visible at once, receive count exhausted)', async () => {
    const { deps } = await deliveryDeps(() => failure(true));
    const response = await run([sqsRecord('last', MAX_DELIVERY_ATTEMPTS)], (m, attempt) =>
      deliverWebhook(m, attempt, deps),
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'last' }]);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)[0]!.args[0].input.VisibilityTimeout).toBe(0);
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('deletes delivered messages and moves refused ones straight to the dead-letter queue', async () => {
    const outcomes: Record<string, DeliveryOutcome> = {
      ok: { status: 'delivered' },
      refused: { status: 'rejected', error: 'refused_address' },
      gone: { status: 'dropped', error: 'endpoint_deleted' },
    };
    const records = Object.keys(outcomes).map((id) =>
      sqsRecord(id, 1, deliveryMessageBody({ ...MESSAGE, endpointId: id })),
    );
    const response = await run(records, async (m) => outcomes[m.endpointId]!);
    expect(response.batchItemFailures).toEqual([]);
    const moved = sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(moved).toHaveLength(1);
    expect(moved[0]!.QueueUrl).toBe(DLQ_URL);
    expect(moved[0]!.MessageAttributes?.reason?.StringValue).toBe('refused_address');
    expect(JSON.parse(moved[0]!.MessageBody!).endpointId).toBe('refused');
  });

  it('keeps a refused message in the queue when the dead-letter queue cannot take it', async () => {
    sqsMock.on(SendMessageCommand).rejects(new Error('SQS down'));
    const response = await run([sqsRecord('refused', 1)], async () => ({ status: 'rejected', error: 'redirect' }));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'refused' }]);
  });

  it('still reports the failure when the visibility cannot be changed (the queue timeout retries it)', async () => {
    sqsMock.on(ChangeMessageVisibilityCommand).rejects(new Error('throttled'));
    const response = await run([sqsRecord('m', 1)], async () => ({
      status: 'retry',
      delaySeconds: 5,
      error: 'timeout',
    }));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm' }]);
  });

  it('moves an unreadable message to the dead-letter queue without calling the receiver', async () => {
    let called = false;
    const response = await run([sqsRecord('junk', 1, '{"not":"ours"}')], async () => {
      called = true;
      return { status: 'delivered' };
    });
    expect(called).toBe(false);
    expect(response.batchItemFailures).toEqual([]);
    expect(sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageAttributes?.reason?.StringValue).toBe(
      'unreadable',
    );
  });
});

describe('SQS delivery queue (outbox side)', () => {
  it('sends in batches of at most ten and fails when SQS refuses an entry', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const queue = new SqsDeliveryQueue(new SQSClient({ region: 'eu-west-1' }), QUEUE_URL);
    await queue.send(Array.from({ length: 23 }, (_, i) => ({ ...MESSAGE, endpointId: `whep_${i}` })));
    expect(sqsMock.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries!.length)).toEqual([
      10, 10, 3,
    ]);

    sqsMock
      .on(SendMessageBatchCommand)
      .resolves({ Successful: [], Failed: [{ Id: '0', Code: 'InternalError', SenderFault: false }] });
    await expect(queue.send([MESSAGE])).rejects.toThrow(/refused 1 of 1/);
  });
});

/** A scheduler whose time moves only when the test says so. */
function manualScheduler() {
  let now = 0;
  const tasks: { at: number; run: () => void }[] = [];
  const scheduler: Scheduler = { nowMs: () => now, at: (at, run) => void tasks.push({ at, run }) };
  const settle = async () => {
    for (let i = 0; i < 10; i += 1) await new Promise((r) => setImmediate(r));
  };
  return {
    scheduler,
    /** Runs every task due up to `ms` from now, in time order, letting each finish. */
    async advance(ms: number): Promise<void> {
      const until = now + ms;
      for (;;) {
        await settle();
        tasks.sort((a, b) => a.at - b.at);
        if (!tasks[0] || tasks[0].at > until) break;
        const task = tasks.shift()!;
        now = Math.max(now, task.at);
        task.run();
        await settle();
      }
      now = until;
    },
  };
}

describe('local in-process queue', () => {
  it('retries on the same schedule, then dead-letters after the last attempt; a redrive delivers it', async () => {
    const clock = manualScheduler();
    const attempts: { attempt: number; atMs: number }[] = [];
    let receiverUp = false;
    const { deps } = await deliveryDeps(() =>
      receiverUp ? { ok: true, status: 200, retryable: false, durationMs: 1 } : failure(true),
    );
    const queue = new LocalDeliveryQueue(
      (m, attempt) => {
        attempts.push({ attempt, atMs: clock.scheduler.nowMs() });
        return deliverWebhook(m, attempt, deps);
      },
      { scheduler: clock.scheduler },
    );
    await queue.send([MESSAGE]);
    await clock.advance((RETRY_SPAN_SECONDS + 60) * 1000);

    let expected = 0;
    const due = [0, ...RETRY_DELAYS_SECONDS.map((d) => (expected += d * 1000))];
    expect(attempts).toEqual(due.map((atMs, i) => ({ attempt: i + 1, atMs })));
    expect(queue.deadLetters).toHaveLength(1);
    expect(queue.deadLetters[0]).toMatchObject({ attempts: MAX_DELIVERY_ATTEMPTS, message: MESSAGE });
    expect(queue.size).toBe(0);

    receiverUp = true;
    await queue.redrive();
    await clock.advance(0);
    expect(attempts.at(-1)!.attempt).toBe(1);
    expect(queue.deadLetters).toHaveLength(0);
    expect(queue.size).toBe(0);
  });

  it('is bounded: a send beyond its capacity is refused, not buffered', async () => {
    const clock = manualScheduler();
    const queue = new LocalDeliveryQueue(async () => ({ status: 'delivered' }), {
      scheduler: clock.scheduler,
      maxPending: 2,
    });
    await queue.send([MESSAGE, MESSAGE]);
    await expect(queue.send([MESSAGE])).rejects.toThrow(/full/);
    await clock.advance(0);
    expect(queue.size).toBe(0);
    await expect(queue.send([MESSAGE])).resolves.toBeUndefined();
  });
});
