import type { AnyMachineSnapshot, AnyStateMachine, AnyStateNode } from 'xstate';
import { isFinished, type ExecutionStatus, type Json } from '../store/Store.js';

/** Where an execution stands, as `rt.progress$(id)` reports it after each committed transition. */
export interface Progress {
  id: string;
  seq: number;
  value: Json;
  status: ExecutionStatus;
  /** Steps done: the committed transitions so far. */
  done: number;
  /** `done` plus the fewest transitions from the current state to a final one. */
  total: number;
  /** 0–100: `meta.progress` of the active states when they carry one, else done / total. */
  percent: number;
  updatedAt: Date;
}

/**
 * A state may say how far along it is with `meta: { progress: 40 }` or
 * `meta: { progress: (context) => 100 * context.done / context.count }`.
 */
type ProgressMeta = number | ((context: unknown) => number);

/**
 * The progress of an execution in `snapshot` after `seq` transitions. The remaining distance is
 * the fewest transitions from the active states to a final state of the machine (guards
 * ignored: the shortest path the chart allows), so for a linear workflow the percentage rises
 * by one step per transition and reaches 100 at the final state.
 *
 * @example
 * ```ts
 * progressOf(machine, snapshot, { id, seq: 3, status: 'running', updatedAt: new Date() }).percent; // 60
 * ```
 */
export function progressOf(
  machine: AnyStateMachine,
  snapshot: AnyMachineSnapshot,
  at: { id: string; seq: number; status: ExecutionStatus; updatedAt: Date },
): Progress {
  const done = at.seq;
  const remaining = isFinished(at.status) ? 0 : remainingSteps(machine, snapshot);
  const total = done + remaining;
  const explicit = explicitProgress(snapshot);
  let percent = at.status === 'completed' ? 100 : explicit ?? (total === 0 ? 0 : (100 * done) / total);
  percent = Math.max(0, Math.min(100, percent));
  return { id: at.id, seq: at.seq, value: snapshot.value as Json, status: at.status, done, total, percent, updatedAt: at.updatedAt };
}

function explicitProgress(snapshot: AnyMachineSnapshot): number | undefined {
  let best: number | undefined;
  for (const node of snapshot._nodes as AnyStateNode[]) {
    const meta = (node.meta as { progress?: ProgressMeta } | undefined)?.progress;
    if (meta === undefined) continue;
    const value = typeof meta === 'function' ? safe(() => meta(snapshot.context)) : meta;
    if (typeof value === 'number' && Number.isFinite(value)) best = best === undefined ? value : Math.max(best, value);
  }
  return best;
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

const distances = new WeakMap<AnyStateMachine, Map<string, number>>();

/** The fewest transitions from the active leaves to completion (the largest over parallel regions). */
function remainingSteps(machine: AnyStateMachine, snapshot: AnyMachineSnapshot): number {
  let table = distances.get(machine);
  if (!table) {
    table = distanceTable(machine);
    distances.set(machine, table);
  }
  let worst = 0;
  for (const node of snapshot._nodes as AnyStateNode[]) {
    if (node.type !== 'atomic' && node.type !== 'final') continue;
    worst = Math.max(worst, table.get(node.id) ?? 0);
  }
  return worst;
}

/** Leaf state nodes reached by entering `node`: its initial descendants (every region of a parallel one). */
function entered(node: AnyStateNode): AnyStateNode[] {
  if (node.type === 'atomic' || node.type === 'final' || node.type === 'history') return [node];
  if (node.type === 'parallel') return Object.values(node.states as Record<string, AnyStateNode>).flatMap(entered);
  const initial = (node.initial?.target ?? []) as AnyStateNode[];
  return initial.flatMap(entered);
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap(allNodes)];
}

/**
 * Distance of every leaf to the machine's completion: a backwards breadth-first walk from the
 * final states of the root over the transitions of each leaf and its ancestors (a final state
 * of a nested state leads on through that state's `onDone`).
 */
function distanceTable(machine: AnyStateMachine): Map<string, number> {
  const leaves = allNodes(machine.root).filter((n) => n.type === 'atomic' || n.type === 'final');
  const successors = new Map<string, AnyStateNode[]>();
  for (const leaf of leaves) {
    const next: AnyStateNode[] = [];
    for (let at: AnyStateNode | undefined = leaf; at; at = at.parent) {
      for (const list of (at.transitions as Map<string, { target?: AnyStateNode[] }[]>).values()) {
        for (const t of list) for (const target of t.target ?? []) next.push(...entered(target));
      }
      for (const t of (at.always ?? []) as { target?: AnyStateNode[] }[]) for (const target of t.target ?? []) next.push(...entered(target));
    }
    successors.set(leaf.id, next);
  }
  const table = new Map<string, number>();
  for (const leaf of leaves) if (leaf.type === 'final' && leaf.parent === machine.root) table.set(leaf.id, 0);
  // Relax until stable: the graph is small and a Bellman-Ford style pass is simplest.
  for (let changed = true; changed; ) {
    changed = false;
    for (const leaf of leaves) {
      let best = table.get(leaf.id) ?? Infinity;
      for (const next of successors.get(leaf.id) ?? []) {
        const d = table.get(next.id);
        if (d !== undefined && d + 1 < best) best = d + 1;
      }
      if (best !== Infinity && best !== table.get(leaf.id)) {
        table.set(leaf.id, best);
        changed = true;
      }
    }
  }
  return table;
}
