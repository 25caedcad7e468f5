/**
 * durastate: durable execution for XState v5 statecharts on LMDB.
 *
 * The whole public API. Tests and benchmarks that need internals import `durastate/internal`.
 */
export { createRuntime, Runtime } from './runtime/Runtime.js';
export type {
  BlockedReason,
  CleanupOptions,
  Clock,
  ExecutionHandle,
  ExecutionInfo,
  ExecutionSummary,
  HistoryEntry,
  HistoryOptions,
  ListOptions,
  RuntimeOptions,
  StartOptions,
  Stats,
} from './runtime/types.js';
export { lmdbStore, type LmdbStoreOptions } from './store/lmdbStore.js';
export { memoryStore } from './store/memoryStore.js';
export type {
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
  ExecutionLockedError,
  ExecutionNotFoundError,
  InvalidArgumentError,
  InvalidEventError,
  InvalidMachineError,
  MachineNotFoundError,
  NonJsonStateError,
  RetryableError,
  RuntimeClosedError,
  SchemaVersionError,
  StoreFailureError,
  TerminalError,
  ensureError,
  type ErrorCode,
  type ErrorRecord,
} from './errors.js';
