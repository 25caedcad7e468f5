/**
 * durastate builds the persisted snapshot of a machine itself (see
 * `src/runtime/persisted.ts`): it must equal XState's `getPersistedSnapshot` after every event,
 * for random machines, history states, children (an effect, a child machine whose own state
 * changes while the parent's does not), and a context holding an actor ref (where the runtime
 * falls back to XState's form, which writes the ref as its id).
 */
import fc from 'fast-check';
import { assign, createActor, createMachine, fromPromise, sendTo, setup, type AnyActorRef, type AnyStateMachine } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, lmdbStore, SnapshotPersister, type Runtime } from '../src/internal.js';
import { RANDOM_EVENT_TYPES, randomMachine } from './fixtures/randomMachine.js';
import { tempDir } from './helpers.js';

const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** Sends `events` to a fresh actor of `machine`, comparing both forms after each. */
function compareAlong(machine: AnyStateMachine, events: { type: string; [k: string]: unknown }[]): number {
  const actor = createActor(machine).start();
  const persister = new SnapshotPersister(machine);
  let compared = 0;
  const check = (): void => {
    const snapshot = actor.getSnapshot();
    expect(json(persister.of(snapshot))).toEqual(json(machine.getPersistedSnapshot(snapshot)));
    compared++;
  };
  check();
  for (const event of events) {
    if (actor.getSnapshot().status !== 'active') break;
    actor.send(event);
    check();
  }
  actor.stop();
  return compared;
}

const historyMachine = setup({}).createMachine({
  id: 'history',
  initial: 'editing',
  states: {
    editing: {
      initial: 'draft',
      states: {
        draft: { on: { NEXT: 'review' } },
        review: { on: { NEXT: 'draft' } },
        hist: { type: 'history', history: 'deep' },
      },
      on: { PAUSE: 'paused' },
    },
    paused: { on: { RESUME: '#history.editing.hist' } },
  },
});

const selfInContext = setup({
  types: { context: {} as { me: AnyActorRef | null; n: number }, events: {} as { type: 'INC' } },
}).createMachine({
  id: 'selfInContext',
  version: '1',
  context: ({ self }) => ({ me: self, n: 0 }),
  initial: 'on',
  states: { on: { on: { INC: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } },
});

/** A child machine that counts BUMPs, and an effect that doubles `n`: the parent's `children`. */
const withChildren = setup({
  types: { context: {} as { n: number; results: number[] }, events: {} as { type: 'GO' } | { type: 'BUMP' } },
  actors: {
    double: fromPromise(async ({ input }: { input: number }) => input * 2),
    counter: createMachine({
      id: 'counter',
      context: { bumps: 0, log: [] as string[] },
      on: { BUMP: { actions: assign({ bumps: ({ context }) => context.bumps + 1, log: ({ context }) => [...context.log, 'bump'] }) } },
    }),
  },
}).createMachine({
  id: 'withChildren',
  context: { n: 1, results: [] },
  invoke: { src: 'counter', id: 'kid', systemId: 'the-kid' },
  initial: 'idle',
  states: {
    idle: { on: { GO: 'calling', BUMP: { actions: sendTo('kid', { type: 'BUMP' }) } } },
    calling: {
      invoke: {
        src: 'double',
        input: ({ context }) => context.n,
        onDone: { target: 'idle', actions: assign({ n: ({ context }) => context.n + 1, results: ({ context, event }) => [...context.results, event.output] }) },
      },
    },
  },
});

describe('SnapshotPersister', () => {
  it('equals XState’s persisted snapshot after every event of random machines', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.array(fc.constantFrom(...RANDOM_EVENT_TYPES), { minLength: 1, maxLength: 30 }), (seed, types) => {
        const { machine } = randomMachine(seed);
        expect(compareAlong(machine, types.map((type) => ({ type, payload: { seed } })))).toBeGreaterThan(1);
      }),
      { numRuns: 150 },
    );
  });

  it('equals it through history states, whose value changes when a history state is left and re-entered', () => {
    const persister = new SnapshotPersister(historyMachine);
    const actor = createActor(historyMachine).start();
    actor.send({ type: 'NEXT' });
    actor.send({ type: 'PAUSE' });
    const paused = actor.getSnapshot();
    expect(Object.keys(paused.historyValue)).not.toHaveLength(0);
    expect(json(persister.of(paused))).toEqual(json(historyMachine.getPersistedSnapshot(paused)));
    actor.send({ type: 'RESUME' });
    expect(actor.getSnapshot().value).toEqual({ editing: 'review' });
    expect(json(persister.of(actor.getSnapshot()))).toEqual(json(historyMachine.getPersistedSnapshot(actor.getSnapshot())));
  });
});

describe('SnapshotPersister with children', () => {
  it('equals XState’s form with an effect in flight, after it is done, and when only a child machine changed', async () => {
    const persister = new SnapshotPersister(withChildren);
    const actor = createActor(withChildren).start();
    const check = (): Record<string, unknown> => {
      const persisted = persister.of(actor.getSnapshot());
      expect(persister.lastFast).toBe(true);
      expect(json(persisted)).toEqual(json(withChildren.getPersistedSnapshot(actor.getSnapshot())));
      return persisted;
    };
    expect(Object.keys(check().children as object)).toEqual(['kid']);
    actor.send({ type: 'GO' });
    expect(Object.keys(check().children as object).sort()).toEqual(['0.withChildren.calling', 'kid']);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(actor.getSnapshot().context.results).toEqual([2]);
    check();
    // Only the child's state changes: the parent's snapshot object stays the same.
    const before = actor.getSnapshot();
    actor.send({ type: 'BUMP' });
    actor.send({ type: 'BUMP' });
    const kid = (check().children as Record<string, { snapshot: { context: { bumps: number } }; systemId?: string }>).kid;
    expect(kid?.snapshot.context.bumps).toBe(2);
    expect(kid?.systemId).toBe('the-kid');
    expect(actor.getSnapshot().children).toBe(before.children);
    actor.stop();
  });

  it("in the runtime: the child machine's changes are journalled and restored", async () => {
    const dir = tempDir();
    const path = dir.path;
    let rt = await createRuntime({ store: lmdbStore({ path }), machines: [withChildren], recover: false });
    try {
      const { id } = await rt.start('withChildren');
      await rt.send(id, { type: 'BUMP' });
      await rt.send(id, { type: 'GO' });
      // The effect doubles n and comes back to idle (seq 1 BUMP, 2 GO, 3 done).
      for (let i = 0; i < 500 && (await rt.get(id))?.seq !== 3; i++) await new Promise((resolve) => setTimeout(resolve, 2));
      expect(await rt.get(id)).toMatchObject({ seq: 3, value: 'idle', context: { n: 2, results: [2] } });
      await rt.send(id, { type: 'BUMP' });
      const last = await rt.get(id);
      const state = await rt.stateAt(id, { seq: last?.seq ?? 0 });
      const kid = (state.snapshot as { children: Record<string, { snapshot: { context: { bumps: number } } }> }).children.kid;
      expect(kid?.snapshot.context.bumps).toBe(2);
      await rt.close();
      rt = await createRuntime({ store: lmdbStore({ path }), machines: [withChildren] });
      await rt.send(id, { type: 'BUMP' });
      const after = await rt.stateAt(id, { seq: (await rt.get(id))?.seq ?? 0 });
      expect((after.snapshot as { children: Record<string, { snapshot: { context: { bumps: number; log: string[] } } }> }).children.kid?.snapshot.context).toEqual({ bumps: 3, log: ['bump', 'bump', 'bump'] });
    } finally {
      await rt.close();
      dir.remove();
    }
  });
});

describe('an actor ref in context', () => {
  let rt: Runtime | undefined;
  afterEach(async () => {
    await rt?.close();
    rt = undefined;
  });

  it('is written as XState writes it (its id), at creation and on every later transition', async () => {
    const dir = tempDir();
    rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [selfInContext], recover: false });
    const { id } = await rt.start('selfInContext');
    for (let i = 0; i < 3; i++) await rt.send(id, { type: 'INC' });
    const state = await rt.stateAt(id, { seq: 3 });
    const ref = (state.snapshot as { context: { me: unknown; n: number } }).context;
    expect(ref.n).toBe(3);
    expect(ref.me).toEqual({ xstate$$type: 1, id: expect.any(String) });
  });
});
