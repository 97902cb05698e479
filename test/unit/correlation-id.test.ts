import { afterEach, describe, expect, it, vi } from 'vitest';

// Log everything (the logger reads its level at start-up and restores it on every invocation).
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
});
import { createHandler } from '../../shared/http/middleware.ts';
import { ServiceError } from '../../shared/errors/service-error.ts';
import { json, type HttpResponse } from '../../shared/http/response.ts';
import { logger } from '../../shared/observability/logger.ts';
import { RecordingMetrics } from '../../shared/observability/metrics.ts';
import { correlationIdOf } from '../../shared/observability/correlation.ts';
import { apiEvent, lambdaContext } from '../support/events.ts';

afterEach(() => vi.restoreAllMocks());

/** Every line the logger writes while `run` runs, parsed. */
async function logLines(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const grab = (chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(grab);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(grab);
  try {
    await run();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const eventWith = (headers: Record<string, string>, requestId = 'Ab3dE-fGhIjKlMnO=') => {
  const event = apiEvent({ path: '/auth/session', headers });
  event.requestContext.requestId = requestId;
  return event;
};

describe('one correlation id per request', () => {
  const route = async () => {
    logger.info('first line');
    logger.warn('second line');
    return json(200, { ok: true });
  };

  it("is API Gateway's request id when the client sends none, on every log line and in the response header", async () => {
    const handler = createHandler(route);
    let answer: HttpResponse | undefined;
    const lines = await logLines(async () => {
      answer = await handler(eventWith({}), lambdaContext());
    });
    expect(answer!.headers['x-correlation-id']).toBe('Ab3dE-fGhIjKlMnO=');
    const ours = lines.filter((l) => l.message === 'first line' || l.message === 'second line');
    expect(ours).toHaveLength(2);
    for (const line of ours) expect(line.correlation_id).toBe('Ab3dE-fGhIjKlMnO=');
  });

  it("is the client's x-correlation-id when it is well-formed, also on an error answer", async () => {
    const handler = createHandler(async () => {
      logger.info('first line');
      throw new ServiceError('invalid_request', 'nope');
    });
    const id = '7b0c1e52-8f5d-4d2e-9c1a-2f6e3b4a5c6d';
    let answer: HttpResponse | undefined;
    const lines = await logLines(async () => {
      answer = await handler(eventWith({ 'X-Correlation-Id': id }), lambdaContext());
    });
    expect(answer!.statusCode).toBe(400);
    expect(answer!.headers['x-correlation-id']).toBe(id);
    expect(lines.find((l) => l.message === 'first line')!.correlation_id).toBe(id);
    expect(lines.find((l) => l.message === 'request rejected')!.correlation_id).toBe(id);
  });

  it('ignores a client id that could forge log lines or carry data, and uses the request id instead', () => {
    for (const sent of [
      'abc\n{"level":"ERROR"}',
      'short',
      'x'.repeat(65),
      'has space in it',
      'eyJhbGciOi.eyJzdWIi.c2ln',
      '"quoted-value"',
    ]) {
      expect(correlationIdOf(eventWith({ 'x-correlation-id': sent }))).toBe('Ab3dE-fGhIjKlMnO=');
    }
  });

  it('a new request gets its own id: the previous one does not linger on the logger', async () => {
    const handler = createHandler(route);
    await logLines(async () => handler(eventWith({ 'x-correlation-id': 'first-request-0001' }), lambdaContext()));
    const lines = await logLines(async () => handler(eventWith({}, 'second-request-id'), lambdaContext()));
    expect(lines.filter((l) => l.message === 'first line').map((l) => l.correlation_id)).toEqual(['second-request-id']);
  });
});

describe('metrics flush once per invocation', () => {
  it('flushes after a route that answers and after one that throws', async () => {
    const metrics = new RecordingMetrics();
    const ok = createHandler(async () => json(200, {}), { metrics: () => metrics });
    const failing = createHandler(
      async () => {
        throw new Error('boom');
      },
      { metrics: () => metrics },
    );
    await logLines(async () => {
      await ok(eventWith({}), lambdaContext());
      await failing(eventWith({}), lambdaContext());
    });
    expect(metrics.flushes).toBe(2);
  });
});
