import type { ErrorRecord } from '../errors.js';

/**
 * The persistence contract. Asynchronous and narrow so that a store on another database (a
 * PostgreSQL store for several hosts) can implement it; nothing here knows about XState:
 * snapshots are JSON values.
 */

/** JSON data as it is stored. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type ExecutionStatus = 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled';

export const EXECUTION_STATUSES: readonly ExecutionStatus[] = ['running', 'waiting', 'completed', 'failed', 'cancelled'];

/** Statuses in which an execution still has work to do (and so an owner). */
export const ACTIVE_STATUSES: readonly ExecutionStatus[] = ['running', 'waiting'];

export function isFinished(status: ExecutionStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** Whether a claim may take an execution in `status`: a finished one only when reopened (see Store.claim). */
export function claimable(status: ExecutionStatus, reopen?: boolean | 'any'): boolean {
  return !isFinished(status) || reopen === 'any' || (reopen === true && status === 'failed');
}

/** One RFC 6902 operation, as far as durastate writes them. */
export type PatchOperation =
  | { op: 'add'; path: string; value: Json }
  | { op: 'replace'; path: string; value: Json }
  | { op: 'remove'; path: string };

/** Bookkeeping that decides when the next keyframe is due. */
export interface KeyframeState {
  /** seq of the latest keyframe. */
  seq: number;
  /**
   * JSON length of that keyframe; -1 when not measured yet. A rebuild leaves it to the host,
   * which measures its snapshot once the patches pass the policy's 4 KiB floor (until then only
   * the floor counts): after a restore this is the size of a later snapshot, not the keyframe's,
   * so a growing snapshot gets its next keyframe somewhat later (bounded by `keyframeEvery`).
   */
  bytes: number;
  /** JSON length of the patches written since it. */
  patchBytes: number;
}

/** A pending delayed event (`after`, delayed `raise` / `sendTo`) with its absolute due time. */
export interface TimerRecord {
  /** Stable id: the path of the scheduling actor and XState's id for the event. */
  id: string;
  /** XState's id for the scheduled event. */
  xid: string;
  event: Json;
  /** Epoch ms when it fires. */
  dueAt: number;
  /** Child ids from the root to the actor that scheduled it ([] for the root). */
  source: string[];
  /** Child ids from the root to the actor it is sent to. */
  target: string[];
}

/** The row in `effects` at [executionId, key]: what is known of one durable effect invocation. */
export interface EffectRecord {
  key: string;
  /** `pending`: attempts failed and one more is due at `retryAt`. */
  status: 'pending' | 'done' | 'failed';
  attempts: number;
  retryAt?: number;
  output?: Json;
  /** The last error (pending) or the final one (failed). */
  error?: ErrorRecord;
}

/**
 * The row in `executions`: everything about an execution but its snapshot and history.
 *
 * `seq`, `value` and `updatedAt` are those of the latest transition: stores merge them from the
 * journal when they read the row, because the row itself is rewritten only when something else
 * changes (status, timers, effects, owner, outcome). Most transitions write one journal entry.
 */
export interface ExecutionMeta {
  id: string;
  machineId: string;
  machineVersion: string;
  status: ExecutionStatus;
  /** When the execution entered its current status (the index key). */
  statusSince: number;
  seq: number;
  /** XState state value at `seq`. */
  value: Json;
  createdAt: number;
  updatedAt: number;
  output?: Json;
  error?: ErrorRecord;
  /** The reason given to `cancel`, while the execution is cancelled. */
  cancelReason?: string;
  parent?: { id: string; seq: number };
  /**
   * How many times the execution was rewound: its seqs after a rewind point are numbered again,
   * so the idempotency keys of effects invoked since carry this too, and never repeat a key of
   * the history that moved to the branch.
   */
  rewinds?: number;
  /** Owner (runtime process) currently running the execution. */
  owner?: string;
  /** Delayed events pending now, with their absolute due times. */
  timers?: TimerRecord[];
  /** Durable effects in flight, by child actor id: the idempotency key and the seq that invoked them. */
  effects?: Record<string, { key: string; seq: number }>;
}

/** An event sent to an execution that another process runs, waiting in its inbox. */
export interface InboxEntry {
  /** Orders entries of one execution (time, then sender and counter). */
  n: string;
  event: Json;
  /** The sender's idempotency key, if it gave one. */
  key?: string;
  at: number;
  /** Set by the consumer in the transaction that processed (or refused) the event. */
  result?: { seq: number; duplicate?: boolean } | { error: ErrorRecord };
}

/** The row in `journal` at [executionId, seq]: transition `seq`, its cause and its patch. */
export interface JournalEntry {
  seq: number;
  /** Epoch milliseconds of the transition. */
  at: number;
  /** The event that caused the transition. */
  event: Json;
  /** RFC 6902 patch from snapshot `seq - 1` to snapshot `seq` (empty at seq 0). */
  patch: PatchOperation[];
  value: Json;
  status: ExecutionStatus;
  /**
   * The delayed events pending after this transition, when they changed with it (or when it
   * has a keyframe and some are pending): so the timers at any seq are known by reading from the
   * keyframe at or before it, as its snapshot is. Absent: unchanged (none at a keyframe).
   */
  timers?: TimerRecord[];
  /** The same for durable effects in flight, by child path (see ExecutionMeta.effects). */
  effects?: Record<string, { key: string; seq: number }>;
  /**
   * Set on an entry copied from another execution's journal (a fork's shared prefix made its
   * own): the execution that made the transition, and whether it is the point a fork was made at.
   */
  inherited?: { from: string; forkPoint?: true };
}

/** One transition as one write transaction. */
export interface TransitionWrite {
  id: string;
  /**
   * The execution's version this write expects to find; for `create`, the version the new row
   * gets (the runtime picks a random one, so that no writer of another incarnation of the same
   * id can match it). Transitions keep the version; every claim bumps it, so a process that
   * lost its claim (a takeover while it stalled) can no longer write: its writes are fenced off.
   */
  version: number;
  /** The execution's row, when it changes with this transition (always at `create`). */
  meta?: ExecutionMeta;
  entry: JournalEntry;
  /** Full persisted snapshot at `entry.seq`, when a keyframe is due. */
  keyframe?: Json;
  /** The index key to drop, when the status changed: previous status and its `statusSince`. */
  previous?: { status: ExecutionStatus; statusSince: number };
  /** Timer rows to add and remove (the `timers` table, ordered by due time). */
  timers?: { add: TimerRecord[]; remove: TimerRecord[] };
  /** The inbox entry this transition consumed, with its result. */
  inbox?: InboxEntry;
  /** The sender's idempotency key applied by this transition. */
  sendKey?: string;
  /** Effect records written with the transition (a fork reusing its parent's recorded results). */
  effects?: EffectRecord[];
}

/**
 * Rewinds an execution in one transaction: its journal after `write.entry.seq - 1` (with the
 * keyframes, effect records and send keys of that part) moves to a new execution, `branch`, and
 * `write` becomes its transition `seq`. Fenced by `write.version` as `append`.
 */
export interface RewindWrite {
  write: TransitionWrite & { meta: ExecutionMeta };
  /** The row of the execution that keeps the history after the rewind point. */
  branch: ExecutionMeta;
  /** The keyframe the branch's history starts with: the snapshot at the branch's first seq. */
  branchKeyframe: Json;
  /** The branch's first journal entry (the moved one, with what was pending then, as at a keyframe). */
  branchEntry: JournalEntry;
  /** Keys of the effect records that belong to the moved history. */
  effectKeys: string[];
}

/** A range of one execution's own journal, inclusive. */
export interface HistorySegment {
  id: string;
  from: number;
  to: number;
}

/** A runtime process that owns executions while its lease lasts. */
export interface OwnerRecord {
  id: string;
  pid: number;
  host: string;
  startedAt: number;
  leaseUntil: number;
}

export type ClaimResult =
  | { ok: true; meta: ExecutionMeta; version: number }
  | { ok: false; reason: 'missing' }
  | { ok: false; reason: 'finished'; meta: ExecutionMeta }
  | { ok: false; reason: 'owned'; meta: ExecutionMeta; owner: OwnerRecord };

export interface ListQuery {
  status?: ExecutionStatus;
  machine?: string;
  limit?: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  /**
   * `false`: the rows as stored, without the latest transition's seq, value and time merged in
   * (one journal read less per row: recovery needs only ids, owners and machines).
   */
  merged?: boolean;
}

export interface Page<T> {
  items: T[];
  /** Present when more items follow. */
  cursor?: string;
}

export interface JournalRange {
  /** First seq, inclusive (default 0). */
  from?: number;
  /** Last seq, inclusive (default: the end). */
  to?: number;
  limit?: number;
  reverse?: boolean;
}

/** A row of the timers table: execution `id`'s timer `timer`, due at `dueAt`. */
export interface DueTimer {
  id: string;
  timer: string;
  dueAt: number;
}

export interface Store {
  /** A short name for messages and benchmarks ("lmdb", "memory"). */
  readonly kind: string;

  /** Opens the store; checks the schema version. Idempotent. */
  open(): Promise<void>;
  close(): Promise<void>;

  /** Writes transition 0 of a new execution, its row at `write.version`; false if the id exists already. */
  create(write: TransitionWrite & { meta: ExecutionMeta }): Promise<boolean>;
  /**
   * Writes one transition as one transaction, if the execution is still at `write.version`;
   * otherwise writes nothing and rejects with `ExecutionLockedError` naming the current owner.
   * Calls made in the same turn share a commit; the promise resolves once it is durable.
   */
  append(write: TransitionWrite): Promise<void>;

  getMeta(id: string): Promise<ExecutionMeta | undefined>;
  list(query: ListQuery): Promise<Page<ExecutionMeta>>;
  countByStatus(): Promise<Record<ExecutionStatus, number>>;
  /**
   * Metas of a status that entered it before `before` (epoch ms), oldest first; after the meta
   * `after` (a previous page's last), when given.
   */
  listSince(status: ExecutionStatus, before: number, limit: number, after?: ExecutionMeta): Promise<ExecutionMeta[]>;

  readJournal(id: string, range?: JournalRange): Promise<JournalEntry[]>;
  /** The latest keyframe at or below `seq`. */
  keyframeAtOrBefore(id: string, seq: number): Promise<{ seq: number; snapshot: Json } | undefined>;

  /** Removes executions with everything kept for them (journal, keyframes, effects, timers, inbox, keys, fork links). */
  delete(ids: readonly string[]): Promise<void>;

  /** The executions created with `parent.id === id` that still exist, with their fork points, by id. */
  listForks(id: string): Promise<{ id: string; seq: number }[]>;
  /**
   * Copies journal entries and keyframes of the given ranges into execution `id`'s own journal,
   * at the same seqs, in one transaction: a fork's shared prefix made its own before the
   * execution it came from is deleted. A copied entry not yet marked gets `inherited`: the
   * range's execution, and `forkPoint` at the range's last seq.
   */
  copyHistory(id: string, segments: readonly HistorySegment[]): Promise<void>;
  /** See {@link RewindWrite}; rejects with `ExecutionLockedError` when the version does not match. */
  rewind(rewind: RewindWrite): Promise<void>;

  /**
   * Commits what is known of one effect invocation; resolves once durable. With `version`, only
   * if the execution is still at that version (else rejects with `ExecutionLockedError`): a host
   * that lost its claim must not record for the new owner.
   */
  putEffect(id: string, record: EffectRecord, version?: number): Promise<void>;
  getEffect(id: string, key: string): Promise<EffectRecord | undefined>;
  listEffects(id: string): Promise<EffectRecord[]>;

  /**
   * Timers due at or before `until` (and at or after `from`), earliest first (then by id and
   * timer), without loading any execution; with `after`, only the rows after that one: the next
   * page of a scan.
   */
  dueTimers(until: number, limit: number, from?: number, after?: DueTimer): Promise<DueTimer[]>;

  /** Appends an event to an execution's inbox in one commit. */
  appendInbox(id: string, entry: InboxEntry): Promise<void>;
  getInboxEntry(id: string, n: string): Promise<InboxEntry | undefined>;
  /** Entries not yet processed, oldest first; for all executions when `id` is omitted. */
  pendingInbox(id?: string): Promise<{ id: string; entry: InboxEntry }[]>;
  /** Records the result of an entry that was refused (no transition); fenced by `version` as `putEffect`. */
  settleInbox(id: string, entry: InboxEntry, version?: number): Promise<void>;
  removeInbox(id: string, n: string): Promise<void>;
  /** Removes settled entries sent before `before` whose senders never collected them; resolves with how many. */
  sweepInbox(before: number): Promise<number>;

  /** The seq of the transition that applied the sender's idempotency `key`, if any. */
  sendKeySeq(id: string, key: string): Promise<number | undefined>;

  registerOwner(owner: OwnerRecord): Promise<void>;
  renewOwner(id: string, leaseUntil: number): Promise<void>;
  removeOwner(id: string): Promise<void>;
  getOwner(id: string): Promise<OwnerRecord | undefined>;
  /**
   * Atomically makes `owner` the owner of the execution, unless a live owner holds it: one
   * whose record exists with `leaseUntil > now`. Finished executions are not claimed, except a
   * failed one with `reopen: true` (a retry), or any with `reopen: 'any'` (a rewind).
   */
  claim(id: string, owner: string, now: number, options?: { reopen?: boolean | 'any' }): Promise<ClaimResult>;
  /**
   * `claim` for many executions in one transaction (recovery): one result per id, in order. The
   * metas are the rows as stored: their seq, value and time may be older than the journal's.
   */
  claimMany(ids: readonly string[], owner: string, now: number): Promise<ClaimResult[]>;
}

/**
 * The store layout version this code writes (and it reads every earlier one). 2: values are
 * plain msgpack maps, which durastate before it decodes as `Map`s, so it must refuse such a
 * store; a version 1 store (msgpackr records) is read as it is and marked 2 when opened.
 */
export const SCHEMA_VERSION = 2;

/** A journal entry as copied from execution `from`'s range ending at `last` (see Store.copyHistory). */
export function inheritedEntry(entry: JournalEntry, from: string, last: number): JournalEntry {
  // An entry copied before keeps naming the execution that made it; the end of a copied range
  // is a fork point either way.
  const origin = entry.inherited?.from ?? from;
  const forkPoint = entry.inherited?.forkPoint === true || entry.seq === last;
  return { ...entry, inherited: { from: origin, ...(forkPoint ? { forkPoint: true as const } : {}) } };
}
