/**
 * Passivation: a waiting execution leaves memory and comes back when an event or a due timer
 * needs it, with nothing lost; while out, `get`, `history` and `progress$` answer from the
 * store. Recovery restores the running executions of a store and only claims the waiting ones.
 * Real LMDB in a temporary folder; time is a simulated clock (`passivateIdle(now)` is given a
 * real time ahead instead of waiting for it).
 */
import { firstValueFrom, filter, toArray, take } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { fromPromise, setup } from 'xstate';
import { createRuntime, lmdbStore, simulatedClock, type Runtime, type RuntimeEvent, type SimulatedClock } from '../src/index.js';
import { committed } from './fixtures/timerSettle.js';
import { tempDir } from './helpers.js';
import { ticketMachine as ticket } from './fixtures/ticketMachine.js';

const T0 = Date.UTC(2026, 0, 1);
const LATER = (): number => Date.now() + 3_600_000;


/** Runs an effect that ends when the test says so. */
let release: (() => void)[] = [];
const job = setup({
  actors: { work: fromPromise(() => new Promise<string>((resolve) => release.push(() => resolve('ok')))) },
}).createMachine({
  id: 'job',
  initial: 'working',
  states: { working: { invoke: { src: 'work', onDone: 'done' } }, done: { type: 'final' } },
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  release = [];
});

function storePath(): string {
  const dir = tempDir('durastate-passivation-');
  cleanups.push(dir.remove);
  return dir.path;
}

async function open(path: string, clock: SimulatedClock, options: { recover?: boolean } = {}): Promise<Runtime> {
  const rt = await createRuntime({ store: lmdbStore({ path }), machines: [ticket, job], clock, passivateAfterMs: 1_000, ...options });
  cleanups.push(() => rt.close());
  return rt;
}

describe('passivation', () => {
  it('a waiting execution leaves memory when idle, and an event loads it again: nothing lost, the history goes on', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const events: RuntimeEvent[] = [];
    rt.events$.subscribe((e) => events.push(e));
    await rt.start('ticket', { id: 't1' });
    expect(rt.passivateIdle(Date.now())).toBe(0); // not idle yet
    expect(rt.passivateIdle(LATER())).toBe(1);
    expect((await rt.stats()).hosted).toBe(0);

    // Out of memory, the store still answers.
    const info = await rt.get('t1');
    expect(info).toMatchObject({ status: 'waiting', value: 'open', accepts: ['REPLY'], owner: rt.ownerId });
    expect(info?.timers.map((t) => t.dueAt.getTime())).toEqual([T0 + 3_600_000]);
    expect((await rt.history('t1')).map((h) => h.seq)).toEqual([0]);
    const progress = await firstValueFrom(rt.progress$('t1'));
    expect(progress).toMatchObject({ id: 't1', seq: 0, status: 'waiting' });

    expect(await rt.send('t1', { type: 'REPLY', text: 'fixed' })).toEqual({ seq: 1, duplicate: false });
    expect((await rt.stats()).hosted).toBe(1);
    expect((await rt.get('t1'))?.context).toEqual({ reminders: 0, reply: 'fixed' });
    await rt.send('t1', { type: 'CLOSE' });
    expect(await rt.wait('t1')).toEqual({ reminders: 0, reply: 'fixed' });
    expect((await rt.history('t1')).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init', 'REPLY', 'CLOSE']);
    await new Promise((r) => setTimeout(r, 5));
    expect(events.filter((e) => e.type === 'passivated' || e.type === 'woken').map((e) => e.type)).toEqual(['passivated']);
  });

  it('a due timer wakes a passivated execution at its due time, not before, and it fires once', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const woken: string[] = [];
    rt.events$.pipe(filter((e) => e.type === 'woken')).subscribe((e) => woken.push(e.id));
    await rt.start('ticket', { id: 't2' });
    await rt.start('ticket', { id: 't3' });
    await clock.advance(1_800_000); // t3 is moved to a later due time by a reply and back
    expect(rt.passivateIdle(LATER())).toBe(2);

    await clock.advanceTo(T0 + 3_600_000 - 1);
    expect((await rt.get('t2'))?.context).toEqual({ reminders: 0 });
    expect(woken).toEqual([]);
    await clock.advanceTo(T0 + 3_600_000);
    await committed(rt);
    expect((await rt.get('t2'))?.context).toEqual({ reminders: 1 });
    expect((await rt.get('t3'))?.context).toEqual({ reminders: 1 });
    expect(woken.sort()).toEqual(['t2', 't3']);
    // Re-armed in memory for the next hour; passivated again, the store's timer wakes it again.
    expect(rt.passivateIdle(LATER())).toBe(2);
    await clock.advanceTo(T0 + 2 * 3_600_000);
    await committed(rt);
    expect((await rt.get('t2'))?.context).toEqual({ reminders: 2 });
    expect((await rt.history('t2')).map((h) => h.seq)).toEqual([0, 1, 2]);
  });

  it('an execution with an effect in flight is not passivated (it is running), one that waits beside it is', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    await rt.start('job', { id: 'j1' });
    await rt.start('ticket', { id: 't4' });
    await until(() => release.length === 1);
    expect(rt.passivateIdle(LATER())).toBe(1); // only the ticket
    expect((await rt.stats()).hosted).toBe(1);
    release[0]?.();
    expect(await rt.wait('j1')).toBeNull();
  });

  it('another runtime on the store sends to a passivated execution through the inbox: its owner loads it and applies the event', async () => {
    const clock = simulatedClock(T0);
    const path = storePath();
    const owner = await open(path, clock);
    await owner.start('ticket', { id: 't5' });
    expect(owner.passivateIdle(LATER())).toBe(1);
    const other = await createRuntime({ store: lmdbStore({ path }), machines: [ticket, job], clock, recover: false });
    cleanups.push(() => other.close());
    expect(await other.send('t5', { type: 'REPLY', text: 'via inbox' })).toEqual({ seq: 1, duplicate: false });
    expect((await owner.stats()).hosted).toBe(1);
    expect((await other.stats()).hosted).toBe(0);
    expect((await owner.get('t5'))?.context).toMatchObject({ reply: 'via inbox' });
  });
});

describe('recovery of many executions', () => {
  it('restores every running one, claims every waiting one without loading it, and leaves none behind', async () => {
    const clock = simulatedClock(T0);
    const path = storePath();
    // More running ones than one recovery page (1,000) holds; fewer waiting ones (each is woken below).
    const RUNNING = 1_100;
    const N = 300;
    const first = await open(path, clock);
    for (let i = 0; i < RUNNING; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => first.start('job', { id: `j${i + j}` })));
    for (let i = 0; i < N; i++) await first.start('ticket', { id: `t${i}` });
    await first.close();
    release = [];

    const rt = await open(path, clock);
    const stats = await rt.stats();
    expect(stats.byStatus).toMatchObject({ running: RUNNING, waiting: N });
    expect(stats.hosted).toBe(RUNNING); // the running ones
    for (let cursor: string | undefined, pages = 0; pages === 0 || cursor; pages++) {
      const page = await rt.list({ limit: 1_000, ...(cursor ? { cursor } : {}) });
      expect(page.items.filter((i) => i.owner !== rt.ownerId).map((i) => i.id)).toEqual([]);
      cursor = page.cursor;
    }
    // Every running one was restored with its effect restarted; finish them all.
    await until(() => release.length === RUNNING);
    release.forEach((r) => r());
    for (let i = 0; i < RUNNING; i++) expect(await rt.wait(`j${i}`)).toBeNull();
    // Every waiting one answers an event, and its timer later.
    for (let i = 0; i < N; i += 2) await rt.send(`t${i}`, { type: 'REPLY', text: `r${i}` });
    await clock.advanceTo(T0 + 3_600_000);
    await committed(rt);
    const tickets = await Promise.all(Array.from({ length: N }, (_, i) => rt.get(`t${i}`)));
    expect(tickets.filter((t, i) => (i % 2 === 0 ? t?.value !== 'answered' : t?.context === null || (t?.context as { reminders: number }).reminders !== 1))).toEqual([]);
    expect((await rt.stats()).byStatus).toMatchObject({ completed: RUNNING, waiting: N, running: 0 });
  });

  it('the events of recovery: one `recovered` per execution taken over', async () => {
    const clock = simulatedClock(T0);
    const path = storePath();
    const first = await open(path, clock);
    await first.start('job', { id: 'ja' });
    await first.start('ticket', { id: 'ta' });
    await first.close();
    release = [];
    const rt = await open(path, clock, { recover: false });
    const seen = firstValueFrom(rt.events$.pipe(filter((e) => e.type === 'recovered'), take(2), toArray()));
    expect(await rt.recover()).toBe(2);
    expect((await seen).map((e) => e.id).sort()).toEqual(['ja', 'ta']);
  });
});

async function until(done: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}
