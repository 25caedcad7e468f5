import { afterEach, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { createRuntime, fromEffect, lmdbStore, type EffectArgs } from '../src/index.js';
import { tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What the nested effect saw, across both runtimes of a test. */
const calls: { key: string; attempt: number }[] = [];

const payment = setup({
  types: { context: {} as { receipt: string | null }, output: {} as { receipt: string | null } },
  actors: {
    charge: fromEffect(async ({ key, attempt }: EffectArgs<unknown>) => {
      calls.push({ key, attempt });
      return `receipt-${calls.length}`;
    }),
  },
}).createMachine({
  id: 'payment',
  context: { receipt: null },
  initial: 'charging',
  states: {
    charging: { invoke: { src: 'charge', onDone: { target: 'confirming', actions: assign({ receipt: ({ event }) => event.output as string }) } } },
    confirming: { on: { CONFIRM: 'done' } },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ receipt: context.receipt }),
});

const checkout = setup({ actors: { payment } }).createMachine({
  id: 'checkout',
  initial: 'paying',
  context: { receipt: null as string | null },
  states: {
    paying: {
      invoke: { id: 'pay', src: 'payment', onDone: { target: 'paid', actions: assign({ receipt: ({ event }) => (event.output as { receipt: string | null }).receipt }) } },
      on: { CONFIRM: { actions: ({ context: _c }) => undefined } },
    },
    paid: { type: 'final' },
  },
  output: ({ context }) => ({ receipt: context.receipt }),
});

it('a promise actor of a child machine is a durable effect too: keyed by its path, recorded, not run again after a restart', async () => {
  calls.length = 0;
  const dir = tempDir();
  cleanups.push(dir.remove);
  const first = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [checkout] });
  const { id } = await first.start('checkout', { id: 'order-1' });
  for (let i = 0; i < 100 && (await first.get(id))?.effects[0]?.status !== 'done'; i++) await new Promise((r) => setTimeout(r, 5));
  const info = await first.get(id);
  expect(info?.effects).toEqual([{ key: 'order-1/pay/0.payment.charging@0', status: 'done', attempts: 1, output: 'receipt-1' }]);
  expect(calls).toEqual([{ key: 'order-1/pay/0.payment.charging@0', attempt: 1 }]);
  await first.close();

  // The child machine waits for CONFIRM; a new runtime restores it without running the charge again.
  const second = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [checkout] });
  cleanups.push(() => second.close());
  await new Promise((r) => setTimeout(r, 20));
  expect(calls).toHaveLength(1);
  const restored = await second.get(id);
  expect((restored?.context as { receipt: string | null }).receipt).toBeNull();
  expect(JSON.stringify(restored?.value)).toContain('paying');
});
