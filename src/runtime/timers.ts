import type { AnyActor, AnyActorRef } from 'xstate';
import type { Json, TimerRecord } from '../store/Store.js';

/**
 * Delayed events (`after`, delayed `raise` / `sendTo`) live only in XState's scheduler and
 * vanish on restore (xstate issue 5331). The runtime reads them after every transition, keeps
 * each with an absolute due time, and schedules them again when it restores an execution.
 */

interface ScheduledEvent {
  source: AnyActorRef;
  target: AnyActorRef;
  event: { type: string };
  delay: number;
  id: string;
}

/** The path of child ids from the root to `ref` ([] for the root): stable across processes, unlike session ids. */
function pathOf(ref: AnyActorRef, root: AnyActor): string[] {
  const path: string[] = [];
  let at: AnyActorRef | undefined = ref;
  while (at && at !== root) {
    path.unshift(at.id);
    at = (at as { _parent?: AnyActorRef })._parent;
  }
  return path;
}

function refAt(root: AnyActor, path: readonly string[]): AnyActorRef | undefined {
  let at: AnyActorRef | undefined = root;
  for (const id of path) {
    at = (at?.getSnapshot() as { children?: Record<string, AnyActorRef> } | undefined)?.children?.[id];
  }
  return at;
}

/**
 * The delayed events pending in `root`'s system now, with the scheduled-event object each came
 * from. A timer still backed by the same object keeps its due time; a new one, or one scheduled
 * again under the same id (a state re-entered, a cancel and raise), is due `delay` ms from `now`.
 */
export function pendingTimers(
  root: AnyActor,
  known: ReadonlyMap<string, TimerRecord>,
  sources: ReadonlyMap<string, object>,
  now: number,
): { timers: Map<string, TimerRecord>; sources: Map<string, object> } {
  // The system's own record (getSnapshot() would copy it on every transition).
  const scheduled = (root.system as unknown as { _snapshot: { _scheduledEvents: Record<string, ScheduledEvent> } })._snapshot._scheduledEvents;
  let any = false;
  for (const _ in scheduled) {
    any = true;
    break;
  }
  if (!any && known.size === 0) return NONE;
  const timers = new Map<string, TimerRecord>();
  const nextSources = new Map<string, object>();
  for (const s of Object.values(scheduled)) {
    const source = pathOf(s.source, root);
    const id = `${source.join('/')}#${s.id}`;
    const existing = sources.get(id) === s ? known.get(id) : undefined;
    timers.set(
      id,
      existing ?? { id, xid: s.id, event: s.event as unknown as Json, dueAt: now + s.delay, source, target: pathOf(s.target, root) },
    );
    nextSources.set(id, s);
  }
  return { timers, sources: nextSources };
}

/** No timers (shared: never mutated; an execution without timers holds these, not Maps of its own). */
const NONE: { timers: Map<string, TimerRecord>; sources: Map<string, object> } = { timers: new Map(), sources: new Map() };
export const NO_PENDING_TIMERS: { readonly timers: ReadonlyMap<string, TimerRecord>; readonly sources: ReadonlyMap<string, object> } = NONE;
export const NO_TIMERS = NO_PENDING_TIMERS.timers;
export const NO_TIMER_SOURCES = NO_PENDING_TIMERS.sources;

/** Whether two timer sets hold the same timers, due at the same times. */
export function sameTimers(a: ReadonlyMap<string, TimerRecord>, b: ReadonlyMap<string, TimerRecord>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, t] of a) if (b.get(id)?.dueAt !== t.dueAt) return false;
  return true;
}

/**
 * Schedules persisted timers again on a restored actor, each with the time it has left; the
 * ones already due fire at once, in due order.
 */
export function rearmTimers(root: AnyActor, timers: readonly TimerRecord[], now: number): Map<string, object> {
  const ordered = [...timers].sort((a, b) => a.dueAt - b.dueAt);
  for (const t of ordered) {
    const source = refAt(root, t.source);
    const target = refAt(root, t.target);
    if (!source || !target) continue; // its actor is gone: the timer could not fire anyway
    root.system.scheduler.schedule(source, target, t.event as unknown as { type: string }, Math.max(0, t.dueAt - now), t.xid);
  }
  // The objects behind the re-armed timers, so that they keep their stored due times.
  return pendingTimers(root, timers.length ? new Map(timers.map((t) => [t.id, t])) : NONE.timers, NONE.sources, now).sources;
}
