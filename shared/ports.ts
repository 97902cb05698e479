import type { SessionStore } from './stores/model.ts';

/**
 * The small capabilities core functions take instead of the whole `Services` (runtime.ts builds
 * both). This module imports only types of leaf modules, so any core module may import it without
 * tying an import cycle back to runtime.ts.
 */

/** The current time as epoch milliseconds: `Date.now` in production, a fixed or stepped clock in tests. */
export type Clock = () => number;

/** The one place the core reads the system time; everything else takes a `Clock`. */
export const systemClock: Clock = () => Date.now();

export interface ClockPort {
  now: Clock;
}

/** Reads one Sessions row as of the injected clock. */
export interface SessionLookup extends ClockPort {
  sessions: Pick<SessionStore, 'get'>;
}
