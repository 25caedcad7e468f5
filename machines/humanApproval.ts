import { assign, fromPromise, setup } from 'xstate';
import { RetryableError, type EffectContext } from '../src/index.js';

/**
 * Human approval: a request waits for a person's `APPROVE` or `REJECT`, for days if need be.
 *
 * - While it waits, `rt.get(id).accepts` is `['APPROVE', 'REJECT']`: what a UI should offer.
 * - Every `REMINDER_MS` without a decision, the approver gets a reminder through the durable
 *   effect `sendReminder` (at most `MAX_REMINDERS` of them), and the request goes back to
 *   waiting. A reminder is sent once even if the process dies around it: the effect's result is
 *   committed before the workflow moves on, and a re-run after a crash carries the same
 *   idempotency `key`, which the notification service deduplicates on.
 * - `DEADLINE_MS` after the request, still undecided, it is escalated: the manager is notified,
 *   and from then on only the manager decides (`APPROVE` / `REJECT` with `by` naming anyone else
 *   is not accepted).
 * - It ends `approved` or `rejected`, with the decision as output.
 *
 * The delays are named (`setup({ delays })`), so they can be read from
 * `humanApprovalMachine.implementations.delays`. The notification service is a deterministic,
 * in-memory simulation (`simulatedNotifier`): no network.
 *
 * @example
 * ```ts
 * const rt = await createRuntime({ machines: [humanApprovalMachine] });
 * const { id } = await rt.start('humanApproval', {
 *   input: { request: 'PO-1042: 12 laptops', requester: 'dana', approver: 'alice', manager: 'mo' },
 * });
 * (await rt.get(id))?.accepts;                     // ['APPROVE', 'REJECT']
 * await rt.send(id, { type: 'APPROVE', by: 'alice', comment: 'ok' });
 * await rt.wait(id); // { request, decision: 'approved', decidedBy: 'alice', escalated: false, reminders: 0, note: 'ok' }
 * ```
 */

/** Time between reminders to the approver: one day. */
export const REMINDER_MS = 24 * 3600_000;
/** Time from the request to its escalation to the manager: three days. */
export const DEADLINE_MS = 3 * 24 * 3600_000;
/** Reminders the approver gets at most before the deadline. */
export const MAX_REMINDERS = 2;

export interface ApprovalRequest {
  /** What is to be approved, in words. */
  request: string;
  requester: string;
  /** Who decides, until the deadline. */
  approver: string;
  /** Who decides after the deadline. */
  manager: string;
}

export interface ApprovalContext extends ApprovalRequest {
  /** Reminders sent (or given up on) so far. */
  reminders: number;
  escalated: boolean;
  /** Message ids of the notifications sent. */
  notifications: string[];
  decision?: 'approved' | 'rejected';
  decidedBy?: string;
  note?: string;
}

export type ApprovalEvent =
  | { type: 'APPROVE'; by?: string; comment?: string }
  | { type: 'REJECT'; by?: string; reason?: string };

export interface ApprovalOutput {
  request: string;
  decision: 'approved' | 'rejected';
  decidedBy: string;
  escalated: boolean;
  reminders: number;
  note: string | null;
}

/** A notification as the simulated service delivered it. */
export interface Notification {
  /** The durable effect's idempotency key: the service delivers each key once. */
  key: string;
  to: string;
  kind: 'reminder' | 'escalation';
  request: string;
  /** The reminder's number (1, 2, ...); 1 for the escalation. */
  n: number;
  /** `simulatedNotifier.now()` at delivery. */
  sentAt: number;
  messageId: string;
}

export interface NotificationInput {
  to: string;
  kind: 'reminder' | 'escalation';
  request: string;
  n: number;
}

/**
 * SIMULATED notification service (e-mail / chat), in memory, deterministic, no network. Like a
 * real provider that takes an idempotency key, it delivers a key once and answers a repeated
 * key with the first delivery. `outage` makes the next calls fail with a `RetryableError`
 * (retry after `retryAfterMs`), as a provider returning 503 would.
 */
export const simulatedNotifier = {
  /** Delivered notifications, in delivery order. */
  outbox: [] as Notification[],
  /** Every call, delivered or not: the key and attempt the effect ran with. */
  calls: [] as Array<{ key: string; attempt: number; to: string; kind: string; n: number }>,
  /** How many of the next calls fail with a RetryableError. */
  outage: 0,
  retryAfterMs: 60_000,
  /** The service's idea of the time (tests point it at their simulated clock). */
  now: (): number => Date.now(),
  reset(): void {
    this.outbox = [];
    this.calls = [];
    this.outage = 0;
    this.retryAfterMs = 60_000;
    this.now = () => Date.now();
  },
};

async function sendNotification(args: { input: NotificationInput }): Promise<string> {
  // durastate passes the idempotency key and the attempt number besides XState's arguments.
  const { input, key, attempt } = args as typeof args & EffectContext;
  simulatedNotifier.calls.push({ key, attempt, to: input.to, kind: input.kind, n: input.n });
  if (simulatedNotifier.outage > 0) {
    simulatedNotifier.outage--;
    throw new RetryableError('simulated notifier unavailable (503)', { retryAfter: simulatedNotifier.retryAfterMs });
  }
  const earlier = simulatedNotifier.outbox.find((m) => m.key === key);
  if (earlier) return earlier.messageId;
  const messageId = `sim-${simulatedNotifier.outbox.length + 1}-${input.kind}-${input.to}`;
  simulatedNotifier.outbox.push({ key, ...input, sentAt: simulatedNotifier.now(), messageId });
  return messageId;
}

export const humanApprovalMachine = setup({
  types: {
    context: {} as ApprovalContext,
    input: {} as ApprovalRequest,
    events: {} as ApprovalEvent,
    output: {} as ApprovalOutput,
  },
  delays: { REMINDER_MS, DEADLINE_MS },
  actors: { sendReminder: fromPromise(sendNotification) },
  guards: {
    mayRemind: ({ context }) => context.reminders < MAX_REMINDERS,
    // After the escalation only the manager decides. An event without `by` (a UI asking what is
    // accepted) passes; one naming someone else does not.
    notSomeoneElse: ({ context, event }) => event.by === undefined || event.by === context.manager,
  },
  actions: {
    decide: assign(({ context, event }) => {
      const note = event.type === 'APPROVE' ? event.comment : event.reason;
      return {
        decision: event.type === 'APPROVE' ? ('approved' as const) : ('rejected' as const),
        decidedBy: event.by ?? (context.escalated ? context.manager : context.approver),
        // Context is JSON: no undefined values.
        ...(note !== undefined ? { note } : {}),
      };
    }),
    countReminder: assign({
      reminders: ({ context }) => context.reminders + 1,
      notifications: ({ context, event }) => {
        const output = (event as { output?: unknown }).output;
        return typeof output === 'string' ? [...context.notifications, output] : context.notifications;
      },
    }),
  },
}).createMachine({
  id: 'humanApproval',
  context: ({ input }) => ({ ...input, reminders: 0, escalated: false, notifications: [] }),
  initial: 'awaitingDecision',
  states: {
    awaitingDecision: {
      after: { DEADLINE_MS: 'escalated' },
      on: {
        APPROVE: { target: 'approved', actions: 'decide' },
        REJECT: { target: 'rejected', actions: 'decide' },
      },
      initial: 'waiting',
      states: {
        waiting: {
          after: { REMINDER_MS: { guard: 'mayRemind', target: 'reminding' } },
        },
        reminding: {
          invoke: {
            src: 'sendReminder',
            input: ({ context }) => ({ to: context.approver, kind: 'reminder' as const, request: context.request, n: context.reminders + 1 }),
            // A reminder that could not be sent after its retries counts too: the deadline
            // escalates anyway.
            onDone: { target: 'waiting', actions: 'countReminder' },
            onError: { target: 'waiting', actions: 'countReminder' },
          },
        },
      },
    },
    escalated: {
      entry: assign({ escalated: true }),
      on: {
        APPROVE: { guard: 'notSomeoneElse', target: 'approved', actions: 'decide' },
        REJECT: { guard: 'notSomeoneElse', target: 'rejected', actions: 'decide' },
      },
      initial: 'notifyingManager',
      states: {
        notifyingManager: {
          invoke: {
            src: 'sendReminder',
            input: ({ context }) => ({ to: context.manager, kind: 'escalation' as const, request: context.request, n: 1 }),
            onDone: {
              target: 'awaitingManager',
              actions: assign({ notifications: ({ context, event }) => [...context.notifications, event.output] }),
            },
            onError: 'awaitingManager',
          },
        },
        awaitingManager: {},
      },
    },
    approved: { type: 'final' },
    rejected: { type: 'final' },
  },
  output: ({ context }) => ({
    request: context.request,
    // Set by `decide` on the way into either final state.
    decision: context.decision as 'approved' | 'rejected',
    decidedBy: context.decidedBy as string,
    escalated: context.escalated,
    reminders: context.reminders,
    note: context.note ?? null,
  }),
});
