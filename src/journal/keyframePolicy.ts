import type { KeyframeState, PatchOperation } from '../store/Store.js';

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

/** Characters that JSON.stringify escapes in a string (lone surrogates among them). */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `JSON.stringify(patch).length`, the keyframe rule's measure of a patch, without building the
 * string: it is taken on every transition, and a small patch's string cost as much as the rest
 * of the bookkeeping together.
 *
 * @example
 * ```ts
 * patchBytes([{ op: 'replace', path: '/context/n', value: 2 }]); // 44, as JSON.stringify gives
 * ```
 */
export function patchBytes(patch: readonly PatchOperation[]): number {
  if (patch.length === 0) return 0;
  let bytes = patch.length + 1; // brackets and commas
  for (const op of patch) {
    const { value } = op as { value?: unknown };
    const keys = value === undefined ? 2 : 3;
    if (Object.keys(op).length !== keys) {
      bytes += JSON.stringify(op).length;
      continue;
    }
    // {"op":"…","path":…} and ,"value":…
    bytes += 17 + op.op.length + jsonBytes(op.path) + (value === undefined ? 0 : 9 + jsonBytes(value));
  }
  return bytes;
}

function jsonBytes(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return ESCAPED.test(value) ? JSON.stringify(value).length : value.length + 2;
    case 'number':
      return String(value).length;
    case 'boolean':
      return value ? 4 : 5;
    default:
      return value === null ? 4 : JSON.stringify(value).length;
  }
}
