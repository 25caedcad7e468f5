/**
 * Adversarial tests of passivation and the waker: each names the interleaving it attacks. Real LMDB in a temporary
 * folder, simulated clock. Some tests wrap the store in a proxy that makes chosen reads take a
 * macrotask (as a networked store, e.g. the planned PostgreSQL one, would): the `Store` interface
 * is asynchronous and the runtime's correctness must not depend on LMDB answering in microtasks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fromPromise, setup } from 'xstate';
import { createRuntime, lmdbStore, simulatedClock, type Runtime, type SimulatedClock, type Store } from '../src/index.js';
import { committed } from './fixtures/timerSettle.js';
import { tempDir } from './helpers.js';
import { ticketMachine as ticket } from './fixtures/ticketMachine.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const LATER = (): number => Date.now() + HOUR;


/** A machine with a 1-minute timer: registered in one runtime only, blocked in the other. */
const minute = setup({}).createMachine({
  id: 'minute',
  initial: 'a',
  states: { a: { after: { 60_000: 'b' } }, b: {} },
});

/** Running (an effect in flight, never passivated) with a 30-minute timeout. */
const slow = setup({
  actors: { work: fromPromise(() => new Promise<string>(() => {})) },
}).createMachine({
  id: 'slow',
  initial: 'working',
  states: { working: { invoke: { src: 'work', onDone: 'done' }, after: { 1_800_000: 'timedOut' } }, done: { type: 'final' }, timedOut: { type: 'final' } },
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function storePath(): string {
  const dir = tempDir('durastate-passivation-review-');
  cleanups.push(dir.remove);
  return dir.path;
}

/** Closes, giving up after `ms` (a close that hangs is itself a finding; the test must go on). */
async function closeWithin(rt: Runtime, ms = 2_000): Promise<'closed' | 'hung'> {
  return Promise.race([rt.close().then(() => 'closed' as const), new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms).unref())]);
}

async function open(
  store: Store,
  clock: SimulatedClock,
  options: { recover?: boolean; machines?: Parameters<typeof createRuntime>[0] extends infer O ? (O extends { machines?: infer M } ? M : never) : never; leaseMs?: number } = {},
): Promise<Runtime> {
  const rt = await createRuntime({ store, machines: options.machines ?? [ticket], clock, passivateAfterMs: 1_000, ...options });
  cleanups.push(async () => void (await closeWithin(rt)));
  return rt;
}

/** Private members, for the few tests that drive the waker's callback directly. */
interface Internals {
  wakeMany(ids: string[]): Promise<{ loaded: number; refused: string[] }>;
  waker: { stop(): void; check(): Promise<void> };
  wakerTimer: NodeJS.Timeout;
}
const internals = (rt: Runtime): Internals => rt as unknown as Internals;

/**
 * The LMDB store behind a proxy: `slow` names methods whose calls take a macrotask first (as a
 * store over the network would); `fail` names methods whose next call rejects; `calls` records
 * the ids each claim touched.
 */
function proxied(path: string): { store: Store; slow: Set<string>; fail: Set<string>; claims: string[]; hooks: Map<string, () => void> } {
  const inner = lmdbStore({ path });
  const slow = new Set<string>();
  const fail = new Set<string>();
  const claims: string[] = [];
  const hooks = new Map<string, () => void>();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const name = String(prop);
      return async (...args: unknown[]) => {
        if (name === 'claim') claims.push(args[0] as string);
        if (name === 'claimMany') claims.push(...(args[0] as string[]));
        hooks.get(name)?.();
        if (fail.has(name)) {
          fail.delete(name);
          throw new Error(`injected failure of ${name}`);
        }
        if (slow.has(name)) await new Promise((r) => setImmediate(r));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, slow, fail, claims, hooks };
}

/**
 * Another deployment's runtime leaves `blocked` executions of a machine this one does not run,
 * their one-minute timers overdue by the time a ticket here sleeps past its reminder: the
 * reminders the ticket got once the waker has looked (and, with `poll`, the 1-second poll too).
 */
async function sleeperBehindBlocked(blocked: number, poll: boolean): Promise<unknown> {
  const path = storePath();
  const other = await open(lmdbStore({ path }), simulatedClock(T0), { machines: [minute] });
  await Promise.all(Array.from({ length: blocked }, (_, i) => other.start('minute', { id: `m${String(i).padStart(4, '0')}` })));
  await other.close();

  const clock = simulatedClock(T0);
  const rt = await open(lmdbStore({ path }), clock);
  await rt.start('ticket', { id: 't' });
  expect(rt.passivateIdle(LATER())).toBe(1);
  await clock.advanceTo(T0 + HOUR + 1);
  await committed(rt);
  // The 1-second poll repeats the same scan.
  if (poll) await new Promise((r) => setTimeout(r, 1_200));
  await internals(rt).waker.check();
  await clock.advance(1); // the restored execution's overdue timer fires on the next tick
  await committed(rt);
  return (await rt.get('t'))?.context;
}

describe('the waker finds every due sleeper', () => {
  it('256 overdue timers of executions it cannot run (machine not registered here) do not hide a due sleeper behind them', async () => {
    expect(await sleeperBehindBlocked(256, true)).toEqual({ reminders: 1 });
  }, 20_000);

  it('2,100 overdue timers of executions it cannot run, more than one page of the timers table, do not hide a due sleeper behind them', async () => {
    expect(await sleeperBehindBlocked(2_100, false)).toEqual({ reminders: 1 });
  }, 30_000);

  it('256 future timers of hosted executions do not keep the waker from arming the clock for a sleeper due after them', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(lmdbStore({ path: storePath() }), clock, { machines: [ticket, slow] });
    // Only the clock-armed wake is under test: the 1-second real-time poll is a fallback (it
    // would find the sleeper up to a second late on a real clock).
    clearInterval(internals(rt).wakerTimer);
    await Promise.all(Array.from({ length: 256 }, (_, i) => rt.start('slow', { id: `s${i}` }))); // hosted, timers at +30 min
    await rt.start('ticket', { id: 't' }); // timer at +1 h
    expect(rt.passivateIdle(LATER())).toBe(1); // the ticket only: the others are running
    await clock.advanceTo(T0 + HOUR + 1);
    await committed(rt);
    expect((await rt.stats()).byStatus).toMatchObject({ completed: 256 });
    expect((await rt.get('t'))?.context).toEqual({ reminders: 1 });
  }, 20_000);

  it('a sleeper due after a few hosted timers is woken by the armed clock, once', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(lmdbStore({ path: storePath() }), clock, { machines: [ticket, slow] });
    clearInterval(internals(rt).wakerTimer);
    await Promise.all(Array.from({ length: 10 }, (_, i) => rt.start('slow', { id: `s${i}` })));
    await rt.start('ticket', { id: 't' });
    expect(rt.passivateIdle(LATER())).toBe(1);
    await clock.advanceTo(T0 + HOUR + 1);
    await committed(rt);
    expect((await rt.get('t'))?.context).toEqual({ reminders: 1 });
    expect((await rt.history('t')).map((h) => h.seq)).toEqual([0, 1]);
  });
});

/**
 * A ticket `t` in a proxied LMDB store, passivated; `prepare` runs (the store and runtime in
 * hand), then the clock passes the ticket's timer.
 */
async function sleeperDue(prepare: (p: ReturnType<typeof proxied>, rt: Runtime) => void): Promise<{ clock: SimulatedClock; p: ReturnType<typeof proxied>; rt: Runtime }> {
  const clock = simulatedClock(T0);
  const p = proxied(storePath());
  const rt = await open(p.store, clock);
  await rt.start('ticket', { id: 't' });
  expect(rt.passivateIdle(LATER())).toBe(1);
  prepare(p, rt);
  await clock.advanceTo(T0 + HOUR + 1);
  return { clock, p, rt };
}

/** The waker left out: the test plays its part (the claims it makes counted from here). */
function stopWaker(p: ReturnType<typeof proxied>, rt: Runtime): void {
  internals(rt).waker.stop();
  clearInterval(internals(rt).wakerTimer);
  p.claims.length = 0;
}

/** The next whole-inbox read fails once (restoreBatch's). */
function failInboxRead(p: ReturnType<typeof proxied>): void {
  p.fail.add('pendingInbox');
}

describe('a wake that fails half-way', () => {
  it('a failed inbox read in restoreBatch does not leave the execution "loading": the next look wakes it', async () => {
    const { clock, rt } = await sleeperDue(failInboxRead);
    await committed(rt);
    // The store is fine again: the next look must wake it.
    await clock.advance(1_000);
    await internals(rt).waker.check();
    await clock.advance(1); // the restored execution's overdue timer fires on the next tick
    await committed(rt);
    expect((await rt.get('t'))?.context).toEqual({ reminders: 1 });
  });

  it('... and a send to it settles', async () => {
    const { rt } = await sleeperDue(failInboxRead);
    const sent = rt.send('t', { type: 'REPLY', text: 'hello' }).then(
      () => 'settled',
      () => 'settled',
    );
    expect(await Promise.race([sent, new Promise((r) => setTimeout(() => r('pending'), 1_000))])).toBe('settled');
  });

  it('... and close() resolves', async () => {
    const { rt } = await sleeperDue(failInboxRead);
    expect(await closeWithin(rt)).toBe('closed');
  });
});

describe('a send racing passivation or a wake', () => {
  it('a keyed send to a hosted execution that passivation unloads while the key is looked up loads it again and is applied', async () => {
    const clock = simulatedClock(T0);
    const p = proxied(storePath());
    const rt = await open(p.store, clock);
    await rt.start('ticket', { id: 't' });
    p.slow.add('sendKeySeq');
    let looked!: () => void;
    const lookup = new Promise<void>((r) => (looked = r));
    p.hooks.set('sendKeySeq', () => looked());
    const sent = rt.send('t', { type: 'REPLY', text: 'k' }, { key: 'k1' });
    await lookup;
    // The passivation interval fires while the key is being looked up.
    expect(rt.passivateIdle(LATER())).toBe(1);
    await expect(sent).resolves.toEqual({ seq: 1, duplicate: false });
  });

  it('a wake (waker → wakeMany) and a send to the same sleeping execution claim it once and load one HostedExecution', async () => {
    const { clock, p, rt } = await sleeperDue(stopWaker);
    p.slow.add('getMeta');
    const sent = rt.send('t', { type: 'REPLY', text: 'racing' });
    const woken = internals(rt).wakeMany(['t']);
    const [send, wake] = await Promise.allSettled([sent, woken]);
    await clock.advance(0);
    await committed(rt);
    p.slow.delete('getMeta');
    expect(send.status).toBe('fulfilled');
    expect(wake.status).toBe('fulfilled');
    expect(p.claims.filter((id) => id === 't')).toHaveLength(1);
    const info = await rt.get('t');
    expect(info?.value).toBe('answered');
    // And the execution is still usable afterwards.
    await expect(rt.send('t', { type: 'CLOSE' })).resolves.toMatchObject({ duplicate: false });
  });

  it('a send and a wake racing with LMDB answering in microtasks load it once', async () => {
    const { clock, p, rt } = await sleeperDue(stopWaker);
    const woken = internals(rt).wakeMany(['t']);
    const sent = rt.send('t', { type: 'REPLY', text: 'racing' });
    await Promise.all([woken, sent]);
    await clock.advance(0);
    await committed(rt);
    expect(p.claims.filter((id) => id === 't')).toHaveLength(1);
    expect((await rt.get('t'))?.value).toBe('answered');
    await expect(rt.send('t', { type: 'CLOSE' })).resolves.toMatchObject({ duplicate: false });
  });
});

describe('ownership', () => {
  it('a send to an execution hosted here whose claim another runtime took (lease lapsed) goes through the inbox of the new owner', async () => {
    const path = storePath();
    const clock = simulatedClock(T0);
    const a = await open(lmdbStore({ path }), clock, { leaseMs: 60_000 });
    await a.start('ticket', { id: 'x' });
    // A stalls past its lease; B, recovering, claims the waiting execution (passivated there).
    await a.store.renewOwner(a.ownerId, Date.now() - 1);
    const b = await open(lmdbStore({ path }), simulatedClock(T0), { recover: false });
    expect(await b.recover()).toBe(1);
    expect((await b.get('x'))?.owner).toBe(b.ownerId);
    // A comes back (its heartbeat renews the lease) and is sent an event for it.
    await a.store.renewOwner(a.ownerId, Date.now() + 60_000);
    await expect(a.send('x', { type: 'REPLY', text: 'after takeover' })).resolves.toEqual({ seq: 1, duplicate: false });
    expect((await b.get('x'))?.context).toMatchObject({ reply: 'after takeover' });
  });

  it('a wake does not claim an execution another live runtime passivated', async () => {
    const path = storePath();
    const clock = simulatedClock(T0);
    const a = await open(lmdbStore({ path }), clock);
    await a.start('ticket', { id: 'x' });
    expect(a.passivateIdle(LATER())).toBe(1);
    internals(a).waker.stop();
    clearInterval(internals(a).wakerTimer);
    const bClock = simulatedClock(T0);
    const b = await open(lmdbStore({ path }), bClock);
    await bClock.advanceTo(T0 + HOUR + 1);
    await internals(b).waker.check();
    expect(await internals(b).wakeMany(['x'])).toEqual({ loaded: 0, refused: ['x'] });
    expect((await b.get('x'))?.owner).toBe(a.ownerId);
    expect((await b.stats()).hosted).toBe(0);
  });
});
