import type { AnyStateMachine } from 'xstate';
import type { ErrorRecord } from '../errors.js';
import type { EffectRecord, ExecutionStatus, Json, Store } from '../store/Store.js';

import type { Clock } from './clock.js';
import type { RetryPolicy } from './retry.js';
import type { SupervisorPolicy } from '../supervisor/policy.js';

export type { Clock } from './clock.js';

export interface RuntimeOptions {
  /** Where executions live. Default: `lmdbStore()` in `./.durastate`. */
  store?: Store;
  /** The workflows this runtime can run, keyed by `machine.id`. */
  machines?: readonly AnyStateMachine[];
  /** Restore and continue interrupted executions when the runtime opens (default true). */
  recover?: boolean;
  /** Workflow time (timestamps, delayed events, retry backoffs). Default: the system clock; tests pass `simulatedClock()`. */
  clock?: Clock;
  /** Retry policy of durable effects that set none with `withRetry` (default: 3 attempts, 1 s, ×2, ≤ 60 s, ±20%). */
  retry?: Partial<RetryPolicy>;
  /**
   * How a crashed actor (an action, guard or assign threw; an invoke failed with no onError) is
   * restarted from its last committed snapshot: backoff and restart intensity (default: 100 ms,
   * ×2, ≤ 30 s, ±20 %, at most 5 restarts within 60 s; a TerminalError is never restarted).
   */
  supervisor?: Partial<SupervisorPolicy>;
  /** The same, per machine id, over `supervisor`. */
  supervisors?: Record<string, Partial<SupervisorPolicy>>;
  /** How often this runtime looks for events sent by other processes to executions it runs (default 25 ms). */
  inboxPollMs?: number;
  /** How long this process's ownership lease lasts without renewal, in ms (default 30,000). */
  leaseMs?: number;
  /**
   * A waiting execution (no effect in flight: only an event or a timer can move it) unused for
   * this long, in ms, leaves memory; an event sent to it or a due timer (found in the store's
   * timers table) loads it again, and recovery leaves waiting executions in the store until
   * then. Default 60,000; `Infinity` keeps every execution in memory.
   */
  passivateAfterMs?: number;
  /** A keyframe at least every this many transitions (default 128). */
  keyframeEvery?: number;
  /** How often `wait` polls the store for executions hosted by another process (default 100 ms). */
  pollMs?: number;
}

export interface StartOptions {
  input?: unknown;
  /** The execution id (default: a random UUID). Starting an id that exists is refused. */
  id?: string;
  /**
   * Only write the execution (its transition 0), with no owner, and do not run it here: a worker
   * (any runtime that recovers it, e.g. `durastate worker`) runs it, or the first event sent to
   * it. Its effects never start in this process.
   */
  detach?: boolean;
}

export interface ExecutionHandle {
  readonly id: string;
}

/** Why an execution that is kept in the store cannot run in this runtime. */
export interface BlockedReason {
  code: 'MACHINE_NOT_REGISTERED' | 'MACHINE_VERSION_CHANGED';
  message: string;
}

/** An execution as `list` reports it (no context: that needs a snapshot rebuild). */
export interface ExecutionSummary {
  id: string;
  machine: string;
  machineVersion: string;
  status: ExecutionStatus;
  seq: number;
  value: Json;
  createdAt: Date;
  updatedAt: Date;
  output?: Json;
  error?: ErrorRecord;
  /** The reason given to `cancel`, for a cancelled execution. */
  cancelReason?: string;
  parent?: { id: string; seq: number };
  /** The runtime process that runs (or last ran) it. */
  owner?: string;
  /** Set when the execution is kept but cannot run here. */
  blocked?: BlockedReason;
}

/** An execution as `get` reports it, from the store. */
export interface ExecutionInfo extends ExecutionSummary {
  context: Json;
  input?: Json;
  /** Event types with an enabled transition now, for an execution that is not finished. */
  accepts: string[];
  /** Delayed events pending: what will be sent, and when. */
  timers: { id: string; event: Json; dueAt: Date }[];
  /** Durable effects of this execution: running, waiting to retry (pending), done or failed, with attempts. */
  effects: EffectInfo[];
}

/**
 * A durable effect as `get` reports it: its record (`pending`: an attempt failed and the next is
 * due at `retryAt`; `done`; `failed`), or `running`: started and nothing recorded yet (its first
 * attempt is in flight, or was when its process stopped).
 */
export type EffectInfo = Omit<EffectRecord, 'status'> & { status: EffectRecord['status'] | 'running' };

export interface SendOptions {
  /**
   * An idempotency key: an event whose key this execution already applied is not applied
   * again (the call resolves with the seq of the first application), so a resend after a
   * timeout or crash is safe.
   */
  key?: string;
  /**
   * For an execution run by another process: give up waiting for its owner after this many ms,
   * rejecting with code `SEND_TIMEOUT`. The event stays in the inbox and may still be applied;
   * resend it with the same `key` to learn its outcome without applying it twice.
   */
  timeoutMs?: number;
}

/** What `send` resolves with once the event's transition is committed. */
export interface SendResult {
  /** The seq of the transition the event caused. */
  seq: number;
  /** True when the idempotency key had been applied before and the event was not applied again. */
  duplicate: boolean;
}

export interface ListOptions {
  status?: ExecutionStatus;
  machine?: string;
  limit?: number;
  cursor?: string;
}

export interface CleanupOptions {
  /** Remove executions that entered their status before this time, or more than this many ms ago. */
  olderThan: Date | number;
  /** Statuses to remove (default: completed, failed, cancelled). */
  status?: ExecutionStatus | readonly ExecutionStatus[];
}

export interface Stats {
  total: number;
  byStatus: Record<ExecutionStatus, number>;
  /** Executions hosted (in memory) by this runtime. */
  hosted: number;
}

export type { HistoryEntry, HistoryOptions } from '../timeline/types.js';
