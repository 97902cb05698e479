import type { Config } from './config/config.ts';
import type { MetricsPort } from './observability/metrics.ts';
import type { SessionStore } from './stores/model.ts';

/**
 * The small capabilities core functions take instead of the whole `Services` (runtime.ts builds
 * both). This module imports only types of leaf modules, so any core module may import it without
 * tying an import cycle back to runtime.ts.
 */

/** The current time as epoch milliseconds: `Date.now` in production, a fixed or stepped clock in tests. */
export type Clock = () => number;

export interface ClockPort {
  now: Clock;
}

export interface ConfigPort {
  config: Config;
}

export interface MetricsPortOf {
  metrics: MetricsPort;
}

/** Reads one Sessions row as of the injected clock. */
export interface SessionLookup extends ClockPort {
  sessions: Pick<SessionStore, 'get'>;
}
