import { backoffDelay, type Backoff } from '../runtime/backoff.js';

/**
 * How the supervisor restarts a crashed execution: an exponential backoff between restarts (the
 * same knobs as an effect's `RetryPolicy`) and a restart intensity as Erlang/OTP supervisors count
 * it: at most `maxRestarts` restarts within any `window` ms; one more crash inside the window
 * escalates (the execution fails).
 */
export interface SupervisorPolicy extends Backoff {
  /** Restarts allowed within `window`; the crash after them escalates. */
  maxRestarts: number;
  /** The sliding window crashes are counted in, in ms. */
  window: number;
}

export const DEFAULT_SUPERVISOR_POLICY: SupervisorPolicy = {
  initialDelay: 100,
  factor: 2,
  maxDelay: 30_000,
  jitter: 0.2,
  maxRestarts: 5,
  window: 60_000,
};

/**
 * The delay before restart number `attempt` (1 = first crash in the window):
 * `min(maxDelay, initialDelay * factor^(attempt-1))`, spread by `±jitter` with `random`, rounded,
 * and capped at `maxDelay` again.
 *
 * @example
 * ```ts
 * restartDelay({ ...DEFAULT_SUPERVISOR_POLICY, jitter: 0 }, 2); // 200
 * ```
 */
export function restartDelay(policy: SupervisorPolicy, attempt: number, random: () => number = Math.random): number {
  return backoffDelay(policy, attempt, random);
}
