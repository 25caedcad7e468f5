import { InvalidArgumentError, InvalidUpdateError, NonJsonStateError } from '../errors.js';
import { cloneJson } from '../journal/cloneJson.js';
import { checkJson } from '../journal/diff.js';
import { rebuildPoint } from '../journal/rebuild.js';
import { isFinished, type EffectRecord, type ExecutionMeta, type Json, type RewindWrite, type Store, type TimerRecord } from '../store/Store.js';
import { chainOf, segmentAt, type Chain } from '../timeline/chain.js';
import { pointAt } from '../timeline/stateAt.js';
import type { ForkOptions, ForkSnapshot } from '../timeline/types.js';
import type { MachineEntry } from './registry.js';

/** What a fork starts from, prepared and validated before anything is written. */
export interface ForkPlan {
  /** The parent's snapshot at the fork point (the fork's first patch is from it). */
  base: Json;
  /** The snapshot the fork continues from, `update` applied. */
  snapshot: Json;
  timers: TimerRecord[];
  reuse: Map<string, EffectRecord>;
}

/**
 * Reads the point a fork starts from and applies its `update`: the result must be JSON and a
 * state of the machine, or the fork is refused with {@link InvalidUpdateError}. Timers pending
 * at the point keep the time they had left; with `effects: 'reuse'`, the parent's recorded
 * results of the effects in flight there are looked up.
 */
export async function prepareFork(store: Store, entry: MachineEntry, chain: Chain, seq: number, options: ForkOptions, now: number): Promise<ForkPlan> {
  const point = await pointAt(store, chain, seq);
  const id = chain.meta.id;
  let snapshot = cloneJson(point.snapshot) as unknown as ForkSnapshot;
  if (options.update !== undefined) snapshot = applyUpdate(id, snapshot, options.update);
  if (typeof snapshot !== 'object' || snapshot === null || Array.isArray(snapshot)) throw new InvalidUpdateError(id, 'the update must give a snapshot object');
  if (snapshot.status !== 'active' && snapshot.status !== 'done') {
    throw new InvalidUpdateError(id, `a fork continues from an active snapshot, this one's status is ${JSON.stringify(snapshot.status)}`);
  }
  try {
    // Not frozen: XState writes into the snapshot it restores from.
    checkJson(snapshot, '', false);
  } catch (err) {
    if (err instanceof NonJsonStateError) throw new InvalidUpdateError(id, `${err.path} is ${err.what}`, { cause: err });
    throw err;
  }
  if (typeof snapshot.value !== 'string' && (typeof snapshot.value !== 'object' || snapshot.value === null || Array.isArray(snapshot.value))) {
    throw new InvalidUpdateError(id, `the state value must be a state name or an object of them, got ${JSON.stringify(snapshot.value)}`);
  }
  let nodes: StateNodeLike[];
  try {
    nodes = (entry.machine.resolveState({ value: snapshot.value as never, context: snapshot.context as never }) as unknown as { _nodes: StateNodeLike[] })._nodes;
  } catch (err) {
    throw new InvalidUpdateError(id, `${JSON.stringify(snapshot.value)} is not a state of machine "${entry.id}": ${(err as Error).message}`, { cause: err });
  }
  const final = nodes.some((n) => n.type === 'final' && n.parent === entry.machine.root);
  if (final !== (snapshot.status === 'done')) {
    throw new InvalidUpdateError(
      id,
      final ? `${JSON.stringify(snapshot.value)} is a final state: the fork would have nothing to run (fork at the final seq to copy a finished execution)` : `a snapshot with status "done" must be in a final state`,
    );
  }
  // XState restores a snapshot without entering its states. When the update moved the
  // execution, the delays of the states it left go, and those of the states it entered are
  // armed as entering them would (other entry actions do not run: see the README).
  const before = new Set(pointNodes(entry, point.snapshot).map((n) => n.id));
  const active = new Set(nodes.map((n) => n.id));
  const timers = point.timers
    .filter((t) => !t.xid.startsWith('xstate.after.') || t.source.length > 0 || active.has(afterStateOf(t.xid)))
    .map((t) => keepTimeLeft(t, point.entry.at, now));
  for (const node of nodes) {
    if (before.has(node.id)) continue;
    for (const { eventType, delay } of uniqueDelays(node)) {
      const ms = resolveDelay(id, entry, delay, snapshot.context);
      timers.push({ id: `#${eventType}`, xid: eventType, event: { type: eventType }, dueAt: now + ms, source: [], target: [] });
    }
  }
  const reuse = new Map<string, EffectRecord>();
  if (options.effects === 'reuse') {
    const holders = [...new Set([point.holder, ...chain.segments.map((s) => s.id).reverse()])];
    for (const [child, effect] of Object.entries(point.effects)) {
      for (const holder of holders) {
        const record = await store.getEffect(holder, effect.key);
        if (!record) continue;
        if (record.status !== 'pending') reuse.set(child, record);
        break;
      }
    }
  } else if (options.effects !== undefined && options.effects !== 'rerun') {
    throw new InvalidArgumentError(`fork's effects option is 'rerun' or 'reuse', got ${JSON.stringify(options.effects)}`);
  }
  return { base: point.snapshot, snapshot: snapshot as unknown as Json, timers, reuse };
}

/** A timer pending at a point of history (at `then`), re-armed at `now` with the time it had left. */
function keepTimeLeft(t: TimerRecord, then: number, now: number): TimerRecord {
  return { ...t, dueAt: now + Math.max(0, t.dueAt - then) };
}

/** What prepareFork reads of XState's state nodes (internal to XState 5, pinned by the fork tests). */
interface StateNodeLike {
  id: string;
  type: string;
  parent?: unknown;
  after: { eventType: string; delay: number | string }[];
}

function pointNodes(entry: MachineEntry, snapshot: Json): StateNodeLike[] {
  const s = snapshot as { value: never; context: never };
  return (entry.machine.resolveState({ value: s.value, context: s.context }) as unknown as { _nodes: StateNodeLike[] })._nodes;
}

/** The state node id in an `after` event type: `xstate.after.<delay>.<state node id>`. */
function afterStateOf(eventType: string): string {
  const rest = eventType.slice('xstate.after.'.length);
  return rest.slice(rest.indexOf('.') + 1);
}

function uniqueDelays(node: StateNodeLike): { eventType: string; delay: number | string }[] {
  const seen = new Map<string, number | string>();
  for (const t of node.after) if (!seen.has(t.eventType)) seen.set(t.eventType, t.delay);
  return [...seen].map(([eventType, delay]) => ({ eventType, delay }));
}

/** A delay as XState resolves it: a number of ms, or the name of one in `setup({ delays })` (a number or a function of the context). */
function resolveDelay(id: string, entry: MachineEntry, delay: number | string, context: Json): number {
  let ms: unknown = delay;
  if (typeof delay === 'string') {
    const named = (entry.machine.implementations.delays as Record<string, unknown>)[delay];
    try {
      ms = typeof named === 'function' ? (named as (args: unknown) => unknown)({ context, event: { type: 'durastate.fork' } }) : named;
    } catch (err) {
      throw new InvalidUpdateError(id, `the delay "${delay}" of a state it enters threw: ${(err as Error).message}`, { cause: err });
    }
  }
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new InvalidUpdateError(id, `the delay ${JSON.stringify(delay)} of a state it enters is not a number of ms`);
  return ms;
}

function applyUpdate(id: string, snapshot: ForkSnapshot, update: NonNullable<ForkOptions['update']>): ForkSnapshot {
  if (typeof update === 'function') {
    try {
      return update(snapshot);
    } catch (err) {
      throw new InvalidUpdateError(id, `the update function threw: ${(err as Error).message}`, { cause: err });
    }
  }
  if (typeof update !== 'object' || update === null || Array.isArray(update)) {
    throw new InvalidUpdateError(id, 'update is an object to merge into the context, or a function of the snapshot');
  }
  const context = snapshot.context;
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new InvalidUpdateError(id, 'the context is not an object to merge into; pass a function of the snapshot');
  }
  return { ...snapshot, context: { ...context, ...(update as Record<string, Json>) } };
}

/**
 * The one transaction of a rewind to `seq`: the history after it moves to `branchId` (cancelled
 * if the execution was still active, its outcome kept if it had one), and the execution's own
 * transition `seq + 1` restores the snapshot at `seq`, with the timers pending then keeping the
 * time they had left. Effects in flight then start again, with new keys, when it is loaded.
 */
export async function prepareRewind(
  store: Store,
  chain: Chain,
  row: ExecutionMeta,
  seq: number,
  options: { branchId: string; owner: string; version: number; now: number },
): Promise<RewindWrite> {
  const { id } = chain.meta;
  const point = await pointAt(store, chain, await checkRewind(store, chain, seq));
  const cut = seq + 1;
  const moved = await rebuildPoint(store, id, cut);
  if (!moved) throw new InvalidArgumentError(`The snapshot of "${id}" at seq ${cut} cannot be rebuilt`);
  const { meta } = chain;
  const { now } = options;
  const timers = point.timers.map((t) => keepTimeLeft(t, point.entry.at, now));
  const value = point.entry.value;
  const status = point.entry.status;
  const { output: _output, error: _error, cancelReason: _reason, effects: _effects, timers: _timers, ...kept } = row;
  const next: ExecutionMeta = {
    ...kept,
    seq: cut,
    status,
    statusSince: now,
    value,
    updatedAt: now,
    owner: options.owner,
    rewinds: (row.rewinds ?? 0) + 1,
    ...(timers.length ? { timers } : {}),
  };
  const finished = isFinished(meta.status);
  const branch: ExecutionMeta = {
    id: options.branchId,
    machineId: meta.machineId,
    machineVersion: meta.machineVersion,
    status: finished ? meta.status : 'cancelled',
    statusSince: now,
    seq: meta.seq,
    value: meta.value,
    createdAt: now,
    updatedAt: meta.updatedAt,
    parent: { id, seq },
    ...(meta.output !== undefined ? { output: meta.output } : {}),
    ...(meta.error ? { error: meta.error } : finished ? {} : { error: { name: 'Rewound', message: `"${id}" was rewound to seq ${seq}; this branch keeps what followed` } }),
    ...(meta.cancelReason ? { cancelReason: meta.cancelReason } : {}),
  };
  const effectKeys = (await store.listEffects(id)).map((r) => r.key).filter((key) => invokedAt(key) >= cut);
  return {
    write: {
      id,
      version: options.version,
      meta: next,
      entry: { seq: cut, at: now, event: { type: 'durastate.rewind', to: seq, branch: options.branchId }, patch: [], value, status, ...(timers.length ? { timers } : {}) },
      keyframe: point.snapshot,
      previous: { status: row.status, statusSince: row.statusSince },
      timers: { add: timers, remove: row.timers ?? [] },
    },
    branch,
    branchKeyframe: moved.snapshot,
    branchEntry: { ...moved.entry, ...(moved.timers.length ? { timers: moved.timers } : {}), ...(Object.keys(moved.effects).length ? { effects: moved.effects } : {}) },
    effectKeys,
  };
}

/**
 * Refuses a rewind point before anything is stopped or claimed: it must be before the current
 * seq, in the execution's own history (not before a fork's fork point), and a point where it
 * was running or waiting. Resolves with `seq`.
 */
export async function checkRewind(store: Store, chain: Chain, seq: number): Promise<number> {
  const { meta } = chain;
  const { id } = meta;
  if (!Number.isInteger(seq) || seq < 0 || seq >= meta.seq) {
    throw new InvalidArgumentError(`rewind needs a seq before the current one (${meta.seq}) of "${id}", got ${String(seq)}`);
  }
  const own = chain.segments[chain.segments.length - 1] as { from: number };
  if (seq + 1 < own.from) {
    throw new InvalidArgumentError(`seq ${seq} of "${id}" is before its fork point (${own.from - 1}); fork its parent at ${seq} instead`);
  }
  const [entry] = await store.readJournal(segmentAt(chain, seq).id, { from: seq, to: seq });
  if (entry && isFinished(entry.status)) throw new InvalidArgumentError(`"${id}" was ${entry.status} at seq ${seq}; rewind to a point where it was running or waiting`);
  return seq;
}

/** The seq of the transition that invoked an effect, from its key (`<id>/<child>@<seq>`, `~<rewinds>` after a rewind). */
function invokedAt(key: string): number {
  const match = /@(\d+)(?:~\d+)?$/.exec(key);
  return match ? Number(match[1]) : -1;
}

/**
 * Copies into a fork the history it shares with its ancestors, so that it no longer reads
 * from them: done before an ancestor is deleted or rewound past the fork point.
 */
export async function materialise(store: Store, forkId: string): Promise<void> {
  const chain = await chainOf(store, forkId);
  const shared = chain.segments.filter((s) => s.id !== forkId);
  if (shared.length) await store.copyHistory(forkId, shared);
}
