/**
 * durastate: durable execution for XState v5 statecharts on LMDB.
 *
 * The whole public API. Tests and benchmarks that need internals import `durastate/internal`.
 */
export { createRuntime, Runtime } from './runtime/Runtime.js';
export { simulatedClock, systemClock, type SimulatedClock } from './runtime/clock.js';
export type { RuntimeEvent, RuntimeEventType } from './progress/events.js';
export { progressOf, type Progress } from './progress/progress.js';
export type { HostedExecutionRow, HostedRegistry, RegistryContext } from './progress/registry.js';
export { withRetry, DEFAULT_RETRY_POLICY, type RetryPolicy } from './runtime/retry.js';
export { fromEffect, type EffectArgs, type EffectContext, type EffectEvent } from './runtime/effects.js';
export type {
  BlockedReason,
  CleanupOptions,
  Clock,
  EffectInfo,
  ExecutionHandle,
  ExecutionInfo,
  ExecutionSummary,
  HistoryEntry,
  HistoryOptions,
  ListOptions,
  RuntimeOptions,
  SendOptions,
  SendResult,
  StartOptions,
  Stats,
} from './runtime/types.js';
export type {
  DeleteOptions,
  ExecutionPoint,
  ForkHandle,
  ForkOptions,
  ForkSnapshot,
  Lineage,
  LineageNode,
  PointOptions,
  RewindOptions,
  RewindResult,
  StateAt,
} from './timeline/types.js';
export { lmdbStore, type LmdbStoreOptions } from './store/lmdbStore.js';
export { memoryStore } from './store/memoryStore.js';
export type {
  EffectRecord,
  TimerRecord,
  ExecutionStatus,
  ExecutionMeta,
  JournalEntry,
  Json,
  Page,
  PatchOperation,
  Store,
} from './store/Store.js';
export {
  DurastateError,
  EventNotAcceptedError,
  ExecutionBlockedError,
  ExecutionCancelledError,
  ExecutionExistsError,
  ExecutionFailedError,
  ExecutionFinishedError,
  ExecutionHasForksError,
  ExecutionLockedError,
  ExecutionNotFoundError,
  InvalidArgumentError,
  InvalidEventError,
  InvalidMachineError,
  InvalidUpdateError,
  MachineNotFoundError,
  NonJsonStateError,
  RetryableError,
  RuntimeClosedError,
  SchemaVersionError,
  SendTimeoutError,
  StoreBusyError,
  StoreFailureError,
  TerminalError,
  ensureError,
  type ErrorCode,
  type ErrorRecord,
} from './errors.js';
