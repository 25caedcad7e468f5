import {
  asyncScheduler,
  EMPTY,
  filter,
  groupBy,
  map,
  mergeMap,
  of,
  scan,
  takeUntil,
  timer,
  type Observable,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { TerminalError } from '../errors.js';
import type { ActorLifecycle, SupervisorDecision } from './lifecycle.js';
import { restartDelay, type SupervisorPolicy } from './policy.js';

export interface SuperviseOptions {
  /** Where delays run and time is read (`now()`); `asyncScheduler` by default. Inject a `TestScheduler` for virtual time. */
  scheduler?: SchedulerLike;
  /** Source of jitter in [0, 1); `Math.random` by default. */
  random?: () => number;
  /** The policy of one execution (for example by its machine); the `policy` argument otherwise. */
  policyFor?: (id: string) => SupervisorPolicy;
}

type Crash = Extract<ActorLifecycle, { type: 'crashed' }>;

/** Per-id memory: when the counted crashes happened, and the decision of the last one. */
interface IdState {
  crashes: number[];
  decision: SupervisorDecision | undefined;
}

const isCrash = (e: ActorLifecycle): e is Crash => e.type === 'crashed';
const isStopped = (e: ActorLifecycle): boolean => e.type === 'stopped';

/**
 * Turns actor lifecycles into restart decisions, one independent supervisor per execution id.
 *
 * On each `crashed`:
 * - a `TerminalError` escalates at once (`reason: 'terminal'`);
 * - otherwise the crash is counted in a sliding `window` (time from the scheduler's `now()`); the
 *   crash that makes more than `maxRestarts` in the window escalates (`reason: 'intensity'`);
 * - otherwise a `restart` is emitted after `restartDelay(policy, n)` ms, `n` being the crashes in
 *   the window. `started` does not reset the count: only time does, as old crashes leave the window.
 *
 * A crash reported while a restart of the same id is still pending is ignored (not counted, no
 * second restart): the actor is down, so it is a duplicate report of the same outage. After an
 * escalation the id's count is cleared, so a manual retry starts with a full budget. `stopped`
 * ends the id's supervision and cancels its pending restart. Ids never delay one another.
 *
 * @example
 * ```ts
 * lifecycles$.pipe(supervise(DEFAULT_SUPERVISOR_POLICY)).subscribe((d) =>
 *   d.type === 'restart' ? restore(d.id) : fail(d.id, d.error, d.attempts),
 * );
 * ```
 */
export function supervise(
  policy: SupervisorPolicy,
  options: SuperviseOptions = {},
): OperatorFunction<ActorLifecycle, SupervisorDecision> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const random = options.random ?? Math.random;

  const superviseOne = (id: string, events$: Observable<ActorLifecycle>): Observable<SupervisorDecision> => {
    const p = options.policyFor?.(id) ?? policy;
    // Set from a restart's decision until it is emitted. Not a time comparison: a timer may fire
    // before the scheduler's clock reads its due time (Node's timers run on the loop's cached
    // clock), and the crash of the restarted actor must never pass for a duplicate.
    let restartPending = false;
    const step = (state: IdState, crash: Crash): IdState => {
      const now = scheduler.now();
      if (restartPending) return { ...state, decision: undefined };
      if (crash.error instanceof TerminalError) {
        const attempts = state.crashes.filter((t) => t > now - p.window).length + 1;
        return { crashes: [], decision: { type: 'escalate', id, attempts, error: crash.error, reason: 'terminal' } };
      }
      const crashes = [...state.crashes.filter((t) => t > now - p.window), now];
      const n = crashes.length;
      if (n > p.maxRestarts) {
        return { crashes: [], decision: { type: 'escalate', id, attempts: n, error: crash.error, reason: 'intensity' } };
      }
      const delay = restartDelay(p, n, random);
      restartPending = true;
      return { crashes, decision: { type: 'restart', id, attempt: n, delay, error: crash.error } };
    };
    return events$.pipe(
      filter(isCrash),
      scan(step, { crashes: [], decision: undefined }),
      mergeMap(({ decision }) => {
        if (!decision) return EMPTY;
        if (decision.type !== 'restart') return of(decision);
        return timer(decision.delay, scheduler).pipe(
          map(() => {
            restartPending = false;
            return decision;
          }),
        );
      }),
      takeUntil(events$.pipe(filter(isStopped))),
    );
  };

  return (lifecycles$) =>
    lifecycles$.pipe(
      groupBy((e) => e.id, { duration: (group) => group.pipe(filter(isStopped)) }),
      mergeMap((group) => superviseOne(group.key, group)),
    );
}
