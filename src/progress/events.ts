import type { ErrorRecord } from '../errors.js';
import type { ExecutionStatus, Json } from '../store/Store.js';

/**
 * Everything a runtime reports on `rt.events$`. Transition events and the ones that follow
 * from a transition (`completed`, `failed`, `cancelled`, `timer.armed`, `timer.fired`) are
 * emitted once that transition is committed.
 */
export type RuntimeEvent =
  | { type: 'started'; id: string; machine: string; at: number }
  | { type: 'recovered'; id: string; machine: string; seq: number; at: number }
  | { type: 'transition'; id: string; seq: number; event: string; value: Json; status: ExecutionStatus; at: number }
  | { type: 'effect.started'; id: string; key: string; attempt: number; at: number }
  | { type: 'effect.completed'; id: string; key: string; attempt: number; at: number }
  | { type: 'effect.retrying'; id: string; key: string; attempt: number; delay: number; error: ErrorRecord; at: number }
  | { type: 'effect.failed'; id: string; key: string; attempt: number; error: ErrorRecord; at: number }
  | { type: 'timer.armed'; id: string; timer: string; event: string; dueAt: number; at: number }
  | { type: 'timer.fired'; id: string; timer: string; event: string; at: number }
  | { type: 'crashed'; id: string; error: ErrorRecord; at: number }
  | { type: 'restarted'; id: string; attempt: number; delay: number; at: number }
  | { type: 'completed'; id: string; output: Json; at: number }
  | { type: 'failed'; id: string; error: ErrorRecord; at: number }
  | { type: 'cancelled'; id: string; at: number }
  | { type: 'forked'; id: string; machine: string; parent: { id: string; seq: number }; at: number }
  | { type: 'rewound'; id: string; seq: number; branch: string; at: number }
  | { type: 'passivated'; id: string; at: number }
  | { type: 'woken'; id: string; at: number };

export type RuntimeEventType = RuntimeEvent['type'];
