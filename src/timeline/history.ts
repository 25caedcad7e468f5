import type { JournalEntry, Store } from '../store/Store.js';
import type { Chain } from './chain.js';
import type { HistoryEntry, HistoryOptions } from './types.js';

/**
 * The transitions of an execution in a seq range, through its ancestors for a fork: each read
 * from the journal that holds it, without loading any actor. Transitions an ancestor made are
 * marked with `from`, the fork point with `forkPoint`.
 *
 * @example
 * ```ts
 * const page = await readHistory(store, await chainOf(store, id), { from: 100, limit: 50 });
 * ```
 */
export async function readHistory(store: Store, chain: Chain, range: HistoryOptions = {}): Promise<HistoryEntry[]> {
  const from = range.from ?? 0;
  const to = Math.min(range.to ?? chain.meta.seq, chain.meta.seq);
  let left = range.limit ?? Infinity;
  const out: HistoryEntry[] = [];
  const segments = range.reverse ? [...chain.segments].reverse() : chain.segments;
  const head = chain.meta.id;
  for (const segment of segments) {
    if (left <= 0) break;
    const lo = Math.max(from, segment.from);
    const hi = Math.min(to, segment.to);
    if (lo > hi) continue;
    const entries = await store.readJournal(segment.id, { from: lo, to: hi, ...(range.reverse ? { reverse: true } : {}), ...(left !== Infinity ? { limit: left } : {}) });
    left -= entries.length;
    for (const entry of entries) {
      // An entry copied from an ancestor keeps naming it; the fork point is where a copied range
      // ended, or where a segment of another execution ends.
      const own = segment.id === head;
      const from = entry.inherited?.from ?? (own ? undefined : segment.id);
      const forkPoint = entry.inherited?.forkPoint === true || (!own && entry.seq === segment.to);
      out.push(historyEntry(entry, from === undefined ? undefined : { from, ...(forkPoint ? { forkPoint: true as const } : {}) }));
    }
  }
  return out;
}

function historyEntry(e: JournalEntry, inherited: JournalEntry['inherited']): HistoryEntry {
  return {
    seq: e.seq,
    at: new Date(e.at),
    event: e.event,
    value: e.value,
    status: e.status,
    ...(inherited ? { from: inherited.from } : {}),
    ...(inherited?.forkPoint ? { forkPoint: true as const } : {}),
  };
}
