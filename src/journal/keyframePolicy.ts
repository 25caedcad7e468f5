import type { KeyframeState } from '../store/Store.js';

/** Default: a keyframe at least every 128 transitions, so a rebuild applies at most 127 patches. */
export const DEFAULT_KEYFRAME_EVERY = 128;

/**
 * Patch bytes are compared with the keyframe's size, but never with less than this: for a small
 * snapshot, a keyframe every other transition would cost a page write per transition to save
 * a rebuild applying a few tiny patches.
 */
export const KEYFRAME_MIN_BYTES = 4096;

export interface KeyframeDecision {
  /** Whether transition `seq` writes a full keyframe. */
  keyframe: boolean;
}

/**
 * Decides whether transition `seq` gets a keyframe: at the end of an execution, when `every`
 * transitions passed since the last one, or when the patch bytes written since it exceed the
 * keyframe's own size (or {@link KEYFRAME_MIN_BYTES}, whichever is larger). The last rule keeps storage proportional to what changes (a snapshot
 * that grows by a message per step gets keyframes at geometrically spaced steps), and the
 * first bounds how many patches rebuilding a snapshot reads.
 *
 * @example
 * ```ts
 * shouldKeyframe({ seq: 10, bytes: 8000, patchBytes: 7980 }, 11, 40, false, 128); // true
 * ```
 */
export function shouldKeyframe(
  state: KeyframeState,
  seq: number,
  patchBytes: number,
  final: boolean,
  every: number,
  minBytes: number = KEYFRAME_MIN_BYTES,
): boolean {
  return final || seq - state.seq >= every || state.patchBytes + patchBytes > Math.max(state.bytes, minBytes);
}

/** Bookkeeping after transition `seq` of `patchBytes` (and a keyframe of `keyframeBytes`, if one). */
export function nextKeyframeState(state: KeyframeState, seq: number, patchBytes: number, keyframeBytes?: number): KeyframeState {
  if (keyframeBytes !== undefined) return { seq, bytes: keyframeBytes, patchBytes: 0 };
  return { seq: state.seq, bytes: state.bytes, patchBytes: state.patchBytes + patchBytes };
}
