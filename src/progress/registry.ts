import { createStore } from '@xstate/store';
import { EXECUTION_STATUSES, type ExecutionStatus, type Json } from '../store/Store.js';

/** One execution hosted by this runtime, as the live registry shows it. */
export interface HostedExecutionRow {
  id: string;
  machine: string;
  status: ExecutionStatus;
  value: Json;
  seq: number;
  updatedAt: number;
}

export interface RegistryContext {
  executions: Record<string, HostedExecutionRow>;
  counts: Record<ExecutionStatus, number>;
}

function emptyCounts(): Record<ExecutionStatus, number> {
  return Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatus, number>;
}

/**
 * The live registry of the executions a runtime hosts, as an `@xstate/store` a service can
 * subscribe to for a dashboard: rows by id and counts by status. The runtime updates it after
 * each committed transition, and when it hosts (starts, recovers) or lets go of an execution.
 *
 * @example
 * ```ts
 * rt.registry.subscribe((s) => render(s.context.counts));
 * ```
 */
export function createHostedRegistry() {
  return createStore({
    context: { executions: {}, counts: emptyCounts() } as RegistryContext,
    on: {
      upsert: (context, event: { row: HostedExecutionRow }) => {
        const counts = { ...context.counts };
        const before = context.executions[event.row.id];
        if (before) counts[before.status]--;
        counts[event.row.status]++;
        return { executions: { ...context.executions, [event.row.id]: event.row }, counts };
      },
      remove: (context, event: { id: string }) => {
        const before = context.executions[event.id];
        if (!before) return context;
        const { [event.id]: _removed, ...executions } = context.executions;
        const counts = { ...context.counts };
        counts[before.status]--;
        return { executions, counts };
      },
    },
  });
}

export type HostedRegistry = ReturnType<typeof createHostedRegistry>;
