/**
 * durastate builds the persisted snapshot of a childless machine itself (see
 * `src/runtime/persisted.ts`): it must equal XState's `getPersistedSnapshot` after every event,
 * for random machines, history states, and a context holding an actor ref (where the runtime
 * falls back to XState's form, which writes the ref as its id).
 */
import fc from 'fast-check';
import { assign, createActor, setup, type AnyActorRef, type AnyStateMachine } from 'xstate';
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
