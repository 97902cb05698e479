import { KMSClient, DecryptCommand, GenerateDataKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KmsKeyProvider } from '../../shared/crypto/kms-key-provider.ts';
import { KmsSigner } from '../../shared/crypto/kms-signer.ts';
import { EmfMetrics } from '../../shared/observability/emf-metrics.ts';
import {
  closedDimensions,
  DIMENSION_VALUES,
  noMetrics,
  OTHER,
  RecordingMetrics,
  statusClassOf,
} from '../../shared/observability/metrics.ts';
import { metricsFor } from '../../shared/observability/process-metrics.ts';
import { formatMetricLines, PrintedMetrics } from '../../shared/observability/printed-metrics.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555';

afterEach(() => vi.restoreAllMocks());

/** EMF documents Powertools writes to stdout while `run` runs. */
function emfDocuments(run: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    run();
  } finally {
    write.mockRestore();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('dimensions come from closed sets only', () => {
  it('keeps known values, turns any other value into "other" and drops unknown names', () => {
    expect(closedDimensions({ outcome: 'ok', trigger: '401' })).toEqual({ outcome: 'ok', trigger: '401' });
    expect(closedDimensions({ reason: 'AADSTS50173 user dana@contoso.example' })).toEqual({ reason: OTHER });
    expect(closedDimensions({ user: '6f1e2d3c', tenant: 'contoso', host: 'contoso.crm.dynamics.com' })).toEqual({});
  });

  it('no string whatever becomes a dimension value outside its set', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(DIMENSION_VALUES) as (keyof typeof DIMENSION_VALUES)[])),
        fc.string(),
        (name, value) => {
          const out = closedDimensions({ [name]: value });
          expect([...DIMENSION_VALUES[name], OTHER]).toContain(out[name]);
        },
      ),
    );
  });

  it('maps status codes to their class', () => {
    expect([200, 204, 302, 401, 429, 502, 504].map(statusClassOf)).toEqual([
      '2xx',
      '2xx',
      '3xx',
      '4xx',
      '4xx',
      '5xx',
      '5xx',
    ]);
  });
});

describe('EMF metrics (Lambda)', () => {
  it('writes nothing until the flush, then one document per dimension set, with the service dimension', () => {
    const metrics = new EmfMetrics();
    const early = emfDocuments(() => {
      metrics.add('Refresh', 1, { outcome: 'ok', trigger: 'ahead' });
      metrics.add('Refresh', 1, { outcome: 'ok', trigger: 'ahead' });
      metrics.add('KmsCall', 1, { operation: 'Decrypt' });
      metrics.add('TokenEndpointLatency', 87);
    });
    expect(early).toEqual([]);
    const docs = emfDocuments(() => metrics.flush());
    expect(docs).toHaveLength(3);
    const refresh = docs.find((d) => 'Refresh' in d)!;
    expect(refresh).toMatchObject({ Refresh: [1, 1], outcome: 'ok', trigger: 'ahead', service: 'dynamics-auth' });
    const aws = refresh._aws as {
      CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
    };
    expect(aws.CloudWatchMetrics[0]!.Namespace).toBe('DynamicsAuth');
    expect(aws.CloudWatchMetrics[0]!.Dimensions[0]!.sort()).toEqual(['outcome', 'service', 'trigger']);
    const latency = docs.find((d) => 'TokenEndpointLatency' in d)!;
    expect(latency).not.toHaveProperty('operation');
    expect((latency._aws as typeof aws).CloudWatchMetrics[0]!.Metrics).toEqual([
      { Name: 'TokenEndpointLatency', Unit: 'Milliseconds' },
    ]);
    expect(docs.find((d) => 'KmsCall' in d)).toMatchObject({ operation: 'Decrypt' });
    // Flushed values are gone: the next invocation starts empty.
    expect(emfDocuments(() => metrics.flush())).toEqual([]);
  });
});

describe('printed metrics (local mode)', () => {
  it('prints one readable line per value at the flush', () => {
    const lines: string[] = [];
    const metrics = new PrintedMetrics((line) => lines.push(line));
    metrics.add('ProxyCall', 1, { statusClass: '2xx' });
    metrics.add('DataverseRetryAfter', 300);
    expect(lines).toEqual([]);
    metrics.flush();
    expect(lines).toEqual(['metric ProxyCall 1 Count statusClass=2xx', 'metric DataverseRetryAfter 300 Seconds']);
    metrics.flush();
    expect(lines).toHaveLength(2);
  });

  it('formats recorded values the same way', () => {
    const recorded = new RecordingMetrics();
    recorded.add('Refresh', 1, { outcome: 'terminal', trigger: 'explicit' });
    expect(formatMetricLines(recorded.recorded)).toEqual(['metric Refresh 1 Count outcome=terminal trigger=explicit']);
  });
});

describe('KMS calls are counted by operation', () => {
  it('counts GenerateDataKey, Decrypt and Sign calls of the key provider and the signer', async () => {
    const kms = mockClient(KMSClient);
    kms.on(GenerateDataKeyCommand).resolves({ Plaintext: new Uint8Array(32), CiphertextBlob: new Uint8Array(8) });
    kms.on(DecryptCommand).resolves({ Plaintext: new Uint8Array(32) });
    kms.on(SignCommand).resolves({ Signature: new Uint8Array(256) });
    const metrics = new RecordingMetrics();
    const provider = new KmsKeyProvider(KEY_ARN, () => new KMSClient({ region: 'eu-west-1' }), metrics);
    const signer = new KmsSigner(KEY_ARN, () => new KMSClient({ region: 'eu-west-1' }), metrics);
    await provider.generateDataKey({ purpose: 'test' });
    await provider.decryptDataKey(new Uint8Array(8), { purpose: 'test' });
    await provider.decryptDataKey(new Uint8Array(8), { purpose: 'test' });
    await signer.sign(Buffer.from('tbs'), 'PS256');
    expect(metrics.sum('KmsCall', { operation: 'GenerateDataKey' })).toBe(1);
    expect(metrics.sum('KmsCall', { operation: 'Decrypt' })).toBe(2);
    expect(metrics.sum('KmsCall', { operation: 'Sign' })).toBe(1);
    expect(JSON.stringify(metrics.recorded)).not.toContain(KEY_ARN);
    kms.restore();
  });
});

describe('which metrics a process gets', () => {
  it('EMF in Lambda, printed lines with PRINT_METRICS=1, nothing otherwise', () => {
    expect(metricsFor({ AWS_LAMBDA_FUNCTION_NAME: 'proxy' })).toBeInstanceOf(EmfMetrics);
    expect(metricsFor({ PRINT_METRICS: '1' })).toBeInstanceOf(PrintedMetrics);
    expect(metricsFor({})).toBe(noMetrics);
  });
});
