/**
 * Internals for tests and benchmarks: not part of the public API, may change without notice.
 */
export * from './index.js';
export { diffSnapshots, checkJson, pointerToPath } from './journal/diff.js';
export { rebuildSnapshot, rebuildPoint, applyOps } from './journal/rebuild.js';
export { chainOf } from './timeline/chain.js';
export { shouldKeyframe, nextKeyframeState, patchBytes, DEFAULT_KEYFRAME_EVERY, KEYFRAME_MIN_BYTES } from './journal/keyframePolicy.js';
export { MachineRegistry, machineVersion } from './runtime/registry.js';
export { statusOf } from './runtime/status.js';
export { acceptedEvents } from './runtime/acceptedEvents.js';
export { SCHEMA_VERSION, EXECUTION_STATUSES, ACTIVE_STATUSES, isFinished } from './store/Store.js';
export type { ClaimResult, OwnerRecord, TransitionWrite, KeyframeState, ListQuery, JournalRange, HistorySegment, RewindWrite } from './store/Store.js';
export { LmdbStore } from './store/lmdbStore.js';
export { SnapshotPersister } from './runtime/persisted.js';
export { Waker } from './runtime/waker.js';
