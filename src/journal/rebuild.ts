import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { JournalEntry, Json, KeyframeState, PatchOperation, Store, TimerRecord } from '../store/Store.js';
import { patchBytes as patchSize } from './keyframePolicy.js';

const { applyPatch } = fastJsonPatch;

/**
 * Rebuilds the persisted snapshot at `seq`: the nearest keyframe at or below it, plus the
 * patches after it (fewer than the keyframe interval). Returns a fresh object each call, which
 * the caller may hand to XState (restoring mutates the snapshot passed in).
 *
 * @example
 * ```ts
 * const snapshot = await rebuildSnapshot(store, id, 42);
 * ```
 */
export async function rebuildSnapshot(store: Store, id: string, seq: number): Promise<Json | undefined> {
  return (await rebuildWithKeyframe(store, id, seq))?.snapshot;
}

/**
 * The same, with the keyframe bookkeeping at `seq` (which keyframe it rests on, its size, the
 * patch bytes since), so a restored execution goes on writing keyframes where it left off.
 */
export async function rebuildWithKeyframe(store: Store, id: string, seq: number): Promise<{ snapshot: Json; keyframe: KeyframeState } | undefined> {
  const keyframe = await store.keyframeAtOrBefore(id, seq);
  if (!keyframe) return undefined;
  if (keyframe.seq === seq) return { snapshot: keyframe.snapshot, keyframe: bookkeeping(keyframe, 0) };
  const replayed = replay(keyframe, await store.readJournal(id, { from: keyframe.seq + 1, to: seq }));
  return { snapshot: replayed.snapshot, keyframe: bookkeeping(keyframe, replayed.patchBytes) };
}

/**
 * A keyframe with the journal entries from it on (its own entry may be among them, its patch is
 * not applied again): the snapshot after the last entry, the patch bytes since the keyframe, and
 * the timers and effects pending then (at the keyframe's own entry an absent list means none;
 * later, unchanged).
 */
function replay(
  keyframe: { seq: number; snapshot: Json },
  entries: readonly JournalEntry[],
): { snapshot: Json; patchBytes: number; timers: TimerRecord[]; effects: Record<string, { key: string; seq: number }> } {
  let doc = keyframe.snapshot;
  let patchBytes = 0;
  let timers: TimerRecord[] = [];
  let effects: Record<string, { key: string; seq: number }> = {};
  for (const entry of entries) {
    if (entry.seq > keyframe.seq) {
      doc = applyOps(doc, entry.patch);
      patchBytes += patchSize(entry.patch);
    }
    if (entry.timers) timers = entry.timers;
    if (entry.effects) effects = entry.effects;
  }
  return { snapshot: doc, patchBytes, timers, effects };
}

/**
 * Where the keyframe policy stands after `patchBytes` of patches written since `keyframe`. The
 * keyframe's size is left unmeasured (-1): most restored executions never write 4 KiB of patches
 * before they end or the next keyframe, and measuring cost a JSON string per execution recovered.
 */
function bookkeeping(keyframe: { seq: number }, patchBytes: number): KeyframeState {
  return { seq: keyframe.seq, bytes: -1, patchBytes };
}

/**
 * The latest snapshot of an execution, with the entry of its last transition and the keyframe
 * bookkeeping: for a restore that does not know the last seq yet (one read less per execution
 * when thousands are recovered).
 */
export async function rebuildLatest(store: Store, id: string): Promise<{ snapshot: Json; keyframe: KeyframeState; last: JournalEntry } | undefined> {
  const keyframe = await store.keyframeAtOrBefore(id, Number.MAX_SAFE_INTEGER - 1);
  if (!keyframe) return undefined;
  const entries = await store.readJournal(id, { from: keyframe.seq });
  const last = entries[entries.length - 1];
  if (!last) return undefined;
  const replayed = replay(keyframe, entries);
  return { snapshot: replayed.snapshot, keyframe: bookkeeping(keyframe, replayed.patchBytes), last };
}

/** An execution as it was right after transition `seq`: what a fork or a rewind continues from. */
export interface Point {
  snapshot: Json;
  /** The journal entry of transition `seq`. */
  entry: JournalEntry;
  /** The delayed events pending then, with the due times they had. */
  timers: TimerRecord[];
  /** The durable effects in flight then, by child path. */
  effects: Record<string, { key: string; seq: number }>;
}

/**
 * The snapshot at `seq` with the entry of that transition and what was pending then: read from
 * the same keyframe and patches as {@link rebuildSnapshot}, so its cost is as bounded.
 *
 * @example
 * ```ts
 * const { snapshot, timers } = await rebuildPoint(store, id, 42);
 * ```
 */
export async function rebuildPoint(store: Store, id: string, seq: number): Promise<Point | undefined> {
  const keyframe = await store.keyframeAtOrBefore(id, seq);
  if (!keyframe) return undefined;
  const entries = await store.readJournal(id, { from: keyframe.seq, to: seq });
  const entry = entries[entries.length - 1];
  if (!entry || entry.seq !== seq) return undefined;
  const { snapshot, timers, effects } = replay(keyframe, entries);
  return { snapshot, entry, timers, effects };
}

/** Applies a patch in place (the document must be the caller's own copy). */
export function applyOps(doc: Json, patch: readonly PatchOperation[]): Json {
  if (patch.length === 0) return doc;
  // Prototype keys are refused when written (checkJson), so paths like /constructor/prototype
  // are ordinary data here and must apply.
  return applyPatch(doc, patch as Operation[], false, true, false).newDocument as Json;
}
