import type { ExecutionStatus, JournalRange, Json, PatchOperation } from '../store/Store.js';

/** Which transitions `history` returns: seqs `from`–`to` inclusive, at most `limit`, newest first with `reverse`. */
export type HistoryOptions = JournalRange;

/** One committed transition: its seq, when, the event that caused it, and where it led. */
export interface HistoryEntry {
  seq: number;
  at: Date;
  event: Json;
  value: Json;
  status: ExecutionStatus;
  /** Set on a fork's history before its fork point: the ancestor whose transition this is. */
  from?: string;
  /** Set on the fork point: the last transition a fork shares with its parent. */
  forkPoint?: true;
}

/** A point of an execution's history: `{ seq }`, or `{ at }` for the last transition at or before that time. */
export type PointOptions = { seq: number; at?: undefined } | { at: Date | number; seq?: undefined };

/** An execution as it was right after one of its transitions. */
export interface StateAt {
  /** The execution asked about. */
  id: string;
  seq: number;
  at: Date;
  /** The event that caused transition `seq`. */
  event: Json;
  status: ExecutionStatus;
  value: Json;
  context: Json;
  /** XState's persisted snapshot as it was committed: `createActor(machine, { snapshot })` continues from it. */
  snapshot: Json;
  /** Delayed events pending then, with the due times they had. */
  timers: { id: string; event: Json; dueAt: Date }[];
  /** Durable effects in flight then: child path, idempotency key, and the seq that invoked them. */
  effects: { child: string; key: string; seq: number }[];
  /** Set when the transition is an ancestor's (a fork's history before its fork point). */
  from?: string;
}

/** A point in any execution's history, for `diff` across executions. */
export interface ExecutionPoint {
  id: string;
  seq: number;
}

export type DiffResult = PatchOperation[];

/**
 * How a fork starts. `update` edits the snapshot at the fork point: an object is merged into
 * the context (shallowly, like XState's `assign` with an object), a function receives the
 * persisted snapshot and returns the one to continue from.
 */
export type ForkOptions = PointOptions & {
  update?: Record<string, unknown> | ((snapshot: ForkSnapshot) => ForkSnapshot);
  /** The fork's execution id (default: a random UUID). */
  id?: string;
  /** Run the fork here now (default true); false only creates it, for the next runtime that recovers it or an event sent to it. */
  start?: boolean;
  /**
   * Effects in flight at the fork point: `'rerun'` (default) runs them again with the fork's own
   * idempotency keys; `'reuse'` delivers the parent's recorded result (or final error) where one
   * exists, and reruns the others.
   */
  effects?: 'rerun' | 'reuse';
};

/** The persisted snapshot a fork's `update` function receives and returns. */
export interface ForkSnapshot {
  status: string;
  value: Json;
  context: Json;
  [key: string]: unknown;
}

export interface ForkHandle {
  id: string;
  parent: { id: string; seq: number };
}

export interface RewindOptions {
  seq: number;
  /** The id of the execution that keeps the history after `seq` (default `<id>~<random>`). */
  branchId?: string;
}

export interface RewindResult {
  /** The execution now holding the transitions after the rewind point, as a fork of it at `seq`. */
  branch: string;
  /** The seq of the rewind's own transition: `seq + 1`. */
  seq: number;
}

/** What to do with the forks of an execution being deleted. */
export interface DeleteOptions {
  /**
   * `'refuse'` (default): throw {@link ExecutionHasForksError}; `'delete'`: delete them (and theirs)
   * too; `'materialise'`: copy the history they share into each, then delete only this one.
   */
  forks?: 'refuse' | 'delete' | 'materialise';
}

/** One execution in a lineage tree. */
export interface LineageNode {
  id: string;
  machine: string;
  status: ExecutionStatus;
  seq: number;
  createdAt: Date;
  /** Where it was forked from. */
  parent?: { id: string; seq: number };
  /** Its forks, by id, each with theirs. */
  forks: LineageNode[];
}

export interface Lineage {
  id: string;
  /** From the root down to the parent, each with the seq the next was forked at; `deleted` when gone. */
  ancestors: { id: string; seq: number; machine?: string; status?: ExecutionStatus; deleted?: true }[];
  /** The execution and all its descendants. */
  tree: LineageNode;
}
