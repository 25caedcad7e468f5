/**
 * Durable timers: delayed events (`after`, delayed `raise` / `sendTo`) are persisted with their
 * absolute due time in the transaction of the transition that scheduled them, re-armed with the
 * time they have left by the process that restores the execution, fired at once (in due order)
 * when they fell due while no process ran, and removed durably when cancelled.
 *
 * Time is simulated (`simulatedClock`), never slept. The main scenarios run in real child
 * processes (dist/test/fixtures/timerWorker.js) killed with SIGKILL; the extra cases use two
 * runtimes one after the other on the same LMDB path, each with its own clock start.
 */
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assign, raise, setup } from 'xstate';
import { createRuntime, lmdbStore, simulatedClock, type Runtime, type SimulatedClock } from '../src/index.js';
import { builtFixture, Child, killAllChildren, repoRoot } from './fixtures/crashChild.js';
import { timerMachines } from './fixtures/timerMachines.js';
import type { WorkerState } from './fixtures/timerWorker.js';
import { committed } from './fixtures/timerSettle.js';
import { tempDir } from './helpers.js';

/** Simulated epoch of every scenario: 2026-01-01T00:00:00Z. */
const T0 = Date.UTC(2026, 0, 1);
const s = (seconds: number): number => T0 + seconds * 1000;

let WORKER = '';
beforeAll(() => {
  WORKER = builtFixture('timerWorker');
  // builtFixture checks the worker's own source; the modules it imports must be current too.
  for (const name of ['timerMachines', 'timerSettle']) {
    const js = join(repoRoot, 'dist', 'test', 'fixtures', `${name}.js`);
    const ts = join(repoRoot, 'test', 'fixtures', `${name}.ts`);
    if (statSync(ts).mtimeMs > statSync(js).mtimeMs + 1000) throw new Error(`dist/test/fixtures/${name}.js is stale: run "npm run build" first.`);
  }
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await killAllChildren();
  for (const c of cleanups.splice(0).reverse()) await c();
});

function storePath(): string {
  const dir = tempDir('durastate-timers-');
  cleanups.push(dir.remove);
  return join(dir.path, 'db');
}

/** A timerWorker child process: one command at a time, one JSON answer per command. */
class Worker {
  private readonly child: Child;
  private n = 0;

  constructor(path: string, clockStart: number) {
    this.child = new Child(WORKER, [path, String(clockStart)]);
  }

  /** `{ now, owned }` once the runtime is open and recovery is done (`owned`: the executions it took over). */
  async ready(): Promise<{ now: number; owned: number }> {
    const readyLine = await this.child.waitForLine((l) => l.startsWith('READY '), 'READY');
    return JSON.parse(readyLine.slice('READY '.length)) as { now: number; owned: number };
  }

  async command(text: string): Promise<WorkerState> {
    const n = ++this.n;
    this.child.send(`${n} ${text}`);
    const answer = await this.child.waitForLine((l) => l.startsWith(`${n} `), `the answer to "${text}"`);
    const body = answer.slice(`${n} `.length);
    if (body.startsWith('ERR ')) throw new Error(`worker: ${text}: ${body.slice(4)}; stderr: ${this.child.stderr}`);
    return JSON.parse(body) as WorkerState;
  }

  start(machine: string, id: string): Promise<WorkerState> {
    return this.command(`START ${machine} ${id}`);
  }

  advance(ms: number, id: string): Promise<WorkerState> {
    return this.command(`ADVANCE ${ms} ${id}`);
  }

  /** SIGKILL, and check that it was the kill that ended the process. */
  async kill(): Promise<void> {
    const exit = await this.child.kill();
    expect(exit.signal, `worker exit; stderr: ${this.child.stderr}`).toBe('SIGKILL');
  }
}

/** `[seq, at, event type, value]` of every committed transition. */
function steps(state: WorkerState): Array<[number, number, string, unknown]> {
  return state.history.map((h) => [h.seq, h.at, h.type, h.value]);
}

describe('after: 5000 across a SIGKILL (real child processes, simulated clock)', () => {
  it('killed at 2 s, a new process started at 3 s fires the transition at 5 s, not earlier', async () => {
    const path = storePath();
    const first = new Worker(path, s(0));
    expect(await first.ready()).toEqual({ now: s(0), owned: 0 });
    const started = await first.start('timeout', 't');
    expect(started).toMatchObject({ now: s(0), value: 'waiting', status: 'waiting', seq: 0 });
    // Persisted with its absolute due time in the transaction of transition 0.
    expect(started.timers).toEqual([{ id: expect.any(String), dueAt: s(5), event: { type: 'xstate.after.5000.timeout.waiting' } }]);
    expect(started.indexed).toEqual([{ timer: started.timers[0]!.id, dueAt: s(5) }]);
    const at2 = await first.advance(2000, 't');
    expect(at2).toMatchObject({ now: s(2), value: 'waiting', seq: 0 });
    expect(at2.timers.map((t) => t.dueAt)).toEqual([s(5)]);
    await first.kill();

    const second = new Worker(path, s(3));
    expect(await second.ready()).toEqual({ now: s(3), owned: 1 });
    // The due time is absolute: still 5 s, not 3 s + 5 s (re-armed with the 2 s it has left).
    const at3 = await second.command('STATE t');
    expect(at3).toMatchObject({ now: s(3), value: 'waiting', status: 'waiting', seq: 0 });
    expect(at3.timers.map((t) => t.dueAt)).toEqual([s(5)]);
    const justBefore = await second.advance(1999, 't');
    expect(justBefore).toMatchObject({ now: s(5) - 1, value: 'waiting', seq: 0 });
    expect(justBefore.history).toHaveLength(1);
    const fired = await second.advance(1, 't');
    expect(fired).toMatchObject({ now: s(5), value: 'timedOut', status: 'completed', seq: 1, timers: [], indexed: [] });
    expect(steps(fired)).toEqual([
      [0, s(0), 'xstate.init', 'waiting'],
      [1, s(5), 'xstate.after.5000.timeout.waiting', 'timedOut'],
    ]);
    // Nothing fires a second time later on.
    const later = await second.advance(60_000, 't');
    expect(later.seq).toBe(1);
    await second.kill();
  });

  it('killed at 2 s, a new process started at 7 s fires the overdue transition at once, at 7 s', async () => {
    const path = storePath();
    const first = new Worker(path, s(0));
    await first.ready();
    await first.start('timeout', 't');
    expect(await first.advance(2000, 't')).toMatchObject({ now: s(2), value: 'waiting', seq: 0 });
    await first.kill();

    const late = new Worker(path, s(7));
    expect(await late.ready()).toEqual({ now: s(7), owned: 1 });
    // Recovery re-armed it as due now: settling the clock (no time passes) fires it.
    const fired = await late.advance(0, 't');
    expect(fired).toMatchObject({ now: s(7), value: 'timedOut', status: 'completed', seq: 1, timers: [], indexed: [] });
    expect(steps(fired)).toEqual([
      [0, s(0), 'xstate.init', 'waiting'],
      [1, s(7), 'xstate.after.5000.timeout.waiting', 'timedOut'],
    ]);
    await late.kill();
  });

  it('a delayed sendTo to an invoked child, and the child’s own after, survive kills the same way', async () => {
    const path = storePath();
    const first = new Worker(path, s(0));
    await first.ready();
    const started = await first.start('pinger', 'p');
    expect(started).toMatchObject({ value: 'running', seq: 0, children: { child: { value: 'idle', context: { pings: 0 } } } });
    expect(started.timers.map((t) => [t.dueAt, t.event])).toEqual([[s(5), { type: 'PING' }]]);
    await first.advance(2000, 'p');
    await first.kill();

    const second = new Worker(path, s(3));
    expect((await second.ready()).owned).toBe(1);
    const before = await second.advance(1999, 'p');
    expect(before).toMatchObject({ now: s(5) - 1, value: 'running', seq: 0, children: { child: { value: 'idle', context: { pings: 0 } } } });
    // At 5 s the restored root sends PING to the restored child; the child arms its own
    // `after: 1000` (a timer whose source is the child), persisted like the root's.
    const pinged = await second.advance(1, 'p');
    expect(pinged).toMatchObject({ now: s(5), value: 'running', seq: 1, children: { child: { value: 'pinged', context: { pings: 1 } } } });
    expect(pinged.timers.map((t) => [t.dueAt, t.event])).toEqual([[s(6), { type: 'xstate.after.1000.ponger.pinged' }]]);
    expect(pinged.indexed.map((t) => t.dueAt)).toEqual([s(6)]);
    expect(pinged.history.at(-1)?.at).toBe(s(5));
    expect(await second.advance(500, 'p')).toMatchObject({ now: s(5.5), seq: 1 });
    await second.kill();

    // A third process, at 5.5 s: the child's timer fires at 6 s and its PONG ends the parent.
    const third = new Worker(path, s(5.5));
    expect((await third.ready()).owned).toBe(1);
    expect(await third.advance(499, 'p')).toMatchObject({ value: 'running', seq: 1, children: { child: { value: 'pinged' } } });
    const ponged = await third.advance(1, 'p');
    expect(ponged).toMatchObject({ now: s(6), value: 'ponged', status: 'completed', timers: [], indexed: [] });
    expect(ponged.history.at(-1)).toMatchObject({ at: s(6), value: 'ponged' });
    // PING was delivered once: the root's timer did not come back after it fired.
    expect(ponged.history.filter((h) => h.at === s(5))).toHaveLength(1);
    await third.kill();
  });

  it('a timer cancelled by leaving its state is gone durably and does not fire after a kill', async () => {
    const path = storePath();
    const first = new Worker(path, s(0));
    await first.ready();
    await first.start('timeout', 't');
    await first.advance(1000, 't');
    const stopped = await first.command('SEND t {"type":"STOP"}');
    expect(stopped).toMatchObject({ value: 'idle', status: 'waiting', seq: 1, timers: [], indexed: [] });
    await first.kill();

    const later = new Worker(path, s(7));
    expect((await later.ready()).owned).toBe(1);
    const after = await later.advance(0, 't');
    expect(after).toMatchObject({ value: 'idle', seq: 1, timers: [] });
    expect((await later.advance(60_000, 't')).seq).toBe(1);
    expect(steps(await later.command('SEND t {"type":"FINISH"}')).map(([, , type, value]) => [type, value])).toEqual([
      ['xstate.init', 'waiting'],
      ['STOP', 'idle'],
      ['FINISH', 'finished'],
    ]);
    await later.kill();
  });
});

async function open(path: string, clock: SimulatedClock): Promise<Runtime> {
  const rt = await createRuntime({ store: lmdbStore({ path }), machines: timerMachines, clock });
  cleanups.push(() => rt.close());
  return rt;
}

/** Advances the clock, then waits until the transitions the fired timers caused are committed. */
async function advance(rt: Runtime, clock: SimulatedClock, ms: number): Promise<void> {
  await clock.advance(ms);
  await committed(rt);
}

describe('timers across a restart (two runtimes one after the other on one LMDB path)', () => {
  it('cancel(id) of a delayed raise removes it durably; it does not fire, in this process or the next', async () => {
    const path = storePath();
    const clock = simulatedClock(s(0));
    const rt = await open(path, clock);
    await rt.start('canceller', { id: 'c' });
    expect((await rt.get('c'))?.timers).toEqual([{ id: expect.any(String), event: { type: 'FIRE' }, dueAt: new Date(s(5)) }]);
    await advance(rt, clock, 1000);
    const { seq } = await rt.send('c', { type: 'CANCEL' });
    expect(seq).toBe(1);
    const cancelled = await rt.get('c');
    expect(cancelled).toMatchObject({ value: 'armed', context: { cancelled: 1 }, timers: [] });
    expect(await rt.store.dueTimers(Number.MAX_SAFE_INTEGER, 100)).toEqual([]);
    await advance(rt, clock, 5000); // past the old due time, same process: nothing
    expect((await rt.get('c'))?.seq).toBe(1);
    await rt.close();

    const clock2 = simulatedClock(s(7));
    const rt2 = await open(path, clock2);
    await advance(rt2, clock2, 0);
    await advance(rt2, clock2, 10_000);
    const info = await rt2.get('c');
    expect(info).toMatchObject({ value: 'armed', seq: 1, timers: [], accepts: expect.arrayContaining(['CANCEL', 'FIRE', 'DONE']) });
    expect((await rt2.history('c')).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init', 'CANCEL']);
    await rt2.send('c', { type: 'DONE' });
    expect((await rt2.get('c'))?.value).toBe('done');
  });

  it('several timers overdue at recovery fire at once in due order, not in the order they were scheduled', async () => {
    const path = storePath();
    const clock = simulatedClock(s(0));
    const rt = await open(path, clock);
    await rt.start('overdue', { id: 'o' });
    const pending = (await rt.get('o'))?.timers ?? [];
    expect(pending.map((t) => [(t.event as { type: string }).type, t.dueAt.getTime()])).toEqual([
      ['B', s(1)],
      ['C', s(2)],
      ['A', s(3)],
      ['xstate.after.4000.overdue.armed', s(4)],
    ]);
    await advance(rt, clock, 500);
    await rt.close();

    const clock2 = simulatedClock(s(10));
    const rt2 = await open(path, clock2);
    await advance(rt2, clock2, 0);
    expect(await rt2.wait('o')).toEqual({ log: ['B', 'C', 'A'] });
    const history = await rt2.history('o');
    expect(history.map((h) => [(h.event as { type: string }).type, h.at.getTime()])).toEqual([
      ['xstate.init', s(0)],
      ['B', s(10)],
      ['C', s(10)],
      ['A', s(10)],
      ['xstate.after.4000.overdue.armed', s(10)],
    ]);
    expect(history.at(-1)?.value).toBe('done');
  });

  it('a restart between due times fires the overdue ones at once and the others when they fall due', async () => {
    const path = storePath();
    const clock = simulatedClock(s(0));
    const rt = await open(path, clock);
    await rt.start('overdue', { id: 'o' });
    await advance(rt, clock, 500);
    await rt.close();

    const clock2 = simulatedClock(s(2.5));
    const rt2 = await open(path, clock2);
    await advance(rt2, clock2, 0);
    expect((await rt2.get('o'))?.context).toEqual({ log: ['B', 'C'] });
    expect((await rt2.get('o'))?.timers.map((t) => t.dueAt.getTime())).toEqual([s(3), s(4)]);
    await advance(rt2, clock2, 499);
    expect((await rt2.get('o'))?.context).toEqual({ log: ['B', 'C'] });
    await clock2.advanceTo(s(4));
    await committed(rt2);
    expect(await rt2.wait('o')).toEqual({ log: ['B', 'C', 'A'] });
    expect((await rt2.history('o')).map((h) => h.at.getTime())).toEqual([s(0), s(2.5), s(2.5), s(3), s(4)]);
  });
});

describe('transitions that change timers only', () => {
  it('a transition whose only action is cancel(id) is accepted, and removes the timer durably', async () => {
    const path = storePath();
    const clock = simulatedClock(s(0));
    const rt = await open(path, clock);
    await rt.start('cancelOnly', { id: 'c' });
    await advance(rt, clock, 1000);
    // The state accepts CANCEL (it has an enabled transition) ...
    expect((await rt.get('c'))?.accepts.sort()).toEqual(['CANCEL', 'DONE', 'FIRE']);
    // ... so sending it is not refused, and its transition (which changes no value or context,
    // only the pending timers) is committed.
    expect(await rt.send('c', { type: 'CANCEL' })).toEqual({ seq: 1, duplicate: false });
    expect((await rt.get('c'))?.timers).toEqual([]);
    await rt.close();

    const clock2 = simulatedClock(s(7));
    const rt2 = await open(path, clock2);
    await advance(rt2, clock2, 0);
    expect((await rt2.get('c'))?.value).toBe('armed');
    expect((await rt2.history('c')).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init', 'CANCEL']);
  });

  it('a timer restarted by re-entering its state is persisted with its new due time', async () => {
    const path = storePath();
    const clock = simulatedClock(s(0));
    const rt = await open(path, clock);
    await rt.start('inactivity', { id: 'i' });
    await advance(rt, clock, 3000);
    await rt.send('i', { type: 'ACTIVITY' });
    // XState re-armed it at 3 s + 5 s; the stored due time must say the same.
    expect((await rt.get('i'))?.timers.map((t) => t.dueAt.getTime())).toEqual([s(8)]);
    await advance(rt, clock, 2500); // 5.5 s: the old due time has passed, the live actor waits on
    expect((await rt.get('i'))?.value).toBe('active');
    await rt.close();

    // A restart at 5.5 s must keep waiting until 8 s, as the process before it would have.
    const clock2 = simulatedClock(s(5.5));
    const rt2 = await open(path, clock2);
    await advance(rt2, clock2, 0);
    expect((await rt2.get('i'))?.value).toBe('active');
    await advance(rt2, clock2, 2499);
    expect((await rt2.get('i'))?.value).toBe('active');
    await advance(rt2, clock2, 1);
    expect((await rt2.history('i')).map((h) => [(h.event as { type: string }).type, h.at.getTime()])).toEqual([
      ['xstate.init', s(0)],
      ['ACTIVITY', s(3)],
      ['xstate.after.5000.inactivity.active', s(8)],
    ]);
  });
});

describe('simulatedClock.advance lets commits settle (its documented contract)', () => {
  // These read the store right after `advance` resolves, with no barrier: they fail while
  // advance only waits a few event-loop turns instead of the commits of what it fired.
  it('the transitions of timers fired by advance are committed when it resolves', async () => {
    const clock = simulatedClock(s(0));
    const rt = await open(storePath(), clock);
    // Several rounds, so that a commit that lands a little late in one of them shows.
    const lagging: string[] = [];
    for (let round = 0; round < 20; round++) {
      const ids = Array.from({ length: 10 }, (_, i) => `t-${round}-${i}`);
      await Promise.all(ids.map((id) => rt.start('timeout', { id })));
      await clock.advance(5000);
      for (const id of ids) if ((await rt.get(id))?.value !== 'timedOut') lagging.push(id);
      await committed(rt);
    }
    expect(lagging, 'executions whose fired timer was not committed yet when advance resolved').toEqual([]);
  });

  it('work a fired timer starts (a durable effect) can arm a timer that falls due within the same advance', async () => {
    const clock = simulatedClock(s(0));
    const rt = await open(storePath(), clock);
    await rt.start('chain', { id: 'ch' });
    await clock.advance(5000);
    await committed(rt);
    const history = await rt.history('ch');
    expect(history.map((h) => [h.value, h.at.getTime()])).toEqual([
      ['first', s(0)],
      ['working', s(1)],
      ['second', s(1)],
      ['done', s(2)],
    ]);
  });
});

describe('a timer whose event a guard refuses', () => {
  it('is gone from the store once it fired, and does not fire again after a restart', async () => {
    const guarded = setup({ types: { context: {} as { open: boolean } } }).createMachine({
      id: 'guarded',
      context: { open: false },
      initial: 'waiting',
      states: {
        waiting: {
          entry: raise({ type: 'TICK' }, { delay: 1000, id: 'tick' }),
          on: { TICK: { guard: ({ context }) => context.open, target: 'done' }, OPEN: { actions: assign({ open: true }) } },
        },
        done: { type: 'final' },
      },
    });
    const path = storePath();
    const clock = simulatedClock(s(0));
    const rt = await createRuntime({ store: lmdbStore({ path }), machines: [guarded], clock });
    await rt.start('guarded', { id: 'g' });
    expect((await rt.get('g'))?.timers).toHaveLength(1);
    await clock.advance(1000);
    expect((await rt.get('g'))?.timers).toEqual([]);
    expect((await rt.get('g'))?.value).toBe('waiting');
    await rt.close();
    const clock2 = simulatedClock(s(2));
    const rt2 = await createRuntime({ store: lmdbStore({ path }), machines: [guarded], clock: clock2 });
    await rt2.send('g', { type: 'OPEN' });
    await clock2.advance(5000);
    // Had the stored timer survived, it would fire on restore and, the guard now open, finish.
    expect((await rt2.get('g'))?.value).toBe('waiting');
    await rt2.close();
  });
});
