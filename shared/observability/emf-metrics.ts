import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { groupByDimensions, RecordingMetrics, type MetricsPort } from './metrics.ts';

/** The namespace every metric goes to unless POWERTOOLS_METRICS_NAMESPACE names another. */
export const DEFAULT_METRICS_NAMESPACE = 'DynamicsAuth';

/**
 * CloudWatch Embedded Metric Format through Powertools Metrics: metrics are log lines that CloudWatch
 * turns into metrics, so emitting them costs no API call (AWS: "Embedded metric format"). Values are
 * kept for the invocation and written at its end, one document per dimension set.
 */
export class EmfMetrics implements MetricsPort {
  private buffer = new RecordingMetrics();

  constructor(
    private readonly powertools = new Metrics({
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE,
      serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'dynamics-auth',
    }),
  ) {}

  add: MetricsPort['add'] = (name, value, dimensions) => this.buffer.add(name, value, dimensions);

  flush(): void {
    const recorded = this.buffer.recorded;
    this.buffer = new RecordingMetrics();
    for (const group of groupByDimensions(recorded)) {
      for (const [name, value] of Object.entries(group.dimensions)) this.powertools.addDimension(name, value);
      for (const m of group.metrics) this.powertools.addMetric(m.name, MetricUnit[m.unit], m.value);
      this.powertools.publishStoredMetrics();
    }
  }
}
