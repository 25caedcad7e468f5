import type { AnyActorRef, AnyMachineSnapshot } from 'xstate';
import type { ExecutionStatus } from '../store/Store.js';

/**
 * An execution's status from its machine snapshot: `running` while a child that is not a
 * machine (a promise, callback or observable: work in flight) is active anywhere below the
 * root, `waiting` when only an event or a timer can move it.
 */
export function statusOf(snapshot: AnyMachineSnapshot): ExecutionStatus {
  switch (snapshot.status) {
    case 'done':
      return 'completed';
    case 'error':
      return 'failed';
    case 'stopped':
      return 'cancelled';
    default:
      return hasWorkInFlight(snapshot) ? 'running' : 'waiting';
  }
}

function hasWorkInFlight(snapshot: AnyMachineSnapshot): boolean {
  const children = snapshot.children as Record<string, AnyActorRef | undefined>;
  for (const id in children) {
    const child = children[id];
    if (!child) continue;
    const childSnapshot = child.getSnapshot() as { status?: string; children?: unknown };
    if (childSnapshot.status !== 'active') continue;
    if (isMachineSnapshot(childSnapshot)) {
      if (hasWorkInFlight(childSnapshot)) return true;
    } else {
      return true;
    }
  }
  return false;
}

function isMachineSnapshot(snapshot: { children?: unknown }): snapshot is AnyMachineSnapshot {
  return typeof snapshot.children === 'object' && snapshot.children !== null && 'machine' in snapshot;
}
