import { InvalidArgumentError } from '../errors.js';
import { rebuildPoint, type Point } from '../journal/rebuild.js';
import type { JournalEntry, Json, Store } from '../store/Store.js';
import { segmentAt, type Chain } from './chain.js';
import type { PointOptions, StateAt } from './types.js';

/**
 * The execution right after transition `seq` (of its own or, for a fork, an ancestor's), read
 * from the nearest keyframe and the patches after it: the cost does not grow with the history.
 *
 * @example
 * ```ts
 * const point = await pointAt(store, await chainOf(store, id), 42);
 * ```
 */
export async function pointAt(store: Store, chain: Chain, seq: number): Promise<Point & { holder: string }> {
  const segment = segmentAt(chain, seq);
  const point = await rebuildPoint(store, segment.id, seq);
  if (!point) throw new InvalidArgumentError(`The snapshot of "${chain.meta.id}" at seq ${seq} cannot be rebuilt: "${segment.id}" has no keyframe at or before it`);
  return { ...point, holder: segment.id };
}

/** The seq a point option names: `seq` itself, or the last transition at or before `at` (binary search on the journal). */
export async function seqOf(store: Store, chain: Chain, point: PointOptions): Promise<number> {
  if (typeof point !== 'object' || point === null) throw new InvalidArgumentError('A point in history is { seq } or { at }');
  if (point.seq !== undefined) {
    segmentAt(chain, point.seq);
    return point.seq;
  }
  const at = point.at instanceof Date ? point.at.getTime() : point.at;
  if (typeof at !== 'number' || !Number.isFinite(at)) throw new InvalidArgumentError('A point in history is { seq: number } or { at: Date }');
  const entryAt = async (seq: number): Promise<JournalEntry> => {
    const segment = segmentAt(chain, seq);
    const [entry] = await store.readJournal(segment.id, { from: seq, to: seq });
    if (!entry) throw new InvalidArgumentError(`Execution "${chain.meta.id}" has no transition ${seq} in its history`);
    return entry;
  };
  if ((await entryAt(0)).at > at) {
    throw new InvalidArgumentError(`Execution "${chain.meta.id}" has no transition at or before ${new Date(at).toISOString()}`);
  }
  // The largest seq whose transition time is at or before `at` (times grow with seq).
  let lo = 0;
  let hi = chain.meta.seq;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((await entryAt(mid)).at <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** A point as `stateAt` reports it. */
export function stateAtOf(id: string, point: Point & { holder: string }): StateAt {
  const { snapshot, entry } = point;
  const s = snapshot as { value?: Json; context?: Json };
  return {
    id,
    seq: entry.seq,
    at: new Date(entry.at),
    event: entry.event,
    status: entry.status,
    value: s.value ?? null,
    context: s.context ?? null,
    snapshot,
    timers: point.timers.map((t) => ({ id: t.id, event: t.event, dueAt: new Date(t.dueAt) })).sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime()),
    effects: Object.entries(point.effects).map(([child, e]) => ({ child, key: e.key, seq: e.seq })),
    ...(entry.inherited ? { from: entry.inherited.from } : point.holder !== id ? { from: point.holder } : {}),
  };
}
