import { groupByDimensions, RecordingMetrics, type MetricsPort } from './metrics.ts';

/** One readable line per metric value, e.g. `metric Refresh 1 Count outcome=ok trigger=ahead`. */
export function formatMetricLines(recorded: RecordingMetrics['recorded']): string[] {
  return groupByDimensions(recorded).flatMap((group) => {
    const dims = Object.entries(group.dimensions)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return group.metrics.map((m) => `metric ${m.name} ${m.value} ${m.unit}${dims ? ` ${dims}` : ''}`);
  });
}

/** Local mode with PRINT_METRICS=1 (`npm start -- --metrics`): what Lambda would emit, printed per request. */
export class PrintedMetrics implements MetricsPort {
  private buffer = new RecordingMetrics();

  constructor(private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  add: MetricsPort['add'] = (name, value, dimensions) => this.buffer.add(name, value, dimensions);

  flush(): void {
    const recorded = this.buffer.recorded;
    this.buffer = new RecordingMetrics();
    for (const line of formatMetricLines(recorded)) this.write(line);
  }
}
