import { SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

/**
 * Spans through the OpenTelemetry API only. With no SDK registered (tests, local mode, a Lambda
 * without the ADOT layer) every call is a no-op: no exporter, no network. Attributes name the
 * operation and its outcome; never a token, cookie, code, key or URL with its query.
 */
const TRACER_NAME = 'dynamics-auth';

export type SpanAttributes = Attributes;

/** Runs `work` in a client span named `name`; a thrown error marks the span failed with its name only. */
export async function inSpan<T>(
  name: string,
  attributes: SpanAttributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      // The error's name only: messages may quote what a provider answered.
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorName(err) });
      span.setAttribute('error.type', errorName(err));
      throw err;
    } finally {
      span.end();
    }
  });
}

/** A thrown value's name (`error` when it has none): anything may be thrown, not only Errors. */
function errorName(err: unknown): string {
  const name = (err as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' ? name : 'error';
}
