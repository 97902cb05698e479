import type { KMSClient } from '@aws-sdk/client-kms';
import { type MetricsPort } from '../observability/metrics.ts';
import { inSpan } from '../observability/tracing.ts';

export type KmsSdk = typeof import('@aws-sdk/client-kms');
export interface LoadedKms {
  client: KMSClient;
  sdk: KmsSdk;
}

/**
 * The one place that builds the KMS client. The SDK module is imported on first use, so functions that
 * need KMS only on refresh do not pay for it at cold start; calls are bounded, since a slow KMS must
 * not hold a refresh lease or a request past its budget.
 */
export function lazyKmsClient(clientFactory?: () => KMSClient): () => Promise<LoadedKms> {
  let loaded: Promise<LoadedKms> | undefined;
  return () =>
    (loaded ??= import('@aws-sdk/client-kms').then((sdk) => ({
      sdk,
      client:
        clientFactory?.() ??
        new sdk.KMSClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } }),
    })));
}

export type KmsOperation = 'GenerateDataKey' | 'Decrypt' | 'Sign';

/** One KMS call, counted (KmsCall by operation) and in a span; the key id and payloads stay out of both. */
export function observeKmsCall<T>(metrics: MetricsPort, operation: KmsOperation, call: () => Promise<T>): Promise<T> {
  metrics.add('KmsCall', 1, { operation });
  return inSpan(
    `KMS.${operation}`,
    { 'rpc.system': 'aws-api', 'rpc.service': 'KMS', 'rpc.method': operation },
    async (span) => {
      const out = await call();
      const meta = (out as { $metadata?: { httpStatusCode?: number; requestId?: string } } | undefined)?.$metadata;
      if (meta?.httpStatusCode) span.setAttribute('http.response.status_code', meta.httpStatusCode);
      if (meta?.requestId) span.setAttribute('aws.request_id', meta.requestId);
      return out;
    },
  );
}
