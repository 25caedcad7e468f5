import { __unsafe_getAllOwnEventDescriptors, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import type { Json } from '../store/Store.js';

/**
 * The event types that have an enabled transition in `snapshot` now (`snapshot.can` for each
 * event the active state nodes name), so a UI can offer exactly those. Guards that need an
 * event payload to decide are evaluated with a bare `{ type }` and count as not enabled if they
 * throw.
 */
export function acceptedEvents(snapshot: AnyMachineSnapshot): string[] {
  if (snapshot.status !== 'active') return [];
  const types = __unsafe_getAllOwnEventDescriptors(snapshot) as string[];
  return types.filter((type) => {
    if (type === '*' || type.startsWith('xstate.') || type.includes('*')) return false;
    try {
      return snapshot.can({ type });
    } catch {
      return false;
    }
  });
}

/** The same for a stored execution, from its state value and context. */
export function acceptedEventsAt(machine: AnyStateMachine, value: Json, context: Json): string[] {
  try {
    return acceptedEvents(machine.resolveState({ value: value as never, context: context as never }) as AnyMachineSnapshot);
  } catch {
    return [];
  }
}
