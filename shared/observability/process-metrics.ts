import { EmfMetrics } from './emf-metrics.ts';
import { noMetrics, type MetricsPort } from './metrics.ts';
import { PrintedMetrics } from './printed-metrics.ts';

/**
 * The metrics an environment gets: EMF in Lambda (AWS_LAMBDA_FUNCTION_NAME is set by the runtime),
 * printed lines in local mode with PRINT_METRICS=1 (`npm start -- --metrics`), otherwise nothing.
 */
export function metricsFor(env: NodeJS.ProcessEnv): MetricsPort {
  if (env.AWS_LAMBDA_FUNCTION_NAME) return new EmfMetrics();
  if (env.PRINT_METRICS === '1') return new PrintedMetrics();
  return noMetrics;
}

let chosen: MetricsPort | undefined;

/** The process's metrics, chosen once from its environment. */
export function processMetrics(): MetricsPort {
  chosen ??= metricsFor(process.env);
  return chosen;
}
