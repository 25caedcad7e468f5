import { assign, setup } from 'xstate';

/** Context of the benchmark counter: small, flat, JSON. */
export interface CounterContext {
  count: number;
  total: number;
  label: string;
}

export type CounterEvent = { type: 'INC'; by: number };

/**
 * The benchmark workload: one state, `INC { by }` assigns two numbers of a three-field context.
 * It never finishes, so an execution can take any number of events. Every INC is a real
 * transition (the context changes), so every one is journalled.
 */
export const counterMachine = setup({
  types: {
    context: {} as CounterContext,
    events: {} as CounterEvent,
  },
  actions: {
    inc: assign({
      count: ({ context }) => context.count + 1,
      total: ({ context, event }) => context.total + event.by,
    }),
  },
}).createMachine({
  id: 'counter',
  version: 'bench-1',
  context: { count: 0, total: 0, label: 'counter' },
  initial: 'counting',
  states: {
    counting: { on: { INC: { actions: 'inc' } } },
  },
});

/** A fresh event object per send, as a caller would build it. */
export function inc(): CounterEvent {
  return { type: 'INC', by: 1 };
}
