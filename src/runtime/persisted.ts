import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';

/**
 * XState's persisted snapshot of a machine, built without XState's `getPersistedSnapshot`,
 * which copies the snapshot by rest-spread and walks the whole context looking for actor refs on
 * every transition: as much CPU as the transition itself for a small machine, and growing with
 * the context rather than with what changed (a conversation's messages, in an agent that calls
 * tools as effects).
 *
 * The fast form keeps the live context by reference, which is what XState returns too when the
 * context holds no actor ref. An actor ref is not JSON data, so the diff, which visits every part
 * of the context that changed (the rest is frozen since it was first written), refuses it; the
 * caller then asks for XState's own form ({@link SnapshotPersister.useXState}), which replaces
 * refs by their ids, and keeps to it for this execution. Children are persisted as XState
 * persists them (each child's own persisted snapshot, its `src`, `systemId` and `syncSnapshot`),
 * in a `children` object built afresh each time: a child's snapshot changes behind an unchanged
 * `children` object of the machine's snapshot. `test/persisted.test.ts` pins the equality with
 * XState's result.
 *
 * @example
 * ```ts
 * const persist = new SnapshotPersister(machine);
 * persist.of(actor.getSnapshot()); // deep-equal to machine.getPersistedSnapshot(snapshot)
 * ```
 */
export class SnapshotPersister {
  /** Set once XState's own form is needed for this execution (an actor ref in context). */
  private slow = false;
  private history?: unknown;
  private historyJson: Record<string, { id: string }[]> = EMPTY;

  constructor(private readonly machine: AnyStateMachine) {}

  of(snapshot: AnyMachineSnapshot): Record<string, unknown> {
    const children = this.slow ? undefined : childrenOf(snapshot.children);
    this.lastFast = children !== undefined;
    if (!children) return this.xstate(snapshot);
    return {
      status: snapshot.status,
      output: snapshot.output,
      error: snapshot.error,
      value: snapshot.value,
      historyValue: this.historyOf(snapshot.historyValue),
      context: snapshot.context,
      children,
    };
  }

  /** Whether the last `of` gave the fast form (so a refusal of it may be an actor ref in context). */
  lastFast = false;

  /** XState's own form of the snapshot. */
  xstate(snapshot: AnyMachineSnapshot): Record<string, unknown> {
    return this.machine.getPersistedSnapshot(snapshot) as Record<string, unknown>;
  }

  /** Keeps to XState's own form for this execution (its context holds an actor ref). */
  useXState(): void {
    this.slow = true;
  }

  /** XState's `serializeHistoryValue`, kept while the history value object is the same. */
  private historyOf(history: unknown): Record<string, { id: string }[]> {
    if (history === this.history) return this.historyJson;
    const json: Record<string, { id: string }[]> = {};
    let any = false;
    if (typeof history === 'object' && history !== null) {
      for (const key in history) {
        const nodes = (history as Record<string, unknown>)[key];
        if (Array.isArray(nodes)) {
          json[key] = nodes.map((node: { id: string }) => ({ id: node.id }));
          any = true;
        }
      }
    }
    this.history = history;
    this.historyJson = any ? json : EMPTY;
    return this.historyJson;
  }
}

const EMPTY = Object.freeze({}) as Record<string, never>;

interface ChildRef {
  src: unknown;
  systemId?: string;
  _syncSnapshot?: boolean;
  getPersistedSnapshot(): unknown;
}

/**
 * The `children` of XState's persisted form: shared and frozen when there are none (the diff
 * skips it by identity); undefined for a child whose logic is inline (XState's form refuses it
 * with its own error).
 */
function childrenOf(children: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  let json: Record<string, unknown> | undefined;
  for (const id in children) {
    if (!Object.hasOwn(children, id)) continue;
    const child = children[id] as ChildRef;
    if (typeof child.src !== 'string') return undefined;
    (json ??= {})[id] = { snapshot: child.getPersistedSnapshot(), src: child.src, systemId: child.systemId, syncSnapshot: child._syncSnapshot };
  }
  return json ?? EMPTY;
}
