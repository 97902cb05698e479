import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsKeyProvider } from '../../shared/crypto/kms-key-provider.ts';
import type { Fetch } from '../../shared/oauth/client.ts';
import type { Services } from '../../shared/runtime.ts';
import { signIn, startTestStack, type TestStack } from '../support/stack.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const DATAVERSE_REQUEST_ID = '5c2a8e4f-9b1d-4a7e-8c3f-0d1e2f3a4b5c';
const API = '/api/data/v9.2';

let stack: TestStack;
let services: Services;
const secrets = new Set<string>();

/** Dataverse's answers with the request id it sends in Azure (the stand-in sends none). */
const withRequestId: Fetch = async (input, init) => {
  const answer = await fetch(input, init);
  const headers = new Headers(answer.headers);
  headers.set('x-ms-service-request-id', DATAVERSE_REQUEST_ID);
  return new Response(answer.body, { status: answer.status, headers });
};

beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager.enable());
  stack = await startTestStack();
  services = stack.newInstance({ dataverseFetch: withRequestId });
  stack.idp.server.service.on(
    'beforeResponse',
    (res: { body: Record<string, unknown> }, req: { body: Record<string, string> }) => {
      for (const key of ['access_token', 'refresh_token', 'id_token'])
        if (typeof res.body[key] === 'string') secrets.add(res.body[key]);
      for (const key of ['code', 'code_verifier', 'refresh_token', 'client_assertion'])
        if (req.body[key]) secrets.add(req.body[key]);
    },
  );
});
afterAll(async () => {
  await stack?.stop();
  trace.disable();
  context.disable();
  await provider.shutdown();
});

/** Runs `work` inside a root span, as the Lambda instrumentation does for an invocation. */
async function inInvocation<T>(
  work: () => Promise<T>,
): Promise<{ result: T; root: ReadableSpan; spans: ReadableSpan[] }> {
  exporter.reset();
  const result = await trace.getTracer('test').startActiveSpan('invocation', async (span) => {
    try {
      return await work();
    } finally {
      span.end();
    }
  });
  const spans = exporter.getFinishedSpans();
  return {
    result,
    root: spans.find((s) => s.name === 'invocation')!,
    spans: spans.filter((s) => s.name !== 'invocation'),
  };
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

function expectNoSecretIn(spans: ReadableSpan[], more: string[]) {
  const values = spans.flatMap((s) => [
    s.name,
    ...Object.values(s.attributes).flat().map(String),
    s.status.message ?? '',
  ]);
  expect(values.length).toBeGreaterThan(0);
  for (const value of values) {
    for (const secret of [...secrets, ...more]) expect(value).not.toContain(secret);
    // No URL with a query, no cookie, no bearer value.
    expect(value).not.toMatch(/\?|__Host-|bearer /i);
  }
}

describe('spans', () => {
  it('a proxy call: one DynamoDB GetItem and one Dataverse call, children of the invocation, with the request id', async () => {
    const { sessionToken, sessionCookie } = await signIn(stack, stack.routes(services));
    const { result, root, spans } = await inInvocation(() =>
      stack.routes(services).proxy({ path: `${API}/accounts`, query: '$select=name&$top=1', cookies: [sessionCookie] }),
    );
    expect(result.statusCode).toBe(200);
    const names = spans.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['DynamoDB.GetItem', 'Dataverse']));
    const get = spans.find((s) => s.name === 'DynamoDB.GetItem')!;
    expect(get.attributes['aws.dynamodb.table_names']).toEqual([stack.config.sessionsTable]);
    expect(get.attributes['db.operation']).toBe('GetItem');
    expect(get.attributes['http.response.status_code']).toBe(200);
    const dataverse = spans.find((s) => s.name === 'Dataverse')!;
    expect(dataverse.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'dataverse.request_id': DATAVERSE_REQUEST_ID,
      'server.address': new URL(stack.config.dynamicsUrl!).hostname,
    });
    for (const span of spans) expect(parentOf(span)).toBe(root.spanContext().spanId);
    expectNoSecretIn(spans, [sessionToken, sessionCookie]);
  });

  it('a refresh: the token endpoint span carries the grant type and status, and no token', async () => {
    const { sessionToken } = await signIn(stack, stack.routes(services));
    const { result, root, spans } = await inInvocation(() =>
      stack
        .routes(services)
        .refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } }),
    );
    expect(result.statusCode).toBe(200);
    const token = spans.find((s) => s.name === 'oauth.token')!;
    expect(token.attributes).toMatchObject({ 'oauth.grant_type': 'refresh_token', 'http.response.status_code': 200 });
    expect(parentOf(token)).toBe(root.spanContext().spanId);
    // The lease, the rotation and the reads are DynamoDB spans of the same invocation.
    expect(spans.filter((s) => s.name === 'DynamoDB.UpdateItem').length).toBeGreaterThanOrEqual(2);
    expectNoSecretIn(spans, [sessionToken]);
  });

  it('a sign-in: code exchange span, and a DeleteItem span for the single-use pending login', async () => {
    const { spans, result } = await inInvocation(() => signIn(stack, stack.routes(services)));
    const exchange = spans.find((s) => s.name === 'oauth.token')!;
    expect(exchange.attributes['oauth.grant_type']).toBe('authorization_code');
    expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(['DynamoDB.PutItem', 'DynamoDB.DeleteItem']));
    expectNoSecretIn(spans, [result.sessionToken]);
  });

  it('a KMS call: a span named after the operation, failed spans carry the error name only', async () => {
    const kms = mockClient(KMSClient);
    kms
      .on(DecryptCommand)
      .resolvesOnce({ Plaintext: new Uint8Array(32) })
      .rejectsOnce(Object.assign(new Error('secret detail'), { name: 'ThrottlingException' }));
    const keys = new KmsKeyProvider(
      'arn:aws:kms:eu-west-1:111122223333:key/1',
      () => new KMSClient({ region: 'eu-west-1' }),
    );
    const { spans } = await inInvocation(async () => {
      await keys.decryptDataKey(new Uint8Array(8), { purpose: 'x' });
      await keys.decryptDataKey(new Uint8Array(8), { purpose: 'x' }).catch(() => undefined);
    });
    kms.restore();
    expect(spans.map((s) => [s.name, s.attributes['rpc.method'], s.status.code])).toEqual([
      ['KMS.Decrypt', 'Decrypt', 0],
      ['KMS.Decrypt', 'Decrypt', 2],
    ]);
    expect(spans[1]!.status.message).toBe('ThrottlingException');
    expectNoSecretIn(spans, ['secret detail', '111122223333']);
  });
});
