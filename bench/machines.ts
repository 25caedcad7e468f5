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

export interface ChatMessage {
  role: 'user' | 'assistant';
  n: number;
  text: string;
}

export interface ChatContext {
  title: string;
  model: string;
  turns: number;
  messages: ChatMessage[];
}

export type ChatEvent = { type: 'MESSAGE'; message: ChatMessage };

/**
 * The chat workload (timeline bench, peers bench): every MESSAGE appends one message to the
 * context (a new array, as `assign` is used).
 */
export const chatMachine = setup({
  types: { context: {} as ChatContext, events: {} as ChatEvent },
  actions: {
    append: assign({
      turns: ({ context }) => context.turns + 1,
      messages: ({ context, event }) => [...context.messages, event.message],
    }),
  },
}).createMachine({
  id: 'chat',
  version: 'bench-1',
  context: { title: 'benchmark conversation', model: 'some-model-2026-01', turns: 0, messages: [] },
  initial: 'chatting',
  states: { chatting: { on: { MESSAGE: { actions: 'append' } } } },
});

const WORDS = 'the order shipped late because the warehouse queue was full so we retried the payment and the customer asked for a refund which was approved'.split(' ');

/** Message `n`, its JSON exactly `bytes` long (deterministic text). */
export function message(n: number, bytes: number): ChatMessage {
  const base: ChatMessage = { role: n % 2 ? 'assistant' : 'user', n, text: '' };
  const room = bytes - JSON.stringify(base).length;
  let text = '';
  for (let w = n; text.length < room; w++) text += `${WORDS[w % WORDS.length]} `;
  return { ...base, text: text.slice(0, Math.max(0, room)) };
}
