/**
 * What the supervisor watches: the lifecycle of each hosted execution, keyed by execution id.
 *
 * - `started`: the actor is running (first start, recovery or restart).
 * - `crashed`: the actor died (XState `status: 'error'`); `error` is what it threw.
 * - `stopped`: the actor finished (completed, failed) or was cancelled; supervision of that id
 *   ends, and a later crash of the same id is supervised afresh.
 *
 * `at` is informational (when the host saw it); the supervisor counts time on its own scheduler.
 */
export type ActorLifecycle =
  | { type: 'started'; id: string; at: number }
  | { type: 'crashed'; id: string; at: number; error: unknown }
  | { type: 'stopped'; id: string; at: number };

/**
 * What the supervisor decided about one crash.
 *
 * - `restart`: restore `id` from its last good snapshot and start it again now. Emitted once the
 *   backoff `delay` has passed; `attempt` is the restart's number within the window (1, 2, ...).
 * - `escalate`: give up; the execution fails with `error`. `reason` is `terminal` when the error
 *   was a `TerminalError`, `intensity` when it crashed more than `maxRestarts` times within the
 *   window. `attempts` counts the runs that crashed within the window, this one included.
 */
export type SupervisorDecision =
  | { type: 'restart'; id: string; attempt: number; delay: number; error: unknown }
  | { type: 'escalate'; id: string; attempts: number; error: unknown; reason: 'terminal' | 'intensity' };
