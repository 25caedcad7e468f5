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
 * subscribe to for a dashboard: rows by id and counts by status. The runtime updates it once per
 * event-loop turn with the transitions committed in it, and when it hosts (starts, recovers) or
 * lets go of an execution: copying the table per transition would cost as much as the
 * transition with a thousand executions hosted.
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
      /** Rows to put (or, as null, to drop), applied together: one copy of the table per batch. */
      apply: (context, event: { changes: [string, HostedExecutionRow | null][] }) => {
        const executions = { ...context.executions };
        const counts = { ...context.counts };
        for (const [id, row] of event.changes) {
          const before = executions[id];
          if (before) counts[before.status]--;
          if (row) {
            executions[id] = row;
            counts[row.status]++;
          } else {
            delete executions[id];
          }
        }
        return { executions, counts };
      },
    },
  });
}

export type HostedRegistry = ReturnType<typeof createHostedRegistry>;
