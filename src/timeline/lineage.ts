import type { ExecutionMeta, Store } from '../store/Store.js';
import type { Lineage, LineageNode } from './types.js';

/**
 * An execution's ancestors (root first, with the seq each next one was forked at) and the tree
 * of its forks, theirs, and so on.
 *
 * @example
 * ```ts
 * const { ancestors, tree } = await lineageOf(store, meta);
 * ```
 */
export async function lineageOf(store: Store, meta: ExecutionMeta): Promise<Lineage> {
  const ancestors: Lineage['ancestors'] = [];
  const seen = new Set([meta.id]);
  let parent = meta.parent;
  let child = meta.id;
  while (parent && !seen.has(parent.id)) {
    seen.add(parent.id);
    const up = await store.getMeta(parent.id);
    // The parent still links to this child, or the id was deleted (and maybe used again since).
    const linked = up && (await store.listForks(up.id)).some((f) => f.id === child);
    ancestors.unshift(up && linked ? { id: up.id, seq: parent.seq, machine: up.machineId, status: up.status } : { id: parent.id, seq: parent.seq, deleted: true });
    if (!up || !linked) break;
    child = up.id;
    parent = up.parent;
  }
  return { id: meta.id, ancestors, tree: await treeOf(store, meta, seen) };
}

async function treeOf(store: Store, meta: ExecutionMeta, seen: Set<string>): Promise<LineageNode> {
  const forks: LineageNode[] = [];
  for (const fork of await store.listForks(meta.id)) {
    if (seen.has(fork.id)) continue;
    seen.add(fork.id);
    const child = await store.getMeta(fork.id);
    if (child) forks.push(await treeOf(store, child, seen));
  }
  return {
    id: meta.id,
    machine: meta.machineId,
    status: meta.status,
    seq: meta.seq,
    createdAt: new Date(meta.createdAt),
    ...(meta.parent ? { parent: meta.parent } : {}),
    forks,
  };
}

/** Every descendant of an execution (forks, their forks, …), deepest first: an order that deletes safely. */
export async function descendantsOf(store: Store, id: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set([id]);
  const visit = async (at: string): Promise<void> => {
    for (const fork of await store.listForks(at)) {
      if (seen.has(fork.id)) continue;
      seen.add(fork.id);
      await visit(fork.id);
      out.push(fork.id);
    }
  };
  await visit(id);
  return out;
}
