import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Json, PatchOperation, Store } from '../store/Store.js';

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
  const keyframe = await store.keyframeAtOrBefore(id, seq);
  if (!keyframe) return undefined;
  if (keyframe.seq === seq) return keyframe.snapshot;
  const entries = await store.readJournal(id, { from: keyframe.seq + 1, to: seq });
  let doc = keyframe.snapshot;
  for (const entry of entries) doc = applyOps(doc, entry.patch);
  return doc;
}

/** Applies a patch in place (the document must be the caller's own copy). */
export function applyOps(doc: Json, patch: readonly PatchOperation[]): Json {
  if (patch.length === 0) return doc;
  // Prototype keys are refused when written (checkJson), so paths like /constructor/prototype
  // are ordinary data here and must apply.
  return applyPatch(doc, patch as Operation[], false, true, false).newDocument as Json;
}
