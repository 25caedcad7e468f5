import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Json, KeyframeState, PatchOperation, Store } from '../store/Store.js';

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
  const bytes = JSON.stringify(keyframe.snapshot).length;
  if (keyframe.seq === seq) return { snapshot: keyframe.snapshot, keyframe: { seq, bytes, patchBytes: 0 } };
  const entries = await store.readJournal(id, { from: keyframe.seq + 1, to: seq });
  let doc = keyframe.snapshot;
  let patchBytes = 0;
  for (const entry of entries) {
    doc = applyOps(doc, entry.patch);
    if (entry.patch.length) patchBytes += JSON.stringify(entry.patch).length;
  }
  return { snapshot: doc, keyframe: { seq: keyframe.seq, bytes, patchBytes } };
}

/** Applies a patch in place (the document must be the caller's own copy). */
export function applyOps(doc: Json, patch: readonly PatchOperation[]): Json {
  if (patch.length === 0) return doc;
  // Prototype keys are refused when written (checkJson), so paths like /constructor/prototype
  // are ordinary data here and must apply.
  return applyPatch(doc, patch as Operation[], false, true, false).newDocument as Json;
}
