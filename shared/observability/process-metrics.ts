import { EmfMetrics } from './emf-metrics.ts';
import { noMetrics, type MetricsPort } from './metrics.ts';
import { PrintedMetrics } from './printed-metrics.ts';

let chosen: MetricsPort | undefined;

/**
 * The process's metrics, chosen once from the environment: EMF in Lambda (AWS_LAMBDA_FUNCTION_NAME is
 * set by the runtime), printed lines in local mode with PRINT_METRICS=1, otherwise nothing.
 */
export function processMetrics(env: NodeJS.ProcessEnv = process.env): MetricsPort {
  chosen ??= env.AWS_LAMBDA_FUNCTION_NAME ? new EmfMetrics() : env.PRINT_METRICS === '1' ? new PrintedMetrics() : noMetrics;
  return chosen;
}
