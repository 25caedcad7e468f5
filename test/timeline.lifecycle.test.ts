/**
 * The life of a timeline, at the runtime level, against every store: lineage, delete of an
 * execution that has forks (refused, with its forks, or materialising them), cleanup that never
 * leaves a fork without its history, and rewind (what the execution and the branch hold after
 * it, outcomes, timers, effects, send keys, forks on either side of the rewind point, invalid
 * points, recovery after a reopen). Time is a simulated clock; every time asserted is its.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup } from 'xstate';
import {
  createRuntime,
  ExecutionHasForksError,
  simulatedClock,
  type EffectArgs,
  type HistoryEntry,
  type PatchOperation,
  type Runtime,
  type SimulatedClock,
  type StateAt,
  type Store,
} from '../src/index.js';
import { storeConfigs, tempDir } from './helpers.js';

const T0 = Date.UTC(2026, 0, 1);

type CounterEvent = { type: 'INC' } | { type: 'MODE'; mode: string } | { type: 'DONE' } | { type: 'SHORT' } | { type: 'BACK' };

/** Counts; ends a or b by its mode on DONE, or times out (60 s in `counting`, 5 s in `short`). */
const counter = setup({ types: { context: {} as { n: number; mode: string }, events: {} as CounterEvent } }).createMachine({
  id: 'counter',
  context: { n: 0, mode: 'a' },
  initial: 'counting',
  states: {
    counting: {
      on: {
        INC: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        MODE: { actions: assign({ mode: ({ event }) => event.mode }) },
        DONE: [{ guard: ({ context }) => context.mode === 'b', target: 'pathB' }, { target: 'pathA' }],
        SHORT: 'short',
      },
      after: { 60_000: 'timedOut' },
    },
    short: { on: { BACK: 'counting' }, after: { 5_000: 'shortOut' } },
    pathA: { type: 'final' },
    pathB: { type: 'final' },
    timedOut: { type: 'final' },
    shortOut: { type: 'final' },
  },
  output: ({ context }) => ({ mode: context.mode, n: context.n }),
});

/** Every run of the `job` effect's code, and the way to finish it. */
const calls: { key: string; n: number }[] = [];
const finishers = new Map<string, (output: string) => void>();

/** Runs a durable effect per GO; its result is appended to `results`. */
const jobs = setup({
  types: { context: {} as { results: string[] }, events: {} as { type: 'GO' } },
  actors: {
    job: fromPromise(async (args: { input: { n: number } }) => {
      const { key, input } = args as unknown as EffectArgs<{ n: number }>;
      calls.push({ key, n: input.n });
      return new Promise<string>((resolve) => finishers.set(key, resolve));
    }),
  },
}).createMachine({
  id: 'jobs',
  context: { results: [] },
  initial: 'idle',
  states: {
    idle: { on: { GO: 'working' } },
    working: {
      invoke: {
        src: 'job',
        input: ({ context }) => ({ n: context.results.length }),
        onDone: { target: 'idle', actions: assign({ results: ({ context, event }) => [...context.results, event.output as string] }) },
      },
    },
  },
});

/** Polls (real time) until `done()` holds: for work that runs on its own after a commit. A bail-out, not a measurement. */
async function until(done: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** What can be read of an execution's past: its history, the state at every seq, the patch of every step and of the whole. */
interface View {
  history: HistoryEntry[];
  states: StateAt[];
  diffs: PatchOperation[][];
}

async function view(rt: Runtime, id: string): Promise<View> {
  const history = await rt.history(id);
  const states: StateAt[] = [];
  for (const e of history) states.push(await rt.stateAt(id, { seq: e.seq }));
  const last = history[history.length - 1]!.seq;
  const diffs = [await rt.diff(id, 0, last)];
  for (let seq = 1; seq <= last; seq++) diffs.push(await rt.diff(id, seq - 1, seq));
  return { history, states, diffs };
}

/** A state without the fields that name who asked and where it was read from. */
function bare(state: StateAt): Omit<StateAt, 'id' | 'from'> {
  const { id: _id, from: _from, ...rest } = state;
  return rest;
}

/** A history entry without its provenance marks. */
function plain(entry: HistoryEntry): Omit<HistoryEntry, 'from' | 'forkPoint'> {
  const { from: _from, forkPoint: _forkPoint, ...rest } = entry;
  return rest;
}

describe.each(storeConfigs)('timeline lifecycle: $name', (config) => {
  let dir: { path: string; remove: () => void };
  let clock: SimulatedClock;
  let rt: Runtime;
  let store: Store;
  const runtimes: Runtime[] = [];

  beforeEach(() => {
    dir = tempDir('durastate-timeline-life-');
    clock = simulatedClock(T0);
    calls.length = 0;
    finishers.clear();
  });

  afterEach(async () => {
    for (const r of runtimes.splice(0)) await r.close();
    dir.remove();
  });

  async function open(): Promise<Runtime> {
    store = config.make(dir.path);
    rt = await createRuntime({ store, machines: [counter, jobs], clock });
    runtimes.push(rt);
    return rt;
  }

  /** Starts a counter and sends it `incs` INCs, one simulated second apart. */
  async function counting(id: string, incs: number): Promise<void> {
    await rt.start('counter', { id });
    for (let i = 0; i < incs; i++) {
      await clock.advance(1_000);
      await rt.send(id, { type: 'INC' });
    }
  }

  async function notFound(id: string): Promise<void> {
    await expect(rt.history(id), id).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND' });
    await expect(rt.stateAt(id, { seq: 0 }), id).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND' });
    expect(await rt.get(id), id).toBeUndefined();
  }

  describe('lineage', () => {
    it('ancestors root-first with the seqs each next one was forked at; the tree of descendants (two forks of one parent, a fork of a fork)', async () => {
      await open();
      await counting('p', 6);
      await rt.fork('p', { seq: 2, id: 'a' });
      await rt.fork('p', { seq: 4, id: 'b' });
      await rt.send('a', { type: 'INC' }); // a: 3 is its fork transition, 4 this one
      await rt.fork('a', { seq: 4, id: 'aa' });
      await rt.send('aa', { type: 'DONE' });

      const leaf = await rt.lineage('aa');
      expect(leaf.id).toBe('aa');
      expect(leaf.ancestors).toEqual([
        { id: 'p', seq: 2, machine: 'counter', status: 'waiting' },
        { id: 'a', seq: 4, machine: 'counter', status: 'waiting' },
      ]);
      expect(leaf.tree).toMatchObject({ id: 'aa', machine: 'counter', status: 'completed', seq: 6, parent: { id: 'a', seq: 4 }, forks: [] });

      const root = await rt.lineage('p');
      expect(root.ancestors).toEqual([]);
      expect(root.tree).toEqual({
        id: 'p',
        machine: 'counter',
        status: 'waiting',
        seq: 6,
        createdAt: new Date(T0),
        forks: [
          {
            id: 'a',
            machine: 'counter',
            status: 'waiting',
            seq: 4,
            createdAt: expect.any(Date),
            parent: { id: 'p', seq: 2 },
            forks: [{ id: 'aa', machine: 'counter', status: 'completed', seq: 6, createdAt: expect.any(Date), parent: { id: 'a', seq: 4 }, forks: [] }],
          },
          { id: 'b', machine: 'counter', status: 'waiting', seq: 5, createdAt: expect.any(Date), parent: { id: 'p', seq: 4 }, forks: [] },
        ],
      });

      const middle = await rt.lineage('a');
      expect(middle.ancestors).toEqual([{ id: 'p', seq: 2, machine: 'counter', status: 'waiting' }]);
      expect(middle.tree.forks.map((f) => f.id)).toEqual(['aa']);
      await expect(rt.lineage('nobody')).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND' });
    });

    it('a deleted ancestor shows deleted: true', async () => {
      await open();
      await counting('p', 5);
      await rt.fork('p', { seq: 3, id: 'm' });
      await rt.send('m', { type: 'INC' });
      await rt.fork('m', { seq: 5, id: 'g' });
      await rt.delete('m', { forks: 'materialise' });
      const lineage = await rt.lineage('g');
      expect(lineage.ancestors.at(-1)).toEqual({ id: 'm', seq: 5, deleted: true });
      expect(lineage.ancestors.every((a) => a.id !== 'g')).toBe(true);
      expect((await rt.lineage('p')).tree.forks).toEqual([]);
    });
  });

  describe('delete', () => {
    it('of an execution with forks is refused (HAS_FORKS, ExecutionHasForksError) and deletes nothing', async () => {
      await open();
      await counting('p', 5);
      await rt.fork('p', { seq: 2, id: 'f1' });
      await rt.fork('p', { seq: 4, id: 'f2' });
      await rt.fork('f1', { seq: 3, id: 'g' });
      const before = { p: await view(rt, 'p'), f1: await view(rt, 'f1'), f2: await view(rt, 'f2'), g: await view(rt, 'g') };

      const refused = rt.delete('p');
      await expect(refused).rejects.toBeInstanceOf(ExecutionHasForksError);
      await expect(refused).rejects.toMatchObject({ code: 'HAS_FORKS', executionId: 'p', forks: ['f1', 'f2'] });
      await expect(rt.delete('p', { forks: 'refuse' })).rejects.toMatchObject({ code: 'HAS_FORKS' });
      await expect(rt.delete('f1')).rejects.toMatchObject({ code: 'HAS_FORKS', forks: ['g'] });

      expect({ p: await view(rt, 'p'), f1: await view(rt, 'f1'), f2: await view(rt, 'f2'), g: await view(rt, 'g') }).toEqual(before);
      expect((await rt.stats()).total).toBe(4);
      // Still running here: it takes events.
      expect((await rt.send('p', { type: 'INC' })).seq).toBe(6);
    });

    it("{ forks: 'delete' } deletes it and all its descendants with their journals, and nothing else", async () => {
      await open();
      await counting('p', 5);
      await counting('q', 1);
      await rt.fork('p', { seq: 2, id: 'a' });
      await rt.fork('p', { seq: 4, id: 'b' });
      await rt.fork('a', { seq: 3, id: 'aa' });
      await rt.fork('q', { seq: 1, id: 'qf' });
      const others = { q: await view(rt, 'q'), qf: await view(rt, 'qf') };

      // A middle one first: it and its fork go, its parent and sibling stay.
      await rt.delete('a', { forks: 'delete' });
      for (const id of ['a', 'aa']) await notFound(id);
      expect((await rt.lineage('p')).tree.forks.map((f) => f.id)).toEqual(['b']);
      expect((await rt.history('b')).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);

      await rt.delete('p', { forks: 'delete' });
      for (const id of ['p', 'b']) await notFound(id);
      expect({ q: await view(rt, 'q'), qf: await view(rt, 'qf') }).toEqual(others);
      expect((await rt.stats()).total).toBe(2);

      // Nothing of the deleted ones runs on: their timers are gone with them; the others' fire.
      await clock.advance(61_000);
      await until(async () => (await rt.get('qf'))?.status === 'completed', 'qf to time out');
      expect((await rt.get('q'))?.status).toBe('completed');
      for (const id of ['p', 'a', 'b', 'aa']) expect(await rt.get(id), id).toBeUndefined();
      expect((await rt.stats()).total).toBe(2);
    });

    it("{ forks: 'materialise' } deletes only it; every fork's history, states (before its fork point too) and diffs stay exactly as they were, and it runs on", async () => {
      await open();
      await counting('p', 3);
      await rt.send('p', { type: 'MODE', mode: 'c' });
      await counting('other', 0);
      for (let i = 0; i < 4; i++) {
        await clock.advance(1_000);
        await rt.send('p', { type: 'INC' });
      }
      await rt.fork('p', { seq: 3, id: 'f1', update: { mode: 'b' } });
      await rt.send('f1', { type: 'INC' });
      await rt.fork('p', { seq: 7, id: 'f2' });
      const before = { f1: await view(rt, 'f1'), f2: await view(rt, 'f2') };
      expect(before.f1.history.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);

      await rt.delete('p', { forks: 'materialise' });
      await notFound('p');

      const after = { f1: await view(rt, 'f1'), f2: await view(rt, 'f2') };
      // What was there, transition by transition and state by state.
      expect(after.f1.history.map(plain)).toEqual(before.f1.history.map(plain));
      expect(after.f2.history.map(plain)).toEqual(before.f2.history.map(plain));
      expect(after.f1.states.map(bare)).toEqual(before.f1.states.map(bare));
      expect(after.f2.states.map(bare)).toEqual(before.f2.states.map(bare));
      expect(after.f1.diffs).toEqual(before.f1.diffs);
      expect(after.f2.diffs).toEqual(before.f2.diffs);
      expect((await rt.lineage('f1')).ancestors).toEqual([{ id: 'p', seq: 3, deleted: true }]);
      expect((await rt.get('other'))?.status).toBe('waiting');

      // And they go on.
      await rt.send('f1', { type: 'DONE' });
      expect(await rt.wait('f1')).toEqual({ mode: 'b', n: 4 });
      await rt.send('f2', { type: 'INC' });
      await rt.send('f2', { type: 'DONE' });
      expect(await rt.wait('f2')).toEqual({ mode: 'c', n: 7 });
      expect((await rt.history('f1')).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    });

    it("{ forks: 'materialise' } keeps the full history exactly, provenance marks (from, forkPoint) included", async () => {
      await open();
      await counting('p', 4);
      await rt.fork('p', { seq: 2, id: 'f' });
      const before = await view(rt, 'f');
      expect(before.history[2]).toMatchObject({ from: 'p', forkPoint: true });
      await rt.delete('p', { forks: 'materialise' });
      const after = await view(rt, 'f');
      expect(after.history).toEqual(before.history);
      expect(after.states).toEqual(before.states);
    });

    it('a fork of a fork keeps its fork point marks when the root is materialised away, and again when its parent is', async () => {
      await open();
      await counting('p', 4);
      await rt.fork('p', { seq: 3, id: 'f' });
      await rt.fork('f', { seq: 1, id: 'g' });
      const marks = async (): Promise<unknown[]> => (await rt.history('g')).map((e) => [e.seq, e.from ?? null, e.forkPoint ?? false]);
      const before = await marks();
      expect(before.slice(0, 3)).toEqual([
        [0, 'p', false],
        [1, 'p', true],
        [2, null, false],
      ]);
      // f copies p's prefix (marked from p, its fork point at 3); g's fork point is still 1.
      await rt.delete('p', { forks: 'materialise' });
      expect(await marks()).toEqual(before);
      // g copies f's copies: they keep naming p, and the end of what g copied is its fork point.
      await rt.delete('f', { forks: 'materialise' });
      expect(await marks()).toEqual(before);
    });

    it('a fork of a fork whose middle execution is deleted with materialise keeps its full history, even once the root goes too', async () => {
      await open();
      await counting('p', 4);
      await rt.fork('p', { seq: 2, id: 'm' });
      await rt.send('m', { type: 'INC' });
      await rt.send('m', { type: 'INC' });
      await rt.fork('m', { seq: 4, id: 'g' });
      await rt.send('g', { type: 'INC' });
      const before = await view(rt, 'g');
      expect(before.history.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(before.states[6]?.context).toEqual({ n: 4, mode: 'a' });

      await rt.delete('m', { forks: 'materialise' });
      await notFound('m');
      const after = await view(rt, 'g');
      expect(after.history.map(plain)).toEqual(before.history.map(plain));
      expect(after.states.map(bare)).toEqual(before.states.map(bare));
      expect(after.diffs).toEqual(before.diffs);

      // The root no longer has forks: it goes alone, and the grandchild reads nothing from it.
      await rt.delete('p');
      await notFound('p');
      expect((await view(rt, 'g')).history.map(plain)).toEqual(before.history.map(plain));
      expect((await view(rt, 'g')).states.map(bare)).toEqual(before.states.map(bare));
      await rt.send('g', { type: 'DONE' });
      expect(await rt.wait('g')).toEqual({ mode: 'a', n: 4 });
    });
    it('an id freed by deleting an execution with forks (materialise) starts afresh: the new execution has no forks and deletes alone', async () => {
      await open();
      await counting('p', 3);
      await rt.fork('p', { seq: 2, id: 'f' });
      const history = (await rt.history('f')).map(plain);
      await rt.delete('p', { forks: 'materialise' });
      await counting('p', 1);
      expect((await rt.lineage('p')).tree.forks).toEqual([]);
      await rt.delete('p');
      await notFound('p');
      expect((await rt.history('f')).map(plain)).toEqual(history);
    });

    it("a fork's deleted parent stays deleted in its lineage when a new execution takes the id", async () => {
      await open();
      await counting('p', 3);
      await rt.fork('p', { seq: 2, id: 'f' });
      await rt.delete('p', { forks: 'materialise' });
      expect((await rt.lineage('f')).ancestors).toEqual([{ id: 'p', seq: 2, deleted: true }]);
      await counting('p', 5);
      expect((await rt.lineage('f')).ancestors).toEqual([{ id: 'p', seq: 2, deleted: true }]);
    });
  });

  describe('cleanup', () => {
    it('keeps an old finished parent whose fork is live (reported in kept); the fork keeps its history', async () => {
      await open();
      await counting('p', 3);
      await rt.fork('p', { seq: 2, id: 'f' });
      await rt.send('p', { type: 'DONE' });
      await counting('q', 0);
      await rt.send('q', { type: 'DONE' });
      const history = await rt.history('f');
      await clock.advance(20_000);

      expect(await rt.cleanup({ olderThan: 10_000 })).toEqual({ deleted: 1, kept: 1 });
      await notFound('q');
      expect((await rt.get('p'))?.status).toBe('completed');
      expect(await rt.history('f')).toEqual(history);
      expect((await rt.stateAt('f', { seq: 1 })).context).toEqual({ n: 1, mode: 'a' });

      // Again: the same one kept, nothing more deleted.
      expect(await rt.cleanup({ olderThan: 10_000 })).toEqual({ deleted: 0, kept: 1 });
      // Once the fork is finished and old, both go.
      await rt.send('f', { type: 'DONE' });
      await clock.advance(20_000);
      expect(await rt.cleanup({ olderThan: 10_000 })).toEqual({ deleted: 2, kept: 0 });
      for (const id of ['p', 'f']) await notFound(id);
    });

    it('an old finished parent and its old finished forks (of forks, of other statuses) all go in one call', async () => {
      await open();
      await counting('p', 3);
      await rt.fork('p', { seq: 1, id: 'f' });
      await rt.fork('f', { seq: 2, id: 'g' });
      await rt.fork('p', { seq: 3, id: 'h' });
      await rt.send('p', { type: 'DONE' });
      await rt.cancel('f');
      await rt.send('g', { type: 'DONE' });
      await rt.cancel('h');
      await clock.advance(20_000);
      expect(await rt.cleanup({ olderThan: 10_000 })).toEqual({ deleted: 4, kept: 0 });
      for (const id of ['p', 'f', 'g', 'h']) await notFound(id);
      expect((await rt.stats()).total).toBe(0);
    });

    it('with many executions, some with forks: every old finished one without a remaining fork goes, none else, and every remaining history reads', async () => {
      await open();
      const expectedLeft = new Set<string>();
      let expectedDeleted = 0;
      let expectedKept = 0;
      for (let i = 0; i < 30; i++) {
        const id = `e${String(i).padStart(2, '0')}`;
        const finishes = i % 5 !== 4;
        const hasFork = i % 3 === 0;
        const forkLive = hasFork && i % 2 === 0;
        await counting(id, 1);
        if (hasFork) {
          await rt.fork(id, { seq: 1, id: `${id}-f` });
          if (forkLive) expectedLeft.add(`${id}-f`);
          else {
            await rt.send(`${id}-f`, { type: 'DONE' });
            expectedDeleted++;
          }
        }
        if (!finishes) {
          expectedLeft.add(id);
          continue;
        }
        await rt.send(id, { type: 'DONE' });
        if (forkLive) {
          expectedLeft.add(id);
          expectedKept++;
        } else expectedDeleted++;
      }
      expect(expectedKept).toBeGreaterThan(2);
      await clock.advance(30_000);
      // Finished after the cut-off: stays.
      await counting('young', 0);
      await rt.send('young', { type: 'DONE' });
      expectedLeft.add('young');

      expect(await rt.cleanup({ olderThan: 20_000 })).toEqual({ deleted: expectedDeleted, kept: expectedKept });
      const left = (await rt.list({ limit: 100 })).items.map((s) => s.id);
      expect(new Set(left)).toEqual(expectedLeft);
      for (const id of left) {
        const history = await rt.history(id);
        expect(history.map((e) => e.seq), id).toEqual(Array.from({ length: history.length }, (_, k) => k));
        expect(history.at(-1)?.seq, id).toBe((await rt.get(id))?.seq);
      }
    });
  });

  describe('rewind', () => {
    it('the execution continues from seq; the branch holds what followed (cancelled, as it was active)', async () => {
      await open();
      await counting('p', 3);
      await rt.send('p', { type: 'MODE', mode: 'z' });
      for (let i = 0; i < 4; i++) {
        await clock.advance(1_000);
        await rt.send('p', { type: 'INC' });
      }
      const before = await view(rt, 'p');
      expect(before.history.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      const followed = await rt.diff('p', 3, 8);
      expect(followed.length).toBeGreaterThan(0);
      await clock.advance(500);

      const { branch, seq } = await rt.rewind('p', { seq: 3 });
      expect(seq).toBe(4);
      expect(branch).not.toBe('p');

      // The execution: as at 3, then the rewind.
      const info = await rt.get('p');
      expect(info?.context).toEqual(before.states[3]?.context);
      expect(info).toMatchObject({ status: 'waiting', seq: 4, value: 'counting' });
      const history = await rt.history('p');
      expect(history.slice(0, 4)).toEqual(before.history.slice(0, 4));
      expect(history.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
      expect(history[4]).toMatchObject({ seq: 4, event: { type: 'durastate.rewind' }, status: 'waiting', value: 'counting' });
      expect((await rt.stateAt('p', { seq: 4 })).snapshot).toEqual(before.states[3]?.snapshot);

      // The branch: the shared part through 'p', then exactly what followed.
      const branchHistory = await rt.history(branch);
      expect(branchHistory.slice(0, 4)).toEqual(before.history.slice(0, 4).map((e, i) => ({ ...e, from: 'p', ...(i === 3 ? { forkPoint: true } : {}) })));
      expect(branchHistory.slice(4)).toEqual(before.history.slice(4));
      for (let s = 0; s <= 8; s++) expect(bare(await rt.stateAt(branch, { seq: s })), `seq ${s}`).toEqual(bare(before.states[s]!));
      expect((await rt.stateAt(branch, { seq: 8 })).snapshot).toEqual(before.states[8]?.snapshot);
      expect(await rt.diff(branch, 3, 8)).toEqual(followed);
      expect(await rt.diff({ id: 'p', seq: 4 }, { id: branch, seq: 3 })).toEqual([]);
      const b = await rt.get(branch);
      expect(b).toMatchObject({ status: 'cancelled', seq: 8, parent: { id: 'p', seq: 3 }, context: { n: 7, mode: 'z' } });
      await expect(rt.wait(branch)).rejects.toMatchObject({ code: 'EXECUTION_CANCELLED' });
      expect((await rt.lineage('p')).tree.forks).toMatchObject([{ id: branch, status: 'cancelled', parent: { id: 'p', seq: 3 } }]);
      expect((await rt.list({ status: 'cancelled' })).items.map((s) => s.id)).toEqual([branch]);

      // The execution goes on from there.
      expect((await rt.send('p', { type: 'INC' })).seq).toBe(5);
      expect((await rt.get('p'))?.context).toEqual({ n: 4, mode: 'a' });
      await rt.send('p', { type: 'DONE' });
      expect(await rt.wait('p')).toEqual({ mode: 'a', n: 4 });
      // The branch did not move.
      expect(await rt.history(branch)).toEqual(branchHistory);
    });

    it('a completed execution: the branch keeps completed and its output; the execution runs again and completes a different way', async () => {
      await open();
      await counting('p', 3);
      await rt.send('p', { type: 'DONE' });
      expect(await rt.wait('p')).toEqual({ mode: 'a', n: 3 });
      const old = await view(rt, 'p');

      const { branch } = await rt.rewind('p', { seq: 2 });
      const info = await rt.get('p');
      expect(info).toMatchObject({ status: 'waiting', value: 'counting', seq: 3, context: { n: 2, mode: 'a' } });
      expect(info?.output).toBeUndefined();
      expect(info?.accepts).toContain('DONE');
      expect(await rt.get(branch)).toMatchObject({ status: 'completed', output: { mode: 'a', n: 3 }, value: 'pathA' });
      expect(await rt.wait(branch)).toEqual({ mode: 'a', n: 3 });
      expect(bare(await rt.stateAt(branch, { seq: 4 }))).toEqual(bare(old.states[4]!));

      await rt.send('p', { type: 'MODE', mode: 'b' });
      await rt.send('p', { type: 'DONE' });
      expect(await rt.wait('p')).toEqual({ mode: 'b', n: 2 });
      expect(await rt.get('p')).toMatchObject({ status: 'completed', value: 'pathB', output: { mode: 'b', n: 2 } });
      expect((await rt.history('p')).map((e) => (e.event as { type: string }).type)).toEqual(['xstate.init', 'INC', 'INC', 'durastate.rewind', 'MODE', 'DONE']);
      expect((await rt.get(branch))?.output).toEqual({ mode: 'a', n: 3 });
      expect((await rt.list({ status: 'completed' })).items.map((s) => s.id).sort()).toEqual([branch, 'p'].sort());
    });

    it('a cancelled execution rewound to before its cancel runs again without the reason; its branch keeps it', async () => {
      await open();
      await counting('p', 2);
      await rt.cancel('p', 'wrong input');
      expect((await rt.get('p'))?.cancelReason).toBe('wrong input');
      const { branch } = await rt.rewind('p', { seq: 1 });
      const info = await rt.get('p');
      expect(info).toMatchObject({ status: 'waiting', value: 'counting' });
      expect(info?.cancelReason).toBeUndefined();
      expect(await rt.get(branch)).toMatchObject({ status: 'cancelled', cancelReason: 'wrong input' });
      await rt.send('p', { type: 'INC' });
      expect((await rt.get('p'))?.cancelReason).toBeUndefined();
    });

    it('timers pending at seq are re-armed with the time they had left; those pending later are gone', async () => {
      await open();
      await rt.start('counter', { id: 'p' }); // counting: times out at T0 + 60 s
      await clock.advance(1_000);
      await rt.send('p', { type: 'INC' });
      await clock.advance(1_000);
      await rt.send('p', { type: 'INC' }); // seq 2 at T0 + 2 s: 58 s left
      await clock.advance(1_000);
      await rt.send('p', { type: 'SHORT' }); // seq 3: shortOut at T0 + 8 s
      expect((await rt.get('p'))?.timers.map((t) => t.dueAt.getTime())).toEqual([T0 + 8_000]);
      await clock.advance(2_000); // T0 + 5 s

      const { branch } = await rt.rewind('p', { seq: 2 });
      const rearmed = T0 + 5_000 + 58_000;
      expect((await rt.get('p'))?.timers).toEqual([{ id: expect.any(String), event: expect.anything(), dueAt: new Date(rearmed) }]);
      expect((await rt.stateAt('p', { seq: 3 })).timers.map((t) => t.dueAt.getTime())).toEqual([rearmed]);
      // The branch keeps the timer it had pending then, as history, not as a live timer.
      expect((await rt.stateAt(branch, { seq: 3 })).timers.map((t) => t.dueAt.getTime())).toEqual([T0 + 8_000]);
      expect((await rt.get(branch))?.timers).toEqual([]);

      // The short timeout (T0 + 8 s) no longer fires, for either of them.
      await clock.advance(10_000);
      expect(await rt.get('p')).toMatchObject({ status: 'waiting', value: 'counting', seq: 3 });
      expect((await rt.get(branch))?.status).toBe('cancelled');
      await clock.advanceTo(rearmed - 1);
      expect((await rt.get('p'))?.status).toBe('waiting');
      await clock.advanceTo(rearmed);
      await until(async () => (await rt.get('p'))?.status === 'completed', 'the re-armed timeout');
      expect(await rt.get('p')).toMatchObject({ value: 'timedOut', output: { mode: 'a', n: 2 } });
      expect((await rt.history('p', { from: 4 }))[0]?.at).toEqual(new Date(rearmed));
    });

    it('a durable effect in flight at seq runs again with a new key; records of effects invoked after it move to the branch', async () => {
      await open();
      await rt.start('jobs', { id: 'j' });
      await rt.send('j', { type: 'GO' }); // seq 1: invokes job (key j/job@1)
      await until(() => calls.length === 1, 'the first job');
      const first = calls[0]!.key;
      finishers.get(first)!('one');
      await until(async () => (await rt.get('j'))?.seq === 2, 'the first result');
      await rt.send('j', { type: 'GO' }); // seq 3: the second job
      await until(() => calls.length === 2, 'the second job');
      const second = calls[1]!.key;
      finishers.get(second)!('two');
      await until(async () => (await rt.get('j'))?.seq === 4, 'the second result');
      expect((await rt.get('j'))?.context).toEqual({ results: ['one', 'two'] });
      expect((await rt.stateAt('j', { seq: 1 })).effects).toEqual([{ child: expect.any(String), key: first, seq: 1 }]);

      const { branch } = await rt.rewind('j', { seq: 1 });
      await until(() => calls.length === 3, 'the job to run again');
      const rerun = calls[2]!;
      expect(rerun.n).toBe(0);
      expect(rerun.key).not.toBe(first);
      expect(rerun.key.startsWith('j/')).toBe(true);
      expect((await rt.get('j'))?.effects.map((e) => e.key)).toContain(rerun.key);
      // The second job's record belongs to what followed: it moved to the branch.
      expect((await rt.get(branch))?.effects).toContainEqual({ key: second, status: 'done', attempts: 1, output: 'two' });
      expect((await rt.get('j'))?.effects.filter((e) => e.output === 'two')).toEqual([]);

      finishers.get(rerun.key)!('one again');
      await until(async () => (await rt.get('j'))?.context !== null && ((await rt.get('j'))?.context as { results: string[] }).results.length === 1, 'the rerun result');
      expect(await rt.get('j')).toMatchObject({ value: 'idle', context: { results: ['one again'] } });
      expect((await rt.get(branch))?.context).toEqual({ results: ['one', 'two'] });
      expect(calls).toHaveLength(3);
    });

    it('the key of an effect run again after a rewind is one no earlier invocation of the execution had', async () => {
      await open();
      await rt.start('jobs', { id: 'j' });
      await rt.send('j', { type: 'GO' });
      await until(() => calls.length === 1, 'the first job');
      finishers.get(calls[0]!.key)!('one');
      await until(async () => (await rt.get('j'))?.seq === 2, 'the first result');
      await rt.send('j', { type: 'GO' });
      await until(() => calls.length === 2, 'the second job');
      finishers.get(calls[1]!.key)!('two');
      await until(async () => (await rt.get('j'))?.seq === 4, 'the second result');
      const used = calls.map((c) => c.key);

      await rt.rewind('j', { seq: 1 });
      await until(() => calls.length === 3, 'the job to run again');
      // An idempotency key names one invocation: a service that saw `used` must not take the
      // rerun (a different invocation, of the rewound history) for one of them.
      expect(used).not.toContain(calls[2]!.key);
      finishers.get(calls[2]!.key)!('again');
    });

    it('a send key applied after seq can be applied again after the rewind; one applied before cannot', async () => {
      await open();
      await rt.start('counter', { id: 'p' });
      expect(await rt.send('p', { type: 'INC' }, { key: 'k1' })).toEqual({ seq: 1, duplicate: false });
      expect(await rt.send('p', { type: 'INC' }, { key: 'k2' })).toEqual({ seq: 2, duplicate: false });
      expect(await rt.send('p', { type: 'INC' }, { key: 'k3' })).toEqual({ seq: 3, duplicate: false });
      expect(await rt.send('p', { type: 'INC' }, { key: 'k2' })).toEqual({ seq: 2, duplicate: true });

      const { branch } = await rt.rewind('p', { seq: 1 }); // seq 2 is the rewind
      expect(await rt.send('p', { type: 'INC' }, { key: 'k1' })).toEqual({ seq: 1, duplicate: true });
      expect(await rt.send('p', { type: 'INC' }, { key: 'k2' })).toEqual({ seq: 3, duplicate: false });
      expect(await rt.send('p', { type: 'INC' }, { key: 'k2' })).toEqual({ seq: 3, duplicate: true });
      expect(await rt.send('p', { type: 'INC' }, { key: 'k3' })).toEqual({ seq: 4, duplicate: false });
      expect((await rt.get('p'))?.context).toEqual({ n: 3, mode: 'a' });
      // The branch keeps the keys of its history.
      expect(await store.sendKeySeq(branch, 'k2')).toBe(2);
      expect(await store.sendKeySeq(branch, 'k3')).toBe(3);
      expect(await store.sendKeySeq(branch, 'k1')).toBeUndefined();
    });

    it('forks made after the rewind point keep their full history exactly (materialised); forks at or before it are untouched', async () => {
      await open();
      await counting('p', 8);
      await rt.fork('p', { seq: 2, id: 'early' });
      await rt.fork('p', { seq: 4, id: 'at' });
      await rt.fork('p', { seq: 6, id: 'late', update: { mode: 'b' } });
      await rt.fork('p', { seq: 8, id: 'last' });
      await rt.send('late', { type: 'INC' });
      const ids = ['early', 'at', 'late', 'last'];
      const before = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await view(rt, id)] as const)));

      await rt.rewind('p', { seq: 4 });
      // The execution moves on differently; none of the forks follows.
      await rt.send('p', { type: 'MODE', mode: 'x' });
      await rt.send('p', { type: 'INC' });
      for (const id of ids) {
        const after = await view(rt, id);
        expect(after.history.map(plain), id).toEqual(before[id]!.history.map(plain));
        expect(after.states.map(bare), id).toEqual(before[id]!.states.map(bare));
        expect(after.diffs, id).toEqual(before[id]!.diffs);
      }
      // Those at or before the point still read their shared part from 'p', marks and all.
      expect(await view(rt, 'early')).toEqual(before.early);
      expect(await view(rt, 'at')).toEqual(before.at);
      expect((await rt.history('at'))[4]).toMatchObject({ from: 'p', forkPoint: true });

      await rt.send('late', { type: 'DONE' });
      expect(await rt.wait('late')).toEqual({ mode: 'b', n: 7 });
    });

    it('a second rewind to an earlier point leaves the first branch its history', async () => {
      await open();
      await counting('p', 6);
      const { branch: first } = await rt.rewind('p', { seq: 4 });
      const before = await view(rt, first);
      await rt.send('p', { type: 'INC' });
      const { branch: second } = await rt.rewind('p', { seq: 2 });
      const after = await view(rt, first);
      expect(after.history.map(plain)).toEqual(before.history.map(plain));
      expect(after.states.map(bare)).toEqual(before.states.map(bare));
      expect(after.diffs).toEqual(before.diffs);
      expect((await rt.history(second)).map((e) => (e.event as { type: string }).type)).toEqual([
        'xstate.init',
        'INC',
        'INC',
        'INC',
        'INC',
        'durastate.rewind',
        'INC',
      ]);
      expect((await rt.get(second))?.context).toEqual({ n: 5, mode: 'a' });
      expect((await rt.get('p'))?.context).toEqual({ n: 2, mode: 'a' });
      expect((await rt.lineage('p')).tree.forks.map((f) => f.id).sort()).toEqual([first, second].sort());
    });

    it('forks made after the rewind point keep their provenance marks too (history exactly as before)', async () => {
      await open();
      await counting('p', 5);
      await rt.fork('p', { seq: 4, id: 'late' });
      const before = await rt.history('late');
      expect(before[4]).toMatchObject({ from: 'p', forkPoint: true });
      await rt.rewind('p', { seq: 2 });
      expect(await rt.history('late')).toEqual(before);
    });

    it('a fork can be rewound to its fork point, not before it', async () => {
      await open();
      await counting('p', 4);
      await rt.fork('p', { seq: 3, id: 'f', update: { mode: 'b' } });
      await rt.send('f', { type: 'INC' });
      const before = await view(rt, 'f');
      await expect(rt.rewind('f', { seq: 2 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await view(rt, 'f')).toEqual(before);

      const { branch } = await rt.rewind('f', { seq: 3 });
      // Back to the parent's state at 3, without the fork's update.
      expect((await rt.get('f'))?.context).toEqual({ n: 3, mode: 'a' });
      expect((await rt.history('f')).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
      expect((await rt.history(branch)).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
      expect((await rt.stateAt(branch, { seq: 5 })).context).toEqual({ n: 4, mode: 'b' });
      expect((await rt.stateAt(branch, { seq: 1 })).from).toBe('p');
      await rt.send('f', { type: 'DONE' });
      expect(await rt.wait('f')).toEqual({ mode: 'a', n: 3 });
    });

    it('an invalid seq (the current one or later, negative, not an integer) or an unknown id is refused and changes nothing', async () => {
      await open();
      await counting('p', 4);
      await rt.fork('p', { seq: 2, id: 'f' });
      await rt.send('f', { type: 'INC' });
      const snapshot = async () => ({ p: await view(rt, 'p'), f: await view(rt, 'f'), pInfo: await rt.get('p'), fInfo: await rt.get('f'), stats: await rt.stats() });
      const before = await snapshot();
      for (const seq of [4, 5, 100, -1, 1.5, Number.NaN]) {
        await expect(rt.rewind('p', { seq }), String(seq)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
      await expect(rt.rewind('f', { seq: 4 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(rt.rewind('p', {} as { seq: number })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(rt.rewind('ghost', { seq: 0 })).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND' });
      expect(await snapshot()).toEqual(before);
      expect((await rt.list({ limit: 100 })).items.map((s) => s.id).sort()).toEqual(['f', 'p']);
    });

    it("a seq before a fork's fork point is INVALID_ARGUMENT and changes nothing, the fork still hosted here", async () => {
      await open();
      await counting('p', 4);
      await rt.fork('p', { seq: 2, id: 'f' });
      await rt.send('f', { type: 'INC' });
      const snapshot = async () => ({ p: await view(rt, 'p'), f: await view(rt, 'f'), pInfo: await rt.get('p'), fInfo: await rt.get('f'), stats: await rt.stats() });
      const before = await snapshot();
      for (const seq of [0, 1]) {
        await expect(rt.rewind('f', { seq }), `fork ${seq}`).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
      const after = await snapshot();
      // The store side first (what was written), then what runs.
      expect({ ...after, stats: undefined }).toEqual({ ...before, stats: undefined });
      expect((await rt.list({ limit: 100 })).items.map((s) => s.id).sort()).toEqual(['f', 'p']);
      expect(after.stats, 'still hosted here after the refused rewind').toEqual(before.stats);
    });

    it('after a refused rewind the execution still runs here: its timer fires', async () => {
      await open();
      await counting('p', 2);
      await rt.fork('p', { seq: 2, id: 'f' });
      await rt.send('f', { type: 'INC' });
      await expect(rt.rewind('f', { seq: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await clock.advance(61_000);
      // A bail-out: when the timer is lost this waits its full time, and the assertion below says so.
      await until(async () => (await rt.get('f'))?.status !== 'waiting' && (await rt.get('p'))?.status !== 'waiting', 'both to time out', 1_000).catch(() => undefined);
      expect((await rt.get('p'))?.value).toBe('timedOut');
      expect((await rt.get('f'))?.value, 'the fork timed out as it would have without the refused rewind').toBe('timedOut');
    });

    it('of an unknown id is EXECUTION_NOT_FOUND; to an existing branch id is refused', async () => {
      await open();
      await counting('p', 3);
      await expect(rt.rewind('nope', { seq: 1 })).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND' });
      const before = await view(rt, 'p');
      await counting('taken', 0);
      await expect(rt.rewind('p', { seq: 1, branchId: 'taken' })).rejects.toMatchObject({ code: 'EXECUTION_EXISTS' });
      expect(await view(rt, 'p')).toEqual(before);
      const { branch } = await rt.rewind('p', { seq: 1, branchId: 'mine' });
      expect(branch).toBe('mine');
      expect((await rt.get('mine'))?.parent).toEqual({ id: 'p', seq: 1 });
      expect((await rt.stats()).total).toBe(3);
    });

    it.runIf(config.persistent)('after a rewind, a runtime reopened on the same path recovers the execution and it continues', async () => {
      await open();
      await counting('p', 4);
      await clock.advance(1_000);
      const { branch } = await rt.rewind('p', { seq: 2 }); // 58 s left at seq 2 → due T0 + 5 s + 58 s
      const history = await rt.history('p');
      const branchHistory = await rt.history(branch);
      await rt.close();

      await open();
      expect(await rt.history('p')).toEqual(history);
      expect(await rt.history(branch)).toEqual(branchHistory);
      expect(await rt.get('p')).toMatchObject({ status: 'waiting', seq: 3, context: { n: 2, mode: 'a' } });
      expect((await rt.get('p'))?.timers.map((t) => t.dueAt.getTime())).toEqual([T0 + 63_000]);
      expect((await rt.get('p'))?.owner).toBe(rt.ownerId);
      expect((await rt.send('p', { type: 'INC' })).seq).toBe(4);
      expect((await rt.get('p'))?.context).toEqual({ n: 3, mode: 'a' });
      await clock.advanceTo(T0 + 63_000);
      await until(async () => (await rt.get('p'))?.status === 'completed', 'the recovered timer');
      expect(await rt.wait('p')).toEqual({ mode: 'a', n: 3 });
      expect((await rt.get(branch))?.status).toBe('cancelled');
    });
  });
});
