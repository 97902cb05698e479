import type { KMSClient } from '@aws-sdk/client-kms';

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
      client: clientFactory?.() ?? new sdk.KMSClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } }),
    })));
}
