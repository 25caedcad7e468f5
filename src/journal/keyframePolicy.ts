import type { KeyframeState } from '../store/Store.js';

/** Default: a keyframe at least every 128 transitions, so a rebuild applies at most 127 patches. */
export const DEFAULT_KEYFRAME_EVERY = 128;

export interface KeyframeDecision {
  /** Whether transition `seq` writes a full keyframe. */
  keyframe: boolean;
}

/**
 * Decides whether transition `seq` gets a keyframe: at the end of an execution, when `every`
 * transitions passed since the last one, or when the patch bytes written since it exceed the
 * keyframe's own size. The last rule keeps storage proportional to what changes (a snapshot
 * that grows by a message per step gets keyframes at geometrically spaced steps), and the
 * first bounds how many patches rebuilding a snapshot reads.
 *
 * @example
 * ```ts
 * shouldKeyframe({ seq: 10, bytes: 400, patchBytes: 380 }, 11, 40, false, 128); // true
 * ```
 */
export function shouldKeyframe(
  state: KeyframeState,
  seq: number,
  patchBytes: number,
  final: boolean,
  every: number,
): boolean {
  return final || seq - state.seq >= every || state.patchBytes + patchBytes > state.bytes;
}

/** Bookkeeping after transition `seq` of `patchBytes` (and a keyframe of `keyframeBytes`, if one). */
export function nextKeyframeState(state: KeyframeState, seq: number, patchBytes: number, keyframeBytes?: number): KeyframeState {
  if (keyframeBytes !== undefined) return { seq, bytes: keyframeBytes, patchBytes: 0 };
  return { seq: state.seq, bytes: state.bytes, patchBytes: state.patchBytes + patchBytes };
}
