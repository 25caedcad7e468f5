/**
 * Timeline (issue 5): history, stateAt, diff and fork, on every store configuration (LMDB in a
 * temporary folder, LMDB with compression, memory), with a simulated clock.
 *
 * - history: paging by seq (from / to / limit / reverse) of a plain execution and of forks,
 *   whose history goes on through their ancestors (`from`, `forkPoint`, the fork's own
 *   `durastate.fork` entry), also across the parent/fork boundaries;
 * - stateAt: by seq and by time, what it reports (snapshot, context, value, status, event,
 *   timers with their due times then, effects in flight then), and its refusals;
 * - diff: the patch between two points (of one execution, or of a fork and its ancestors)
 *   turns the first point's snapshot into the second's;
 * - fork: edited context (object and function update) takes another path while the parent is
 *   untouched; forks of forks; effects in flight at the fork point (rerun with the fork's own
 *   key, or `effects: 'reuse'` of the parent's recorded result); timers pending at the fork
 *   point re-armed with the time they had left; invalid updates and existing ids refused with
 *   nothing written; `start: false`; a fork across a runtime restart.
 *
 * Every time asserted is the simulated clock's. Effects are gated: their code waits until the
 * test settles it, so a fork point really has an effect in flight.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import {
  createRuntime,
  ExecutionExistsError,
  InvalidUpdateError,
  simulatedClock,
  type ForkOptions,
  type ForkSnapshot,
  type HistoryEntry,
  type Json,
  type Runtime,
  type SimulatedClock,
  type StateAt,
} from '../src/index.js';
import { applyOps } from '../src/internal.js';
import { committed } from './fixtures/timerSettle.js';
import { counterMachine, fxMachine, Gate, T0, timedMachine } from './fixtures/timelineMachines.js';
import { storeConfigs, tempDir, type StoreConfig } from './helpers.js';

const sec = (seconds: number): number => T0 + seconds * 1000;
const COUNTER_TIMER = { type: 'xstate.after.60000.tl-counter.counting' };
const TIMED_A = { type: 'xstate.after.5000.tl-timed.a' };
const TIMED_B = { type: 'xstate.after.3000.tl-timed.b' };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Env {
  rt: Runtime;
  clock: SimulatedClock;
  path: string;
}

function newPath(): string {
  const dir = tempDir('durastate-timeline-');
  cleanups.push(dir.remove);
  return dir.path;
}

async function open(config: StoreConfig, machines: AnyStateMachine[], options: { path?: string; at?: number; keyframeEvery?: number } = {}): Promise<Env> {
  const path = options.path ?? newPath();
  const clock = simulatedClock(options.at ?? T0);
  const rt = await createRuntime({ store: config.make(path), machines, clock, ...(options.keyframeEvery ? { keyframeEvery: options.keyframeEvery } : {}) });
  cleanups.push(() => rt.close());
  return { rt, clock, path };
}

/** Starts counter `id` now and sends `incs` INCs one second apart: transition i at now + i s. */
async function countTo({ rt, clock }: Env, id: string, incs: number): Promise<void> {
  await rt.start('tl-counter', { id });
  for (let i = 0; i < incs; i++) {
    await clock.advance(1000);
    await rt.send(id, { type: 'INC' });
  }
}

const seqs = (h: HistoryEntry[]): number[] => h.map((e) => e.seq);
const typeOf = (event: Json): string => (event as { type: string }).type;
const types = (h: HistoryEntry[]): string[] => h.map((e) => typeOf(e.event));
const froms = (h: HistoryEntry[]): Array<string | undefined> => h.map((e) => e.from);
const forkPoints = (h: HistoryEntry[]): number[] => h.filter((e) => e.forkPoint).map((e) => e.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** What must not change when an operation is refused: the executions listed, and each one's row and history. */
async function picture(rt: Runtime, ids: string[]): Promise<unknown> {
  const list = (await rt.list({ limit: 1000 })).items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const each: Record<string, unknown> = {};
  for (const id of ids) each[id] = { get: await rt.get(id), history: await rt.history(id), lineage: await rt.lineage(id) };
  return { list, each };
}

/** Every stateAt of an execution, seq 0 to its last. */
async function allStates(rt: Runtime, id: string): Promise<StateAt[]> {
  const last = (await rt.get(id))?.seq ?? -1;
  const out: StateAt[] = [];
  for (let seq = 0; seq <= last; seq++) out.push(await rt.stateAt(id, { seq }));
  return out;
}

/** Lets work started after a commit (an effect's code) have its chance to run. */
async function settle(rt: Runtime): Promise<void> {
  await committed(rt);
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 2));
  await committed(rt);
}

/** The execution's output once it is done: `rt.wait`, bounded so that a fork that never finishes fails the test quickly. */
async function finished(rt: Runtime, id: string, ms = 5000): Promise<Json | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`"${id}" did not finish within ${ms} ms (real time)`)), ms);
  });
  try {
    return await Promise.race([rt.wait(id), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

describe.each(storeConfigs)('timeline on $name', (config) => {
  describe('history', () => {
    it('a plain execution: every transition in order, paged by from / to / limit / reverse', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 10);
      await clock.advance(1000);
      await rt.send('p', { type: 'DONE' });
      const all = await rt.history('p');
      expect(seqs(all)).toEqual(range(0, 11));
      expect(types(all)).toEqual(['xstate.init', ...Array<string>(10).fill('INC'), 'DONE']);
      expect(all.map((e) => e.at.getTime())).toEqual(range(0, 11).map(sec));
      expect(all.slice(0, 11).every((e) => e.value === 'counting' && e.status === 'waiting')).toBe(true);
      expect(all[11]).toMatchObject({ seq: 11, value: 'pathA', status: 'completed' });
      expect(all.some((e) => 'from' in e || 'forkPoint' in e)).toBe(false);

      const page = async (o: Parameters<Runtime['history']>[1]): Promise<number[]> => seqs(await rt.history('p', o));
      expect(await page({ limit: 3 })).toEqual([0, 1, 2]);
      expect(await page({ from: 3, limit: 3 })).toEqual([3, 4, 5]);
      expect(await page({ from: 9 })).toEqual([9, 10, 11]);
      expect(await page({ to: 2 })).toEqual([0, 1, 2]);
      expect(await page({ from: 4, to: 6 })).toEqual([4, 5, 6]);
      expect(await page({ to: 100 })).toEqual(range(0, 11));
      expect(await page({ from: 6, to: 4 })).toEqual([]);
      expect(await page({ from: 12 })).toEqual([]);
      expect(await page({ reverse: true })).toEqual(range(0, 11).reverse());
      expect(await page({ reverse: true, limit: 3 })).toEqual([11, 10, 9]);
      expect(await page({ reverse: true, to: 5, limit: 2 })).toEqual([5, 4]);
      expect(await page({ reverse: true, from: 8 })).toEqual([11, 10, 9, 8]);
      expect(await page({ reverse: true, from: 2, to: 4 })).toEqual([4, 3, 2]);

      // Paging through with a cursor on seq gives every entry once, both ways.
      const forward: HistoryEntry[] = [];
      for (let from = 0; ; ) {
        const chunk = await rt.history('p', { from, limit: 5 });
        if (chunk.length === 0) break;
        forward.push(...chunk);
        from = (chunk.at(-1) as HistoryEntry).seq + 1;
      }
      expect(forward).toEqual(all);
      const backward: HistoryEntry[] = [];
      for (let to = 11; to >= 0; ) {
        const chunk = await rt.history('p', { to, limit: 5, reverse: true });
        backward.push(...chunk);
        to = (chunk.at(-1) as HistoryEntry).seq - 1;
      }
      expect(backward).toEqual([...all].reverse());
    });

    it("a fork's history goes through its parent up to the fork point, then is its own; pages cross the boundary exactly", async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 10);
      const parentHistory = await rt.history('p');
      await clock.advance(10_000); // sec 20
      expect(await rt.fork('p', { seq: 5, id: 'f', update: { mode: 'b' } })).toEqual({ id: 'f', parent: { id: 'p', seq: 5 } });
      for (let i = 0; i < 3; i++) {
        await clock.advance(1000);
        await rt.send('f', { type: 'INC' });
      }
      const all = await rt.history('f');
      expect(seqs(all)).toEqual(range(0, 9));
      // 0–5 are the parent's, as the parent has them, marked with where they come from.
      for (let seq = 0; seq <= 5; seq++) {
        expect(all[seq]).toEqual({ ...parentHistory[seq], from: 'p', ...(seq === 5 ? { forkPoint: true } : {}) });
      }
      expect(forkPoints(all)).toEqual([5]);
      expect(froms(all)).toEqual(['p', 'p', 'p', 'p', 'p', 'p', undefined, undefined, undefined, undefined]);
      // 6 is the fork's own first transition, at the time it was forked; then its own INCs.
      expect(all[6]).toMatchObject({ seq: 6, event: { type: 'durastate.fork' }, value: 'counting', status: 'waiting' });
      expect(all[6]?.at.getTime()).toBe(sec(20));
      expect(types(all.slice(7))).toEqual(['INC', 'INC', 'INC']);
      expect(all.slice(7).map((e) => e.at.getTime())).toEqual([sec(21), sec(22), sec(23)]);
      // The parent's own transitions after the fork point are not the fork's.
      expect(all.slice(6).some((e) => e.from === 'p')).toBe(false);
      // The parent's history is untouched.
      expect(await rt.history('p')).toEqual(parentHistory);

      const page = async (o: Parameters<Runtime['history']>[1]): Promise<HistoryEntry[]> => rt.history('f', o);
      expect(seqs(await page({ limit: 4 }))).toEqual([0, 1, 2, 3]);
      const across = await page({ from: 4, limit: 4 });
      expect(seqs(across)).toEqual([4, 5, 6, 7]);
      expect(froms(across)).toEqual(['p', 'p', undefined, undefined]);
      expect(forkPoints(across)).toEqual([5]);
      expect(seqs(await page({ from: 5, to: 6 }))).toEqual([5, 6]);
      expect(seqs(await page({ from: 6 }))).toEqual([6, 7, 8, 9]);
      expect(seqs(await page({ to: 5 }))).toEqual([0, 1, 2, 3, 4, 5]);
      expect(seqs(await page({ from: 3, to: 8, limit: 10 }))).toEqual([3, 4, 5, 6, 7, 8]);
      expect(seqs(await page({ from: 5, limit: 1 }))).toEqual([5]);
      expect(seqs(await page({ from: 6, limit: 1 }))).toEqual([6]);
      // `to` past the fork's end is clipped to its own last seq, not the parent's.
      const clipped = await page({ from: 8, to: 10 });
      expect(seqs(clipped)).toEqual([8, 9]);
      expect(froms(clipped)).toEqual([undefined, undefined]);
      expect(seqs(await page({ reverse: true }))).toEqual(range(0, 9).reverse());
      expect(seqs(await page({ reverse: true, limit: 5 }))).toEqual([9, 8, 7, 6, 5]);
      expect(seqs(await page({ reverse: true, from: 2, to: 7, limit: 4 }))).toEqual([7, 6, 5, 4]);
      expect(seqs(await page({ reverse: true, to: 6, limit: 3 }))).toEqual([6, 5, 4]);
      expect(seqs(await page({ reverse: true, to: 5, limit: 2 }))).toEqual([5, 4]);
      expect(seqs(await page({ reverse: true, from: 6, limit: 10 }))).toEqual([9, 8, 7, 6]);
      expect(seqs(await page({ reverse: true, from: 5, to: 6 }))).toEqual([6, 5]);
      expect(await page({ reverse: true })).toEqual([...all].reverse());

      const forward: HistoryEntry[] = [];
      for (let from = 0; ; ) {
        const chunk = await page({ from, limit: 4 });
        if (chunk.length === 0) break;
        forward.push(...chunk);
        from = (chunk.at(-1) as HistoryEntry).seq + 1;
      }
      expect(forward).toEqual(all);
      const backward: HistoryEntry[] = [];
      for (let to = 9; to >= 0; ) {
        const chunk = await page({ to, limit: 4, reverse: true });
        expect(chunk.length).toBeGreaterThan(0);
        backward.push(...chunk);
        to = (chunk.at(-1) as HistoryEntry).seq - 1;
      }
      expect(backward).toEqual([...all].reverse());
    });

    it('a fork of a fork: history goes through both ancestors; it and its ancestors complete their own ways', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 10); // p: 0–10, n = 10
      await clock.advance(10_000);
      await rt.fork('p', { seq: 5, id: 'f' }); // f: 6 = fork, n = 5
      for (let i = 0; i < 3; i++) {
        await clock.advance(1000);
        await rt.send('f', { type: 'INC' }); // f: 7, 8, 9; n = 8
      }
      const fHistory = await rt.history('f');
      await clock.advance(5000);
      expect(await rt.fork('f', { seq: 8, id: 'g', update: { mode: 'b' } })).toEqual({ id: 'g', parent: { id: 'f', seq: 8 } });
      await clock.advance(1000);
      await rt.send('g', { type: 'INC' }); // g: 9 = fork, 10 = INC; n = 8

      const all = await rt.history('g');
      expect(seqs(all)).toEqual(range(0, 10));
      expect(froms(all)).toEqual(['p', 'p', 'p', 'p', 'p', 'p', 'f', 'f', 'f', undefined, undefined]);
      expect(types(all)).toEqual(['xstate.init', 'INC', 'INC', 'INC', 'INC', 'INC', 'durastate.fork', 'INC', 'INC', 'durastate.fork', 'INC']);
      expect(all[8]?.forkPoint).toBe(true);
      expect(forkPoints(all)).toEqual([5, 8]);
      // The middle part is f's own history as f has it.
      for (let seq = 6; seq <= 8; seq++) expect(all[seq]).toEqual({ ...fHistory[seq], from: 'f', ...(seq === 8 ? { forkPoint: true } : {}) });
      expect(seqs(await rt.history('g', { from: 4, limit: 6 }))).toEqual([4, 5, 6, 7, 8, 9]);
      expect(froms(await rt.history('g', { from: 4, limit: 6 }))).toEqual(['p', 'p', 'f', 'f', 'f', undefined]);
      expect(seqs(await rt.history('g', { reverse: true, from: 3, to: 9, limit: 5 }))).toEqual([9, 8, 7, 6, 5]);
      expect(seqs(await rt.history('g', { reverse: true, to: 6, limit: 3 }))).toEqual([6, 5, 4]);
      expect(froms(await rt.history('g', { reverse: true, to: 6, limit: 3 }))).toEqual(['f', 'p', 'p']);
      expect((await rt.stateAt('g', { seq: 7 })).from).toBe('f');
      expect((await rt.stateAt('g', { seq: 7 })).context).toEqual({ n: 6, mode: 'a' });
      expect((await rt.stateAt('g', { seq: 3 })).from).toBe('p');
      expect((await rt.stateAt('g', { seq: 9 })).context).toEqual({ n: 7, mode: 'b' });

      const lineage = await rt.lineage('g');
      expect(lineage.ancestors.map((a) => [a.id, a.seq])).toEqual([
        ['p', 5],
        ['f', 8],
      ]);
      const tree = (await rt.lineage('p')).tree;
      expect(tree.forks.map((n) => n.id)).toEqual(['f']);
      expect(tree.forks[0]?.forks.map((n) => n.id)).toEqual(['g']);
      expect(tree.forks[0]?.forks[0]?.parent).toEqual({ id: 'f', seq: 8 });

      await rt.send('g', { type: 'DONE' });
      expect(await finished(rt, 'g')).toEqual({ mode: 'b', n: 8 });
      expect((await rt.get('g'))?.value).toBe('pathB');
      await rt.send('f', { type: 'DONE' });
      expect(await finished(rt, 'f')).toEqual({ mode: 'a', n: 8 });
      expect((await rt.get('f'))?.value).toBe('pathA');
      await rt.send('p', { type: 'DONE' });
      expect(await finished(rt, 'p')).toEqual({ mode: 'a', n: 10 });
      // g's history still goes through what f and p had at the fork points, not what they did after.
      expect(seqs(await rt.history('g'))).toEqual(range(0, 11));
      expect((await rt.history('g', { from: 0, to: 10 })).map(({ at, ...e }) => e)).toEqual(all.map(({ at, ...e }) => e));
    });

    it('an unknown execution is EXECUTION_NOT_FOUND', async () => {
      const { rt } = await open(config, [counterMachine]);
      await rejectsWithCode(rt.history('nope'), 'EXECUTION_NOT_FOUND');
      await rejectsWithCode(rt.lineage('nope'), 'EXECUTION_NOT_FOUND');
      await rejectsWithCode(rt.fork('nope', { seq: 0 }), 'EXECUTION_NOT_FOUND');
    });
  });

  describe('stateAt', () => {
    it('by seq: snapshot, context, value, status, event and the timers pending then with their due times', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 3);
      await clock.advance(1000);
      await rt.send('p', { type: 'DONE' });
      for (let seq = 0; seq <= 3; seq++) {
        const s = await rt.stateAt('p', { seq });
        expect(s).toEqual({
          id: 'p',
          seq,
          at: new Date(sec(seq)),
          event: seq === 0 ? expect.objectContaining({ type: 'xstate.init' }) : { type: 'INC' },
          status: 'waiting',
          value: 'counting',
          context: { n: seq, mode: 'a' },
          snapshot: expect.objectContaining({ status: 'active', value: 'counting', context: { n: seq, mode: 'a' } }),
          timers: [{ id: expect.any(String), event: COUNTER_TIMER, dueAt: new Date(sec(60)) }],
          effects: [],
        });
      }
      const end = await rt.stateAt('p', { seq: 4 });
      expect(end).toMatchObject({ seq: 4, at: new Date(sec(4)), event: { type: 'DONE' }, status: 'completed', value: 'pathA', context: { n: 3, mode: 'a' }, timers: [], effects: [] });
      expect(end.snapshot).toMatchObject({ status: 'done', value: 'pathA', output: { mode: 'a', n: 3 } });
      // The last point is the execution as it is now.
      expect((await rt.get('p'))?.context).toEqual(end.context);
      // Each call gives a fresh object: changing one does not change the next.
      ((await rt.stateAt('p', { seq: 2 })).context as { n: number }).n = 99;
      expect((await rt.stateAt('p', { seq: 2 })).context).toEqual({ n: 2, mode: 'a' });
    });

    it('timers: each point reports the delayed events pending then, with the due times they had', async () => {
      const { rt, clock } = await open(config, [timedMachine]);
      await rt.start('tl-timed', { id: 't' });
      await clock.advance(2000);
      await rt.send('t', { type: 'POKE' }); // seq 1 at 2 s
      await clock.advance(3000); // a's 5 s timer fires: seq 2 at 5 s, b armed for 8 s
      await clock.advance(3000); // b's fires: seq 3 at 8 s, c (final)
      expect(seqs(await rt.history('t'))).toEqual([0, 1, 2, 3]);
      const at = await Promise.all([0, 1, 2, 3].map((seq) => rt.stateAt('t', { seq })));
      expect(at.map((s) => [s.value, s.status, s.at.getTime()])).toEqual([
        ['a', 'waiting', sec(0)],
        ['a', 'waiting', sec(2)],
        ['b', 'waiting', sec(5)],
        ['c', 'completed', sec(8)],
      ]);
      expect(at.map((s) => s.timers.map((t) => [t.event, t.dueAt.getTime()]))).toEqual([[[TIMED_A, sec(5)]], [[TIMED_A, sec(5)]], [[TIMED_B, sec(8)]], []]);
      expect(at[2]?.event).toEqual(TIMED_A);
      expect(at[3]?.event).toEqual(TIMED_B);
      expect(at[3]?.context).toEqual({ pokes: 1 });
    });

    it('durable effects in flight then: child, key and invoking seq', async () => {
      const gate = new Gate();
      const { rt, clock } = await open(config, [fxMachine(gate)]);
      await rt.start('tl-fx', { id: 'p', input: { x: 1 } });
      await clock.advance(1000);
      await rt.send('p', { type: 'GO' });
      const call = await gate.called(1);
      const s1 = await rt.stateAt('p', { seq: 1 });
      expect(s1).toMatchObject({ seq: 1, status: 'running', value: 'calling', event: { type: 'GO' }, context: { x: 1, result: null, pings: 0 } });
      expect(s1.effects).toEqual([{ child: 'call', key: call.key, seq: 1 }]);
      expect(call.key).toBe('p/call@1');
      expect((await rt.stateAt('p', { seq: 0 })).effects).toEqual([]);
      call.resolve('P');
      expect(await finished(rt, 'p')).toEqual({ result: 'P', x: 1, pings: 0 });
      const s2 = await rt.stateAt('p', { seq: 2 });
      expect(s2).toMatchObject({ seq: 2, status: 'completed', value: 'done', context: { result: 'P' }, effects: [] });
      expect(typeOf(s2.event)).toMatch(/^xstate\.done\.actor\.call/);
      // Still reported in flight at seq 1 once it has finished.
      expect((await rt.stateAt('p', { seq: 1 })).effects).toEqual([{ child: 'call', key: 'p/call@1', seq: 1 }]);
    });

    it('by time: the last transition at or before it; before the first transition is INVALID_ARGUMENT', async () => {
      const env = await open(config, [counterMachine]);
      const { rt } = env;
      await countTo(env, 'p', 10);
      await rt.send('p', { type: 'INC' }); // seq 11, at the same time as seq 10
      const seqAt = async (at: Date | number): Promise<number> => (await rt.stateAt('p', { at })).seq;
      expect(await seqAt(new Date(sec(0)))).toBe(0);
      expect(await seqAt(new Date(sec(5)))).toBe(5);
      expect(await seqAt(new Date(sec(5) + 999))).toBe(5);
      expect(await seqAt(new Date(sec(5) - 1))).toBe(4);
      expect(await seqAt(new Date(sec(1)))).toBe(1);
      expect(await seqAt(new Date(sec(9) + 1))).toBe(9);
      expect(await seqAt(new Date(sec(10)))).toBe(11);
      expect(await seqAt(new Date(sec(3600)))).toBe(11);
      expect(await seqAt(sec(3))).toBe(3);
      const s = await rt.stateAt('p', { at: new Date(sec(7) + 500) });
      expect(s).toMatchObject({ seq: 7, at: new Date(sec(7)), context: { n: 7 } });
      await rejectsWithCode(rt.stateAt('p', { at: new Date(T0 - 1) }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.stateAt('p', { at: new Date(Number.NaN) }), 'INVALID_ARGUMENT');
    });

    it('a seq beyond the end, negative or fractional is INVALID_ARGUMENT; an unknown id EXECUTION_NOT_FOUND', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 10);
      await rejectsWithCode(rt.stateAt('p', { seq: 11 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.stateAt('p', { seq: -1 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.stateAt('p', { seq: 2.5 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.stateAt('nope', { seq: 0 }), 'EXECUTION_NOT_FOUND');
      await rejectsWithCode(rt.stateAt('nope', { at: new Date(sec(1)) }), 'EXECUTION_NOT_FOUND');
      await clock.advance(1000);
      await rt.fork('p', { seq: 5, id: 'f' });
      await rt.send('f', { type: 'INC' });
      // f has seqs 0–7; the parent's 8–10 are not f's.
      expect((await rt.stateAt('f', { seq: 7 })).context).toEqual({ n: 6, mode: 'a' });
      await rejectsWithCode(rt.stateAt('f', { seq: 8 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.stateAt('f', { seq: 10 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.fork('p', { seq: 11 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.fork('p', { seq: -1 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.fork('p', { at: new Date(T0 - 1) }), 'INVALID_ARGUMENT');
    });

    it("a fork's points: its ancestors' up to the fork point (by seq and by time), then its own", async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 10); // p's seq i at i s
      await clock.advance(10_000); // 20 s
      await rt.fork('p', { seq: 5, id: 'f', update: { mode: 'b' } });
      await clock.advance(1000);
      await rt.send('f', { type: 'INC' }); // f's seq 7 at 21 s
      for (let seq = 0; seq <= 5; seq++) {
        const { id, from, ...rest } = await rt.stateAt('f', { seq });
        const { id: pid, ...parent } = await rt.stateAt('p', { seq });
        expect([id, from, pid]).toEqual(['f', 'p', 'p']);
        expect(rest).toEqual(parent);
      }
      const own = await rt.stateAt('f', { seq: 6 });
      expect(own).toMatchObject({ id: 'f', seq: 6, at: new Date(sec(20)), event: { type: 'durastate.fork' }, context: { n: 5, mode: 'b' }, status: 'waiting' });
      expect(own.from).toBeUndefined();
      // The timer had 55 s left at the fork point (due 60 s, point at 5 s): due 20 + 55 s in the fork.
      expect(own.timers.map((t) => t.dueAt.getTime())).toEqual([sec(75)]);
      expect((await rt.stateAt('f', { seq: 7 })).context).toEqual({ n: 6, mode: 'b' });
      // By time: the parent's seq 7 (at 7 s) is not in f's history; f's own begin at 20 s.
      expect(await rt.stateAt('f', { at: new Date(sec(7)) })).toMatchObject({ seq: 5, from: 'p' });
      expect((await rt.stateAt('f', { at: new Date(sec(19)) })).seq).toBe(5);
      expect((await rt.stateAt('f', { at: new Date(sec(3)) })).seq).toBe(3);
      expect((await rt.stateAt('f', { at: new Date(sec(20)) })).seq).toBe(6);
      expect((await rt.stateAt('f', { at: new Date(sec(100)) })).seq).toBe(7);
      expect((await rt.stateAt('p', { at: new Date(sec(7)) })).seq).toBe(7);
    });
  });

  describe('diff', () => {
    it('applying diff to stateAt(a).snapshot gives stateAt(b).snapshot: one execution, a fork and its ancestors', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 6);
      await clock.advance(1000);
      await rt.fork('p', { seq: 3, id: 'f', update: { mode: 'b' } }); // f: 4 = fork
      await rt.send('f', { type: 'INC' }); // 5
      await rt.send('f', { type: 'INC' }); // 6
      await rt.fork('f', { seq: 5, id: 'g', update: (s) => ({ ...s, context: { n: 40, mode: 'c' } }) }); // g: 6 = fork
      await rt.send('g', { type: 'INC' }); // 7
      await rt.send('g', { type: 'DONE' }); // 8: big
      await rt.send('p', { type: 'DONE' }); // 7: pathA
      expect(await finished(rt, 'g')).toEqual({ mode: 'c', n: 41 });

      const snap = async (id: string, seq: number): Promise<Json> => (await rt.stateAt(id, { seq })).snapshot;
      const check = async (a: { id: string; seq: number }, b: { id: string; seq: number }): Promise<void> => {
        const patch = a.id === b.id ? await rt.diff(a.id, a.seq, b.seq) : await rt.diff(a, b);
        const applied = applyOps(structuredClone(await snap(a.id, a.seq)), patch);
        expect(applied, `diff ${a.id}@${a.seq} → ${b.id}@${b.seq}`).toEqual(await snap(b.id, b.seq));
      };
      for (let a = 0; a <= 7; a++) for (let b = 0; b <= 7; b++) await check({ id: 'p', seq: a }, { id: 'p', seq: b });
      for (const [a, b] of [
        [0, 6],
        [2, 4],
        [4, 2],
        [3, 4],
        [6, 1],
      ] as const) {
        await check({ id: 'f', seq: a }, { id: 'f', seq: b });
      }
      for (const [a, b] of [
        [1, 8],
        [5, 6],
        [8, 0],
        [4, 7],
      ] as const) {
        await check({ id: 'g', seq: a }, { id: 'g', seq: b });
      }
      const points = [
        { id: 'p', seq: 3 },
        { id: 'p', seq: 5 },
        { id: 'p', seq: 7 },
        { id: 'f', seq: 4 },
        { id: 'f', seq: 6 },
        { id: 'g', seq: 6 },
        { id: 'g', seq: 8 },
      ];
      for (const a of points) for (const b of points) if (a.id !== b.id) await check(a, b);

      expect(await rt.diff('p', 2, 2)).toEqual([]);
      expect(await rt.diff('p', 2, 4)).toEqual([{ op: 'replace', path: '/context/n', value: 4 }]);
      // The fork point is shared: the same snapshot either way.
      expect(await rt.diff({ id: 'p', seq: 3 }, { id: 'f', seq: 3 })).toEqual([]);
      expect(await rt.diff({ id: 'p', seq: 3 }, { id: 'f', seq: 4 })).toEqual([{ op: 'replace', path: '/context/mode', value: 'b' }]);
      await rejectsWithCode(rt.diff('p', 0, 8), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.diff({ id: 'f', seq: 7 }, { id: 'p', seq: 7 }), 'INVALID_ARGUMENT');
      await rejectsWithCode(rt.diff('nope', 0, 1), 'EXECUTION_NOT_FOUND');
      await rejectsWithCode(rt.diff({ id: 'p', seq: 0 }, { id: 'nope', seq: 0 }), 'EXECUTION_NOT_FOUND');
    });
  });

  describe('fork', () => {
    it('an edited context (object update) takes another path and output; the parent is untouched and completes its own way', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 4);
      const before = await picture(rt, ['p']);
      const statesBefore = await allStates(rt, 'p');
      await clock.advance(1000);
      const handle = await rt.fork('p', { seq: 2, id: 'f', update: { mode: 'b' } });
      expect(handle).toEqual({ id: 'f', parent: { id: 'p', seq: 2 } });
      const info = await rt.get('f');
      expect(info).toMatchObject({ id: 'f', machine: 'tl-counter', status: 'waiting', seq: 3, value: 'counting', context: { n: 2, mode: 'b' }, parent: { id: 'p', seq: 2 } });
      expect(info?.accepts.sort()).toEqual(['DONE', 'INC']);
      expect((await rt.stateAt('f', { seq: 2 })).context).toEqual({ n: 2, mode: 'a' });
      expect((await rt.stateAt('f', { seq: 3 })).context).toEqual({ n: 2, mode: 'b' });
      expect((await rt.list()).items.find((s) => s.id === 'f')?.parent).toEqual({ id: 'p', seq: 2 });

      await rt.send('f', { type: 'INC' });
      await rt.send('f', { type: 'DONE' });
      expect(await finished(rt, 'f')).toEqual({ mode: 'b', n: 3 });
      expect((await rt.get('f'))?.value).toBe('pathB');
      const forkHistory = await rt.history('f');
      expect(types(forkHistory)).toEqual(['xstate.init', 'INC', 'INC', 'durastate.fork', 'INC', 'DONE']);

      // The parent: same row, history, lineage apart from the new fork, every point the same.
      const after = (await picture(rt, ['p'])) as { list: Array<{ id: string }>; each: { p: { lineage: { tree: { forks: unknown[] } } } } };
      expect(after.each.p.lineage.tree.forks.map((n) => (n as { id: string }).id)).toEqual(['f']);
      after.each.p.lineage.tree.forks = [];
      after.list = after.list.filter((s) => s.id !== 'f');
      expect(after).toEqual(before);
      expect(await allStates(rt, 'p')).toEqual(statesBefore);

      await rt.send('p', { type: 'INC' });
      await rt.send('p', { type: 'DONE' });
      expect(await finished(rt, 'p')).toEqual({ mode: 'a', n: 5 });
      expect((await rt.get('p'))?.value).toBe('pathA');
      // What the parent did after the fork point is not in the fork.
      expect(await rt.history('f')).toEqual(forkHistory);
      expect(await finished(rt, 'f')).toEqual({ mode: 'b', n: 3 });
    });

    it('an update function edits the snapshot it is given (a copy) and the fork goes its way', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 4);
      const statesBefore = await allStates(rt, 'p');
      const historyBefore = await rt.history('p');
      await clock.advance(1000);
      const given: ForkSnapshot[] = [];
      await rt.fork('p', {
        seq: 2,
        id: 'f',
        update: (s) => {
          given.push(structuredClone(s));
          // Editing in place must not reach the parent's history.
          (s.context as { n: number }).n = 100;
          return s;
        },
      });
      expect(given).toHaveLength(1);
      expect(given[0]).toMatchObject({ status: 'active', value: 'counting', context: { n: 2, mode: 'a' } });
      expect((await rt.get('f'))?.context).toEqual({ n: 100, mode: 'a' });
      expect(await allStates(rt, 'p')).toEqual(statesBefore);
      expect((await rt.stateAt('f', { seq: 2 })).context).toEqual({ n: 2, mode: 'a' });

      await rt.fork('p', { seq: 1, id: 'g', update: (s) => ({ ...s, context: { ...(s.context as object), mode: 'b', n: 7 } }) });
      await rt.send('g', { type: 'DONE' });
      expect(await finished(rt, 'g')).toEqual({ mode: 'b', n: 7 });

      await rt.send('f', { type: 'DONE' });
      expect(await finished(rt, 'f')).toEqual({ mode: 'a', n: 100 });
      expect((await rt.get('f'))?.value).toBe('big');
      expect(await rt.history('p')).toEqual(historyBefore);
      await rt.send('p', { type: 'DONE' });
      expect(await finished(rt, 'p')).toEqual({ mode: 'a', n: 4 });
      expect((await rt.get('p'))?.value).toBe('pathA');
    });

    it('an effect in flight at the fork point runs again in the fork with its own key (default); the parent\'s result is not delivered', async () => {
      const gate = new Gate();
      const { rt, clock } = await open(config, [fxMachine(gate)]);
      await rt.start('tl-fx', { id: 'p', input: { x: 1 } });
      await clock.advance(1000);
      await rt.send('p', { type: 'GO' });
      const parentCall = await gate.called(1);
      parentCall.resolve('P');
      expect(await finished(rt, 'p')).toEqual({ result: 'P', x: 1, pings: 0 });
      // At seq 1 the effect was in flight; its result was recorded after (seq 2).
      expect(await rt.stateAt('p', { seq: 1 })).toMatchObject({ status: 'running', effects: [{ child: 'call', key: 'p/call@1', seq: 1 }] });
      expect((await rt.get('p'))?.effects).toMatchObject([{ key: 'p/call@1', status: 'done', output: 'P' }]);

      await clock.advance(1000);
      await rt.fork('p', { seq: 1, id: 'f' });
      const forkCall = await gate.called(2);
      expect(forkCall.key.startsWith('f/')).toBe(true);
      expect(forkCall.key).toBe('f/call@2');
      expect(forkCall.attempt).toBe(1);
      expect(forkCall.input).toEqual({ x: 1 });
      // The fork's input is its root ancestor's.
      expect((await rt.get('f'))?.input).toEqual({ x: 1 });
      await settle(rt);
      const waiting = await rt.get('f');
      expect(waiting).toMatchObject({ status: 'running', value: 'calling', context: { result: null } });
      expect((await rt.stateAt('f', { seq: 2 })).effects).toEqual([{ child: 'call', key: 'f/call@2', seq: 2 }]);
      forkCall.resolve('F');
      expect(await finished(rt, 'f')).toEqual({ result: 'F', x: 1, pings: 0 });
      expect(gate.calls).toHaveLength(2);
      const effects = (await rt.get('f'))?.effects ?? [];
      expect(effects).toMatchObject([{ key: 'f/call@2', status: 'done', output: 'F' }]);
      expect(types(await rt.history('f'))).toEqual(['xstate.init', 'GO', 'durastate.fork', expect.stringMatching(/^xstate\.done\.actor\.call/)]);
      expect(await finished(rt, 'p')).toEqual({ result: 'P', x: 1, pings: 0 });
      // Diff across the fork point of an effect machine.
      const patch = await rt.diff({ id: 'p', seq: 2 }, { id: 'f', seq: 3 });
      expect(applyOps(structuredClone((await rt.stateAt('p', { seq: 2 })).snapshot), patch)).toEqual((await rt.stateAt('f', { seq: 3 })).snapshot);
    });

    it("effects: 'reuse' delivers the parent's recorded result without running the effect's code again", async () => {
      const gate = new Gate();
      const { rt, clock } = await open(config, [fxMachine(gate)]);
      await rt.start('tl-fx', { id: 'p', input: { x: 2 } });
      await clock.advance(1000);
      await rt.send('p', { type: 'GO' });
      (await gate.called(1)).resolve('P');
      expect(await finished(rt, 'p')).toEqual({ result: 'P', x: 2, pings: 0 });
      expect((await rt.stateAt('p', { seq: 1 })).status).toBe('running');

      await clock.advance(1000);
      await rt.fork('p', { seq: 1, id: 'f', effects: 'reuse' });
      expect(await finished(rt, 'f')).toEqual({ result: 'P', x: 2, pings: 0 });
      await settle(rt);
      expect(gate.calls).toHaveLength(1);
      expect((await rt.get('f'))?.effects).toMatchObject([{ key: 'f/call@2', status: 'done', output: 'P' }]);
      expect((await rt.get('f'))?.value).toBe('done');
    });

    it("effects: 'reuse' with the parent's effect still in flight runs it in the fork, and the parent's later result stays the parent's", async () => {
      const gate = new Gate();
      const { rt, clock } = await open(config, [fxMachine(gate)]);
      await rt.start('tl-fx', { id: 'p', input: { x: 3 } });
      await clock.advance(1000);
      await rt.send('p', { type: 'GO' });
      const parentCall = await gate.called(1);
      await rt.fork('p', { seq: 1, id: 'f', effects: 'reuse' });
      const forkCall = await gate.called(2);
      expect(forkCall.key).toBe('f/call@2');
      parentCall.resolve('P');
      expect(await finished(rt, 'p')).toEqual({ result: 'P', x: 3, pings: 0 });
      await settle(rt);
      expect((await rt.get('f'))?.value).toBe('calling');
      forkCall.resolve('F');
      expect(await finished(rt, 'f')).toEqual({ result: 'F', x: 3, pings: 0 });
      expect(gate.calls).toHaveLength(2);
    });

    it('a timer pending at the fork point is re-armed from the fork with the time it had left', async () => {
      const { rt, clock } = await open(config, [timedMachine]);
      await rt.start('tl-timed', { id: 't' });
      await clock.advance(2000);
      await rt.send('t', { type: 'POKE' }); // seq 1 at 2 s: a's timer due at 5 s (3 s left)
      await clock.advance(6000); // t fires both timers, completes at 8 s
      expect((await rt.get('t'))?.status).toBe('completed');
      await clock.advance(2000); // 10 s
      await rt.fork('t', { seq: 1, id: 'f' });
      const info = await rt.get('f');
      expect(info).toMatchObject({ status: 'waiting', value: 'a', seq: 2 });
      expect(info?.timers.map((t) => [t.event, t.dueAt.getTime()])).toEqual([[TIMED_A, sec(13)]]);
      expect((await rt.stateAt('f', { seq: 2 })).timers.map((t) => t.dueAt.getTime())).toEqual([sec(13)]);
      // The parent's point keeps its own due time.
      expect((await rt.stateAt('t', { seq: 1 })).timers.map((t) => t.dueAt.getTime())).toEqual([sec(5)]);

      await clock.advance(2999);
      expect(await rt.get('f')).toMatchObject({ value: 'a', seq: 2 });
      await clock.advance(1);
      const fired = await rt.get('f');
      expect(fired).toMatchObject({ value: 'b', seq: 3 });
      expect(fired?.timers.map((t) => [t.event, t.dueAt.getTime()])).toEqual([[TIMED_B, sec(16)]]);
      const own = await rt.history('f', { from: 2 });
      expect(own.map((e) => [typeOf(e.event), e.at.getTime(), e.value])).toEqual([
        ['durastate.fork', sec(10), 'a'],
        [TIMED_A.type, sec(13), 'b'],
      ]);
      await clock.advance(3000);
      expect(await finished(rt, 'f')).toEqual({ pokes: 1 });
      expect((await rt.history('f', { from: 4 })).map((e) => e.at.getTime())).toEqual([sec(16)]);
      // The parent is as it was.
      expect((await rt.history('t')).map((e) => e.at.getTime())).toEqual([sec(0), sec(2), sec(5), sec(8)]);
    });

    it("effects: 'reuse' finds the recorded result in the ancestor whose point it is (a fork of a fork)", async () => {
      const gate = new Gate();
      const { rt } = await open(config, [fxMachine(gate)]);
      await rt.start('tl-fx', { id: 'p', input: { x: 1 } });
      await rt.send('p', { type: 'GO' });
      const parentCall = await gate.called(1);
      await rt.fork('p', { seq: 1, id: 'f' }); // f: 2 = fork, its own effect f/call@2
      const forkCall = await gate.called(2);
      parentCall.resolve('P');
      forkCall.resolve('F');
      expect(await finished(rt, 'p')).toMatchObject({ result: 'P' });
      expect(await finished(rt, 'f')).toMatchObject({ result: 'F' });
      // g1 forks f at seq 1, which is p's transition: p's result is the one recorded for it.
      await rt.fork('f', { seq: 1, id: 'g1', effects: 'reuse' });
      expect(await finished(rt, 'g1')).toEqual({ result: 'P', x: 1, pings: 0 });
      // g2 forks f at its own fork point, where f's own effect was in flight.
      await rt.fork('f', { seq: 2, id: 'g2', effects: 'reuse' });
      expect(await finished(rt, 'g2')).toEqual({ result: 'F', x: 1, pings: 0 });
      await settle(rt);
      expect(gate.calls).toHaveLength(2);
      expect(froms(await rt.history('g2'))).toEqual(['p', 'p', 'f', undefined, undefined]);
    });

    it('a fork by time ({ at }) starts from the last transition at or before it', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 6);
      await clock.advance(1000);
      expect(await rt.fork('p', { at: new Date(sec(3) + 500), id: 'f', update: { mode: 'b' } })).toEqual({ id: 'f', parent: { id: 'p', seq: 3 } });
      expect(await rt.get('f')).toMatchObject({ seq: 4, context: { n: 3, mode: 'b' } });
      expect(await rt.fork('p', { at: sec(5), id: 'g' })).toEqual({ id: 'g', parent: { id: 'p', seq: 5 } });
      await rt.send('f', { type: 'DONE' });
      expect(await finished(rt, 'f')).toEqual({ mode: 'b', n: 3 });
    });

    it('a fork at a final point is finished at once, with the output it had', async () => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 2);
      await rt.send('p', { type: 'DONE' }); // seq 3
      await clock.advance(1000);
      await rt.fork('p', { seq: 3, id: 'f' });
      expect(await finished(rt, 'f')).toEqual({ mode: 'a', n: 2 });
      expect(await rt.get('f')).toMatchObject({ status: 'completed', value: 'pathA', seq: 4, timers: [], accepts: [] });
      expect((await rt.history('f', { from: 3 })).map((e) => [e.seq, e.status, e.from, e.forkPoint])).toEqual([
        [3, 'completed', 'p', true],
        [4, 'completed', undefined, undefined],
      ]);
      await rejectsWithCode(rt.send('f', { type: 'INC' }), 'EXECUTION_FINISHED');
    });

    it('an update moving the execution to another state of the machine continues from that state: its delayed transition fires', async () => {
      const { rt, clock } = await open(config, [timedMachine]);
      await rt.start('tl-timed', { id: 't' }); // a, its 5 s timer pending
      await clock.advance(1000);
      await rt.fork('t', { seq: 0, id: 'f', update: (s) => ({ ...s, value: 'b' }) });
      const forked = await rt.get('f');
      expect(forked).toMatchObject({ value: 'b', status: 'waiting' });
      // In b, what is pending is b's own delay, not a's (a is not active in the fork).
      expect(forked?.timers.map((t) => t.event)).toEqual([TIMED_B]);
      await clock.advance(10_000);
      expect(await rt.get('f')).toMatchObject({ value: 'c', status: 'completed' });
    });

    it('an update putting the execution in a final state without finishing it is not left waiting there', async () => {
      const env = await open(config, [counterMachine]);
      const { rt } = env;
      await countTo(env, 'p', 2);
      let refused: unknown;
      try {
        await rt.fork('p', { seq: 2, id: 'f', update: (s) => ({ ...s, value: 'pathB' }) });
      } catch (err) {
        refused = err;
      }
      if (refused) {
        expect(refused).toBeInstanceOf(InvalidUpdateError);
        expect(await rt.get('f')).toBeUndefined();
      } else {
        // Accepted: then it is finished in pathB, not a 'waiting' execution that no event can move.
        expect(await rt.get('f')).toMatchObject({ value: 'pathB', status: 'completed' });
      }
    });

    it('an update whose state value is not a state (a number) is refused, not continued from the initial state', async () => {
      const { rt } = await open(config, [timedMachine]);
      await rt.start('tl-timed', { id: 't' });
      await rt.send('t', { type: 'SKIP' }); // seq 1: b
      const before = await picture(rt, ['t']);
      await expect(rt.fork('t', { seq: 1, id: 'f', update: (s) => ({ ...s, value: 42 }) })).rejects.toMatchObject({ code: 'INVALID_UPDATE' });
      expect(await rt.get('f')).toBeUndefined();
      expect(await picture(rt, ['t'])).toEqual(before);
    });

    it('stateAt and diff through forks do not depend on the keyframe interval', async () => {
      const scenario = async (keyframeEvery?: number): Promise<Record<string, StateAt[]>> => {
        const env = await open(config, [counterMachine], keyframeEvery ? { keyframeEvery } : {});
        const { rt, clock } = env;
        await countTo(env, 'p', 9);
        await clock.advance(1000);
        await rt.fork('p', { seq: 5, id: 'f', update: { mode: 'b' } });
        for (let i = 0; i < 5; i++) {
          await clock.advance(1000);
          await rt.send('f', { type: 'INC' });
        }
        await rt.fork('f', { seq: 8, id: 'g' });
        for (let i = 0; i < 4; i++) {
          await clock.advance(1000);
          await rt.send('g', { type: 'INC' });
        }
        await rt.send('g', { type: 'DONE' });
        const out: Record<string, StateAt[]> = {};
        for (const id of ['p', 'f', 'g']) out[id] = await allStates(rt, id);
        // The patches rebuild the points through the keyframes too.
        for (const [a, b] of [
          [{ id: 'p', seq: 1 }, { id: 'g', seq: 14 }],
          [{ id: 'g', seq: 13 }, { id: 'f', seq: 10 }],
          [{ id: 'g', seq: 2 }, { id: 'g', seq: 12 }],
        ] as const) {
          const patch = await rt.diff(a, b);
          expect(applyOps(structuredClone((await rt.stateAt(a.id, { seq: a.seq })).snapshot), patch)).toEqual((await rt.stateAt(b.id, { seq: b.seq })).snapshot);
        }
        await rt.close();
        return out;
      };
      const every2 = await scenario(2);
      const every3 = await scenario(3);
      const byDefault = await scenario();
      expect(byDefault['g']?.map((s) => s.context)).toEqual([
        ...range(0, 5).map((n) => ({ n, mode: 'a' })),
        ...[5, 6, 7, 7, 8, 9, 10, 11, 11].map((n) => ({ n, mode: 'b' })),
      ]);
      expect(every2).toEqual(byDefault);
      expect(every3).toEqual(byDefault);
      expect(byDefault['g']?.map((s) => s.from)).toEqual([...Array<string>(6).fill('p'), 'f', 'f', 'f', ...Array<undefined>(6).fill(undefined)]);
      expect(byDefault['g']?.at(-1)).toMatchObject({ seq: 14, status: 'completed', value: 'pathB', context: { n: 11, mode: 'b' } });
    });

    const bad: Array<[string, ForkOptions['update']]> = [
      ['a state value that does not exist', (s) => ({ ...s, value: 'nowhere' })],
      ['a nested state value that does not exist', (s) => ({ ...s, value: { counting: 'deeper' } })],
      ['a Date in the context (object update)', { when: new Date(T0) }],
      ['a function in the context (object update)', { fn: () => 1 }],
      ['a Date deep in the context (function update)', (s) => ({ ...s, context: { ...(s.context as object), nested: { at: new Date(T0) } } as unknown as Json })],
      [
        'an update function that throws',
        () => {
          throw new Error('boom');
        },
      ],
      ["an update that sets status 'error'", (s) => ({ ...s, status: 'error', error: 'broken' })],
      ['an update function that returns no snapshot', () => undefined as unknown as ForkSnapshot],
    ];
    it.each(bad)('an invalid update is refused with INVALID_UPDATE and nothing written: %s', async (_name, update) => {
      const env = await open(config, [counterMachine]);
      const { rt, clock } = env;
      await countTo(env, 'p', 3);
      await rt.start('tl-counter', { id: 'other' });
      const before = await picture(rt, ['p', 'other']);
      await clock.advance(1000);
      const refused = rt.fork('p', { seq: 2, id: 'bad', update: update as NonNullable<ForkOptions['update']> });
      await expect(refused).rejects.toBeInstanceOf(InvalidUpdateError);
      await expect(rt.fork('p', { seq: 2, id: 'bad', update: update as NonNullable<ForkOptions['update']> })).rejects.toMatchObject({ code: 'INVALID_UPDATE' });
      expect(await rt.get('bad')).toBeUndefined();
      await rejectsWithCode(rt.history('bad'), 'EXECUTION_NOT_FOUND');
      expect(await picture(rt, ['p', 'other'])).toEqual(before);
      // The refusal left nothing behind: the id is free, the parent goes on.
      await rt.fork('p', { seq: 2, id: 'bad' });
      expect((await rt.get('bad'))?.parent).toEqual({ id: 'p', seq: 2 });
      await rt.send('p', { type: 'DONE' });
      expect(await finished(rt, 'p')).toEqual({ mode: 'a', n: 3 });
    });

    it('start: false creates the fork but runs nothing here; a later send runs it (the in-flight effect with the fork\'s key)', async () => {
      const gate = new Gate();
      const { rt, clock } = await open(config, [fxMachine(gate)]);
      await rt.start('tl-fx', { id: 'p', input: { x: 4 } });
      await clock.advance(1000);
      await rt.send('p', { type: 'GO' });
      (await gate.called(1)).resolve('P');
      await finished(rt, 'p');
      await clock.advance(1000);
      expect(await rt.fork('p', { seq: 1, id: 'f', start: false })).toEqual({ id: 'f', parent: { id: 'p', seq: 1 } });
      const created = await rt.get('f');
      expect(created).toMatchObject({ status: 'running', value: 'calling', seq: 2, parent: { id: 'p', seq: 1 }, context: { x: 4, result: null } });
      expect(types(await rt.history('f'))).toEqual(['xstate.init', 'GO', 'durastate.fork']);
      await settle(rt);
      expect(gate.calls).toHaveLength(1);
      expect((await rt.stats()).hosted).toBe(0);
      expect(await rt.get('f')).toEqual(created);

      await rt.send('f', { type: 'PING' });
      const call = await gate.called(2);
      expect(call.key.startsWith('f/')).toBe(true);
      expect(call.input).toEqual({ x: 4 });
      call.resolve('F');
      expect(await finished(rt, 'f')).toEqual({ result: 'F', x: 4, pings: 1 });
      expect(gate.calls).toHaveLength(2);
    });

    it('start: false, then recover() runs it', async () => {
      const gate = new Gate();
      const { rt, clock } = await open(config, [fxMachine(gate)]);
      await rt.start('tl-fx', { id: 'p', input: { x: 5 } });
      await clock.advance(1000);
      await rt.send('p', { type: 'GO' });
      (await gate.called(1)).resolve('P');
      await finished(rt, 'p');
      await rt.fork('p', { seq: 1, id: 'f', start: false });
      await settle(rt);
      expect(gate.calls).toHaveLength(1);
      expect(await rt.recover()).toBe(1);
      const call = await gate.called(2);
      expect(call.key.startsWith('f/')).toBe(true);
      call.resolve('F');
      expect(await finished(rt, 'f')).toEqual({ result: 'F', x: 5, pings: 0 });
    });

    it('start: false at a pending timer: the timer does not fire here; once run, the overdue timer fires', async () => {
      const { rt, clock } = await open(config, [timedMachine]);
      await rt.start('tl-timed', { id: 't' });
      await clock.advance(2000);
      await rt.send('t', { type: 'POKE' }); // seq 1, a's timer 3 s left
      await rt.fork('t', { seq: 1, id: 'f', start: false });
      expect((await rt.get('f'))?.timers.map((t) => t.dueAt.getTime())).toEqual([sec(5)]);
      await clock.advance(10_000);
      expect(await rt.get('f')).toMatchObject({ value: 'a', seq: 2, status: 'waiting' });
      expect(await rt.get('t')).toMatchObject({ value: 'c', status: 'completed' });
      await rt.send('f', { type: 'POKE' });
      await clock.advance(0);
      expect(await rt.get('f')).toMatchObject({ value: 'b', context: { pokes: 2 } });
    });

    it('forking to an existing id is refused with EXECUTION_EXISTS and writes nothing', async () => {
      const gate = new Gate();
      const env = await open(config, [counterMachine, timedMachine, fxMachine(gate)]);
      const { rt, clock } = env;
      await countTo(env, 'p', 3); // waiting, hosted
      await rt.start('tl-counter', { id: 'done' });
      await rt.send('done', { type: 'DONE' }); // completed, not hosted
      await rt.start('tl-timed', { id: 't' });
      await rt.start('tl-fx', { id: 'fx', input: { x: 1 } });
      await rt.send('fx', { type: 'GO' }); // effect in flight
      await gate.called(1);
      const ids = ['p', 'done', 't', 'fx'];
      const before = await picture(rt, ids);

      for (const [from, seq, to] of [
        ['p', 1, 'p'],
        ['p', 2, 'done'],
        ['p', 2, 'fx'],
        ['t', 0, 'done'],
        ['fx', 1, 'done'],
        ['fx', 1, 'p'],
      ] as const) {
        const refused = rt.fork(from, { seq, id: to });
        await expect(refused, `fork ${from}@${seq} → ${to}`).rejects.toBeInstanceOf(ExecutionExistsError);
        await rejectsWithCode(rt.fork(from, { seq, id: to, update: {} }), 'EXECUTION_EXISTS');
      }
      await settle(rt);
      expect(await picture(rt, ids)).toEqual(before);
      // No effect of a refused fork ran; no timer of one fires later.
      expect(gate.calls).toHaveLength(1);
      await clock.advance(6000);
      const after = (await picture(rt, ids)) as { each: Record<string, { get: { value: Json } }> };
      expect(after.each['done']?.get.value).toBe('pathA');
      expect(after.each['p']?.get.value).toBe('counting');
      expect((await rt.history('done')).length).toBe(2);
      expect((await rt.lineage('p')).tree.forks).toEqual([]);
      expect((await rt.lineage('fx')).tree.forks).toEqual([]);
      expect(gate.calls).toHaveLength(1);
      (gate.calls[0] as { resolve(v: string): void }).resolve('X');
      expect(await finished(rt, 'fx')).toEqual({ result: 'X', x: 1, pings: 0 });
    });
  });
});

describe.each(storeConfigs.filter((c) => c.persistent))('timeline across a restart on $name', (config) => {
  it("a fork (and a fork of it) survive a restart: history and stateAt still go through the parent, and they can go on", async () => {
    const first = await open(config, [counterMachine]);
    const { rt, clock } = first;
    await countTo(first, 'p', 10);
    await clock.advance(10_000); // 20 s
    await rt.fork('p', { seq: 5, id: 'f', update: { mode: 'b' } });
    await clock.advance(1000);
    await rt.send('f', { type: 'INC' }); // f: 7
    await rt.fork('f', { seq: 7, id: 'g' });
    const saved = {
      f: await rt.history('f'),
      g: await rt.history('g'),
      fStates: await allStates(rt, 'f'),
      gStates: await allStates(rt, 'g'),
      fTimers: (await rt.get('f'))?.timers,
    };
    expect(saved.fTimers?.map((t) => t.dueAt.getTime())).toEqual([sec(75)]);
    await rt.close();

    const second = await open(config, [counterMachine], { path: first.path, at: sec(25) });
    const rt2 = second.rt;
    expect(await rt2.history('f')).toEqual(saved.f);
    expect(await rt2.history('g')).toEqual(saved.g);
    expect(await allStates(rt2, 'f')).toEqual(saved.fStates);
    expect(await allStates(rt2, 'g')).toEqual(saved.gStates);
    expect((await rt2.stateAt('f', { seq: 3 })).from).toBe('p');
    expect((await rt2.stateAt('g', { seq: 6 })).from).toBe('f');
    expect((await rt2.stateAt('g', { seq: 2 })).from).toBe('p');
    expect((await rt2.get('f'))?.timers).toEqual(saved.fTimers);
    expect((await rt2.lineage('g')).ancestors.map((a) => a.id)).toEqual(['p', 'f']);

    await rt2.send('f', { type: 'INC' });
    await rt2.send('f', { type: 'DONE' });
    expect(await finished(rt2, 'f')).toEqual({ mode: 'b', n: 7 });
    await rt2.send('g', { type: 'DONE' });
    expect(await finished(rt2, 'g')).toEqual({ mode: 'b', n: 6 });
    await rt2.send('p', { type: 'DONE' });
    expect(await finished(rt2, 'p')).toEqual({ mode: 'a', n: 10 });
    expect(types(await rt2.history('f', { from: 6 }))).toEqual(['durastate.fork', 'INC', 'INC', 'DONE']);
    expect(froms(await rt2.history('g'))).toEqual(['p', 'p', 'p', 'p', 'p', 'p', 'f', 'f', undefined, undefined]);
  });

  it('a fork created with start: false at an effect in flight is run by the next runtime that recovers it', async () => {
    const gate = new Gate();
    const first = await open(config, [fxMachine(gate)]);
    await first.rt.start('tl-fx', { id: 'p', input: { x: 6 } });
    await first.clock.advance(1000);
    await first.rt.send('p', { type: 'GO' });
    (await gate.called(1)).resolve('P');
    await finished(first.rt, 'p');
    await first.rt.fork('p', { seq: 1, id: 'f', start: false });
    await settle(first.rt);
    expect(gate.calls).toHaveLength(1);
    await first.rt.close();

    const gate2 = new Gate();
    const second = await open(config, [fxMachine(gate2)], { path: first.path, at: sec(10) });
    const call = await gate2.called(1);
    expect(call.key).toBe('f/call@2');
    expect(call.input).toEqual({ x: 6 });
    call.resolve('F');
    expect(await finished(second.rt, 'f')).toEqual({ result: 'F', x: 6, pings: 0 });
    expect(gate.calls).toHaveLength(1);
    expect(gate2.calls).toHaveLength(1);
    const history = await second.rt.history('f');
    expect(froms(history)).toEqual(['p', 'p', undefined, undefined]);
    expect(types(history)).toEqual(['xstate.init', 'GO', 'durastate.fork', expect.stringMatching(/^xstate\.done\.actor\.call/)]);
  });
});
