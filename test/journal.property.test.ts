/**
 * The journal's promise, as a property: for random machines and random event sequences,
 * rebuilding snapshot `seq` from the store (nearest keyframe + the patches after it) equals the
 * persisted snapshot the actor had at `seq`; a rebuild reads fewer than `keyframeEvery` patches,
 * and fewer patch bytes than its keyframe; and storage grows with what changes, not with the
 * state's size times the number of steps.
 *
 * The reference is a mirror: the same machine run in memory with `createActor`, sent the same
 * accepted events, its `getPersistedSnapshot()` JSON-normalised after each one.
 */
import fc from 'fast-check';
import { assign, createActor, setup, type AnyStateMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  EventNotAcceptedError,
  ExecutionFinishedError,
  InvalidEventError,
  NonJsonStateError,
  createRuntime,
  rebuildSnapshot,
  type Json,
  type Store,
  KEYFRAME_MIN_BYTES,
} from '../src/internal.js';
import { RANDOM_EVENT_TYPES, randomGrowingMachine, randomMachine, type RandomEvent } from './fixtures/randomMachine.js';
import { storeConfigs, tempDir, type StoreConfig } from './helpers.js';

const normal = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** Event payloads: random JSON without `__proto__`/`prototype` keys (see the dedicated test). */
function sanitize(value: Json): Json {
  if (Array.isArray(value)) return value.map(sanitize);
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) if (k !== '__proto__' && k !== 'prototype') out[k] = sanitize(v);
    return out;
  }
  return value;
}

const payloadArb = fc.jsonValue({ maxDepth: 2 }).map((v) => normal(sanitize(v as Json)));
const eventArb: fc.Arbitrary<RandomEvent> = fc.record({ type: fc.constantFrom(...RANDOM_EVENT_TYPES), payload: payloadArb });
const runArb = fc.record({
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  keyframeEvery: fc.integer({ min: 2, max: 8 }),
  events: fc.array(eventArb, { minLength: 5, maxLength: 50, size: 'max' }),
});

/** Every keyframe of an execution, newest first, found through the Store interface only. */
async function keyframesOf(store: Store, id: string, lastSeq: number): Promise<{ seq: number; snapshot: Json }[]> {
  const found: { seq: number; snapshot: Json }[] = [];
  for (let seq = lastSeq; seq >= 0; ) {
    const kf = await store.keyframeAtOrBefore(id, seq);
    if (!kf) break;
    found.push(kf);
    seq = kf.seq - 1;
  }
  return found;
}

/**
 * Asserts, for every seq, that the rebuilt snapshot equals the recorded one and that the rebuild
 * reads fewer than `keyframeEvery` patches, of fewer bytes than the keyframe it starts from
 * (or KEYFRAME_MIN_BYTES for a small one).
 */
async function checkRebuilds(store: Store, id: string, recorded: readonly unknown[], keyframeEvery: number, label: string): Promise<void> {
  for (let seq = 0; seq < recorded.length; seq++) {
    const rebuilt = await rebuildSnapshot(store, id, seq);
    expect(normal(rebuilt), `${label}: snapshot at seq ${seq}`).toEqual(recorded[seq]);
    const kf = await store.keyframeAtOrBefore(id, seq);
    expect(kf, `${label}: keyframe at or before ${seq}`).toBeDefined();
    const patches = await store.readJournal(id, { from: kf!.seq + 1, to: seq });
    expect(patches.map((e) => e.seq), `${label}: patches read for seq ${seq}`).toEqual(Array.from({ length: seq - kf!.seq }, (_, i) => kf!.seq + 1 + i));
    expect(patches.length, `${label}: patches read for seq ${seq} (keyframeEvery ${keyframeEvery})`).toBeLessThan(keyframeEvery);
    const patchBytes = patches.reduce((sum, e) => sum + (e.patch.length ? JSON.stringify(e.patch).length : 0), 0);
    expect(patchBytes, `${label}: patch bytes read for seq ${seq}`).toBeLessThanOrEqual(Math.max(JSON.stringify(kf!.snapshot).length, KEYFRAME_MIN_BYTES));
  }
}

/** Status of the runtime for a mirror snapshot status. */
function expectedStatus(status: string): string {
  return status === 'done' ? 'completed' : status === 'error' ? 'failed' : 'waiting';
}

interface Run {
  seed: number;
  keyframeEvery: number;
  events: RandomEvent[];
}

/** Runs one random machine on a fresh store; returns what it recorded. */
async function runOnce(config: StoreConfig, run: Run): Promise<void> {
  // fast-check prints the failing run; `randomMachineSpec(seed)` prints its machine.
  const { machine } = randomMachine(run.seed);
  const label = `${config.name} seed ${run.seed} K=${run.keyframeEvery}`;
  const dir = tempDir('durastate-journal-');
  let store = config.make(dir.path);
  const rt = await createRuntime({ store, machines: [machine], keyframeEvery: run.keyframeEvery, recover: false });
  const id = 'exec';
  const recorded: unknown[] = [];
  try {
    await rt.start(machine.id, { id });
    const mirror = createActor(machine);
    mirror.start();
    recorded.push(normal(mirror.getPersistedSnapshot()));

    for (const event of run.events) {
      if (mirror.getSnapshot().status !== 'active') {
        await expect(rt.send(id, structuredClone(event) as never), label).rejects.toBeInstanceOf(ExecutionFinishedError);
        break;
      }
      const accepted = mirror.getSnapshot().can(structuredClone(event));
      try {
        await rt.send(id, structuredClone(event) as never);
      } catch (err) {
        if (!(err instanceof EventNotAcceptedError)) throw err;
        expect(accepted, `${label}: ${event.type} rejected by the runtime, accepted by the mirror`).toBe(false);
        expect((await store.getMeta(id))?.seq, `${label}: a rejected event writes nothing`).toBe(recorded.length - 1);
        continue;
      }
      expect(accepted, `${label}: ${event.type} accepted by the runtime, rejected by the mirror`).toBe(true);
      mirror.send(structuredClone(event));
      recorded.push(normal(mirror.getPersistedSnapshot()));
      // One accepted event, one transition: seq k is the snapshot after the k-th accepted event.
      expect((await store.getMeta(id))?.seq, label).toBe(recorded.length - 1);
    }

    const last = recorded[recorded.length - 1] as { context: unknown; value: unknown; status: string };
    const info = await rt.get(id);
    expect(normal(info?.context), `${label}: get(id).context`).toEqual(last.context);
    expect(normal(info?.value), `${label}: get(id).value`).toEqual(last.value);
    expect(info?.seq).toBe(recorded.length - 1);
    expect(info?.status).toBe(expectedStatus(last.status));

    await checkRebuilds(store, id, recorded, run.keyframeEvery, label);
    if (last.status === 'done') {
      expect((await store.keyframeAtOrBefore(id, recorded.length - 1))?.seq, `${label}: keyframe at the end`).toBe(recorded.length - 1);
    }
  } finally {
    await rt.close();
  }
  try {
    if (config.persistent) {
      // The same bytes read by a fresh process.
      store = config.make(dir.path);
      await store.open();
      try {
        for (let seq = 0; seq < recorded.length; seq++) {
          expect(normal(await rebuildSnapshot(store, id, seq)), `${label}: after reopening, seq ${seq}`).toEqual(recorded[seq]);
        }
      } finally {
        await store.close();
      }
    }
  } finally {
    dir.remove();
  }
}

describe.each(storeConfigs)('journal on $name', (config) => {
  // LMDB runs wait for real flushes (two fsyncs per send); the memory store runs more cases.
  const runs = config.persistent ? 15 : 60;

  it('rebuilding snapshot seq equals the snapshot the actor had at seq (random machines, random events)', async () => {
    await fc.assert(
      // Shrinking is bounded: a failing run reports within seconds, with a smaller counterexample.
      fc.asyncProperty(fc.limitShrink(runArb, 100), (run) => runOnce(config, run)),
      { numRuns: runs },
    );
  });

  it('a context growing by ~200 bytes per step over 300 steps is stored in far less than 300 full snapshots', async () => {
    const machine = randomGrowingMachine('growing', 200);
    const dir = tempDir('durastate-journal-');
    const store = config.make(dir.path);
    const rt = await createRuntime({ store, machines: [machine], recover: false });
    const id = 'grow';
    try {
      await rt.start(machine.id, { id });
      const mirror = createActor(machine);
      mirror.start();
      const recorded: unknown[] = [normal(mirror.getPersistedSnapshot())];
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < 300; i++) {
        // Issued together (group commit); each is delivered in order.
        sends.push(rt.send(id, { type: 'ADD' }));
        mirror.send({ type: 'ADD' });
        recorded.push(normal(mirror.getPersistedSnapshot()));
      }
      await Promise.all(sends);
      expect((await store.getMeta(id))?.seq).toBe(300);

      const full = recorded.reduce<number>((sum, s) => sum + JSON.stringify(s).length, 0);
      const last = recorded[300] as { context: { log: string[] } };
      expect(last.context.log).toHaveLength(300);
      expect(JSON.stringify(last).length).toBeGreaterThan(300 * 200);

      const journal = await store.readJournal(id);
      expect(journal).toHaveLength(301);
      const keyframes = await keyframesOf(store, id, 300);
      const stored =
        journal.reduce((sum, e) => sum + JSON.stringify(e).length, 0) + keyframes.reduce((sum, k) => sum + JSON.stringify(k.snapshot).length, 0);
      expect(stored / full, `stored ${stored} bytes for ${full} bytes of full snapshots (${keyframes.length} keyframes)`).toBeLessThan(0.25);

      await checkRebuilds(store, id, recorded, 128, `${config.name} growing`);

      // Finishing writes a keyframe at the end.
      await rt.send(id, { type: 'DONE' });
      expect((await store.keyframeAtOrBefore(id, 301))?.seq).toBe(301);
      mirror.send({ type: 'DONE' });
      expect(normal(await rebuildSnapshot(store, id, 301))).toEqual(normal(mirror.getPersistedSnapshot()));
    } finally {
      await rt.close();
      dir.remove();
    }
  });

  it('the same object at two places of the context, then changed at both: every seq rebuilds', async () => {
    // `assign` may well put one event payload at two places; JSON (and the journal) sees two copies.
    const machine: AnyStateMachine = setup({
      types: { context: {} as { a: unknown[] | null; b: unknown[] | null; n: number; pad: string } },
    }).createMachine({
      id: 'aliasing',
      // The padding keeps patches small next to the snapshot: no keyframe until the end.
      context: { a: null, b: null, n: 0, pad: 'x'.repeat(2_000) },
      on: {
        SET: {
          actions: assign({
            a: ({ event }) => (event as unknown as { item: unknown[] }).item,
            b: ({ event }) => (event as unknown as { item: unknown[] }).item,
          }),
        },
        PUSH: {
          actions: assign({ a: ({ context }) => [...(context.a ?? []), 'a'], b: ({ context }) => [...(context.b ?? []), 'b'], n: ({ context }) => context.n + 1 }),
        },
      },
    });
    const dir = tempDir('durastate-journal-');
    const store = config.make(dir.path);
    const rt = await createRuntime({ store, machines: [machine], keyframeEvery: 100, recover: false });
    try {
      await rt.start('aliasing', { id: 'al' });
      const mirror = createActor(machine);
      mirror.start();
      const recorded: unknown[] = [normal(mirror.getPersistedSnapshot())];
      for (const event of [{ type: 'SET', item: [] }, { type: 'PUSH' }, { type: 'PUSH' }, { type: 'SET', item: [{ k: 1 }] }, { type: 'PUSH' }]) {
        await rt.send('al', structuredClone(event));
        mirror.send(structuredClone(event));
        recorded.push(normal(mirror.getPersistedSnapshot()));
      }
      expect((recorded[3] as { context: unknown }).context).toMatchObject({ a: ['a', 'a'], b: ['b', 'b'], n: 2 });
      expect((await store.keyframeAtOrBefore('al', 5))?.seq).toBe(0);
      for (let seq = 0; seq < recorded.length; seq++) {
        expect(normal(await rebuildSnapshot(store, 'al', seq)), `seq ${seq}`).toEqual(recorded[seq]);
      }
      expect(normal((await rt.get('al'))?.context)).toMatchObject({ a: [{ k: 1 }, 'a'], b: [{ k: 1 }, 'b'], n: 3 });
    } finally {
      await rt.close();
      dir.remove();
    }
  });

  it('a context holding keys JavaScript treats specially (__proto__ from JSON.parse) is refused, or rebuilt faithfully', async () => {
    const machine: AnyStateMachine = setup({}).createMachine({
      id: 'special',
      context: { data: null as unknown },
      on: {
        SET: { actions: assign({ data: ({ event }) => (event as unknown as { data: unknown }).data }) },
      },
    });
    const dir = tempDir('durastate-journal-');
    const store = config.make(dir.path);
    const rt = await createRuntime({ store, machines: [machine], keyframeEvery: 3, recover: false });
    try {
      await rt.start('special', { id: 's' });
      const mirror = createActor(machine);
      mirror.start();
      const recorded: unknown[] = [normal(mirror.getPersistedSnapshot())];
      const payloads = [
        '{"__proto__":{"x":1},"y":2}',
        '{"__proto__":{"x":2},"y":2}',
        '{"constructor":{"prototype":{"x":1}}}',
        '{"constructor":{"prototype":{"x":2}}}',
      ];
      for (const text of payloads) {
        const event = { type: 'SET', data: JSON.parse(text) as Json };
        try {
          await rt.send('s', event);
        } catch (err) {
          // Refusing such state is fine, with a clear error and nothing written.
          expect(err instanceof NonJsonStateError || err instanceof InvalidEventError, String(err)).toBe(true);
          expect((await store.getMeta('s'))?.seq).toBe(recorded.length - 1);
          continue;
        }
        mirror.send({ type: 'SET', data: JSON.parse(text) as Json });
        recorded.push(normal(mirror.getPersistedSnapshot()));
      }
      for (let seq = 0; seq < recorded.length; seq++) {
        const rebuilt = await rebuildSnapshot(store, 's', seq);
        expect(JSON.stringify(rebuilt), `seq ${seq}`).toBe(JSON.stringify(recorded[seq]));
      }
      expect(JSON.stringify((await rt.get('s'))?.context)).toBe(JSON.stringify((recorded[recorded.length - 1] as { context: unknown }).context));
    } finally {
      await rt.close();
      dir.remove();
    }
  });
});
