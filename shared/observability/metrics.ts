/**
 * The metrics port: what the core counts and times, with dimensions from closed sets only. A value
 * outside its set becomes `other`, so no user, tenant, token or host can ever become a dimension
 * (each dimension value is a new CloudWatch metric, and dimensions are readable by every dashboard user).
 */
import type { ErrorCode } from '../errors/catalogue.ts';

/** Every metric the service emits, with its unit. */
export const METRICS = {
  SignIn: 'Count',
  Refresh: 'Count',
  TokenEndpointLatency: 'Milliseconds',
  ProxyCall: 'Count',
  ProxyLatency: 'Milliseconds',
  DataverseThrottled: 'Count',
  DataverseRetryAfter: 'Seconds',
  KmsCall: 'Count',
  RefreshLeaseWait: 'Count',
  ConnectionStateChange: 'Count',
} as const;
export type MetricName = keyof typeof METRICS;
export type MetricUnitName = (typeof METRICS)[MetricName];

/** Sign-in failure reasons: the callback's own error codes (the catalogue; an IdP's code is never one). */
export const SIGN_IN_REASONS = [
  'invalid_state',
  'invalid_connect_token',
  'account_mismatch',
  'admin_consent_required',
  'authorization_failed',
  'sign_in_declined',
  'authorization_code_rejected',
  'invalid_callback',
  'invalid_id_token',
  'no_refresh_token',
  'invalid_request',
  'temporarily_unavailable',
  'client_rejected',
  'upstream_error',
  'misconfigured',
  'internal_error',
] as const satisfies readonly ErrorCode[];

/** The only dimension names and, for each, the only values it may take (plus `other`). */
export const DIMENSION_VALUES = {
  outcome: ['ok', 'failed', 'terminal'],
  trigger: ['ahead', '401', 'explicit'],
  statusClass: ['2xx', '3xx', '4xx', '5xx'],
  reason: SIGN_IN_REASONS,
  operation: ['GenerateDataKey', 'Decrypt', 'Sign'],
  state: ['connected', 'failed', 'deleted'],
} as const;
export type DimensionName = keyof typeof DIMENSION_VALUES;
export type Dimensions = Partial<{ [K in DimensionName]: (typeof DIMENSION_VALUES)[K][number] }>;
export const OTHER = 'other';

export type RefreshTrigger = (typeof DIMENSION_VALUES.trigger)[number];

/** A dimension set reduced to the closed sets: unknown names are dropped, unknown values become `other`. */
export function closedDimensions(dimensions: Record<string, string | undefined> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(DIMENSION_VALUES) as DimensionName[]) {
    const value = dimensions[name];
    if (value === undefined) continue;
    out[name] = (DIMENSION_VALUES[name] as readonly string[]).includes(value) ? value : OTHER;
  }
  return out;
}

/** The HTTP status class of a status code (`2xx` … `5xx`). */
export function statusClassOf(status: number): NonNullable<Dimensions['statusClass']> {
  const cls = `${Math.min(5, Math.max(2, Math.floor(status / 100)))}xx`;
  return cls as NonNullable<Dimensions['statusClass']>;
}

export interface MetricsPort {
  /** Records one value; dimensions are reduced to the closed sets first. */
  add(name: MetricName, value: number, dimensions?: Dimensions): void;
  /** Emits what was recorded since the last flush (once per invocation). */
  flush(): void;
}

export interface RecordedMetric {
  name: MetricName;
  unit: MetricUnitName;
  value: number;
  dimensions: Record<string, string>;
}

/** Keeps what was recorded, for tests and for the local printer. */
export class RecordingMetrics implements MetricsPort {
  readonly recorded: RecordedMetric[] = [];
  flushes = 0;

  add(name: MetricName, value: number, dimensions?: Dimensions): void {
    this.recorded.push({ name, unit: METRICS[name], value, dimensions: closedDimensions(dimensions) });
  }

  flush(): void {
    this.flushes++;
  }

  /** Sum of one metric's values whose dimensions include `dimensions`. */
  sum(name: MetricName, dimensions: Dimensions = {}): number {
    return this.named(name, dimensions).reduce((total, m) => total + m.value, 0);
  }

  named(name: MetricName, dimensions: Dimensions = {}): RecordedMetric[] {
    return this.recorded.filter(
      (m) => m.name === name && Object.entries(dimensions).every(([k, v]) => m.dimensions[k] === v),
    );
  }
}

/** Records nothing: tests and local mode without the metrics flag. */
export const noMetrics: MetricsPort = { add: () => undefined, flush: () => undefined };

/** Groups values by their dimension set: one EMF document per set, since a document's dimensions apply to all its metrics. */
export function groupByDimensions(
  recorded: readonly RecordedMetric[],
): { dimensions: Record<string, string>; metrics: RecordedMetric[] }[] {
  const groups = new Map<string, { dimensions: Record<string, string>; metrics: RecordedMetric[] }>();
  for (const m of recorded) {
    const key = JSON.stringify(Object.entries(m.dimensions).sort(([a], [b]) => a.localeCompare(b)));
    const group = groups.get(key) ?? { dimensions: m.dimensions, metrics: [] };
    group.metrics.push(m);
    groups.set(key, group);
  }
  return [...groups.values()];
}
