import { ExecutionNotFoundError, InvalidArgumentError } from '../errors.js';
import type { ExecutionMeta, HistorySegment, Store } from '../store/Store.js';

/** An execution's whole history as ranges of the journals that hold it, oldest first. */
export interface Chain {
  meta: ExecutionMeta;
  /** Contiguous from seq 0 to `meta.seq`; the last is the execution's own journal. */
  segments: HistorySegment[];
}

/** Forks of forks deeper than this are refused as corrupt (a parent cycle). */
const MAX_DEPTH = 10_000;

/**
 * Where each part of an execution's history lives. A fork's journal starts after its fork
 * point (with a keyframe); below its first own seq the history is its parent's, and so on up.
 * An execution's own part can reach below its fork point once its prefix was copied
 * (materialised before its parent was deleted): its own entries always win.
 *
 * @example
 * ```ts
 * const { segments } = await chainOf(store, forkId);
 * // [{ id: parentId, from: 0, to: 41 }, { id: forkId, from: 42, to: 57 }]
 * ```
 */
export async function chainOf(store: Store, id: string): Promise<Chain> {
  const meta = await store.getMeta(id);
  if (!meta) throw new ExecutionNotFoundError(id);
  const segments: HistorySegment[] = [];
  let at = meta;
  let upper = meta.seq;
  for (let depth = 0; upper >= 0; depth++) {
    if (depth > MAX_DEPTH) throw new InvalidArgumentError(`Execution "${id}" has more than ${MAX_DEPTH} ancestors (a parent cycle?)`);
    const [first] = await store.readJournal(at.id, { limit: 1 });
    const from = first?.seq ?? upper + 1;
    if (from <= upper) segments.unshift({ id: at.id, from, to: upper });
    if (from === 0) break;
    upper = Math.min(from, upper + 1) - 1;
    const parent = at.parent;
    const next = parent && (await store.getMeta(parent.id));
    if (!next) {
      throw new ExecutionNotFoundError(parent?.id ?? id, `The history of execution "${id}" before seq ${upper + 1} is gone: ${parent ? `its ancestor "${parent.id}" was deleted` : 'it has no parent'}`);
    }
    at = next;
  }
  return { meta, segments };
}

/** The segment that holds `seq`, or an error naming the range there is. */
export function segmentAt(chain: Chain, seq: number): HistorySegment {
  if (!Number.isInteger(seq) || seq < 0 || seq > chain.meta.seq) {
    throw new InvalidArgumentError(`Execution "${chain.meta.id}" has transitions 0 to ${chain.meta.seq}; there is no seq ${String(seq)}`);
  }
  for (const segment of chain.segments) if (seq >= segment.from && seq <= segment.to) return segment;
  throw new InvalidArgumentError(`Execution "${chain.meta.id}" has no transition ${seq} in its history`);
}
