/**
 * Leases: two processes sharing one LMDB environment never run the same execution at once.
 *
 * A real child process (dist/test/fixtures/leaseHolder.js) owns an execution; this process opens
 * a runtime on the same LMDB path and tries to run it. While the owner lives and its lease is
 * valid every attempt gets an ExecutionLockedError naming it; once the owner is dead (SIGKILL)
 * or its lease has expired (a stalled, SIGSTOPped process whose pid is still alive), this process
 * takes the execution over and continues its history where the owner left it.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, DurastateError, ExecutionLockedError, lmdbStore, type Runtime } from '../src/index.js';
import { builtFixture, Child, killAllChildren } from './fixtures/crashChild.js';
import { stepsMachine } from './fixtures/machines.js';
import { tempDir } from './helpers.js';

let HOLDER = '';
beforeAll(() => {
  HOLDER = builtFixture('leaseHolder');
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Holder {
  child: Child;
  pid: number;
  owner: string;
  seq: number;
}

function newStorePath(): { dir: string; path: string } {
  const dir = tempDir('durastate-lease-');
  cleanups.push(() => dir.remove());
  return { dir: dir.path, path: join(dir.path, 'db') };
}

async function startHolder(path: string, id: string, leaseMs: number, steps: number): Promise<Holder> {
  const child = new Child(HOLDER, [path, id, String(leaseMs), String(steps)]);
  const ready = await child.waitForLine((l) => l.startsWith('READY '), 'READY');
  const info = JSON.parse(ready.slice('READY '.length)) as { pid: number; owner: string; seq: number };
  expect(info.pid).toBe(child.pid);
  expect(info.seq).toBe(steps);
  return { child, ...info };
}

async function openRuntime(path: string, leaseMs?: number): Promise<Runtime> {
  const rt = await createRuntime({ store: lmdbStore({ path }), machines: [stepsMachine], ...(leaseMs ? { leaseMs } : {}) });
  cleanups.push(() => rt.close());
  return rt;
}

/** Asks the holder to send STEP n; resolves with its answer line. */
async function holderStep(holder: Holder, n: number): Promise<string> {
  const before = holder.child.lines.length;
  holder.child.send(`STEP ${n}`);
  return holder.child.waitForLine((l) => (l.startsWith('SENT ') || l.startsWith('REJECTED ')) && holder.child.lines.indexOf(l, before) >= before, `an answer to STEP ${n}`);
}

async function expectLocked(attempt: Promise<unknown>, id: string, holder: Holder): Promise<void> {
  const err = await attempt.then(
    () => {
      throw new Error(`expected ExecutionLockedError for ${id}, the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExecutionLockedError);
  const locked = err as ExecutionLockedError;
  expect(locked).toBeInstanceOf(DurastateError);
  expect(locked.code).toBe('EXECUTION_LOCKED');
  expect(locked.executionId).toBe(id);
  expect(locked.owner.id).toBe(holder.owner);
  expect(locked.owner.pid).toBe(holder.pid);
  expect(locked.message).toContain(id);
  expect(locked.message).toContain(`pid ${holder.pid}`);
}

/** The STEP n values of the history, in seq order, after checking seqs are 0..N contiguous. */
async function stepsInHistory(rt: Runtime, id: string): Promise<number[]> {
  const history = await rt.history(id);
  expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i));
  expect((history[0]!.event as { type: string }).type).toBe('xstate.init');
  return history.slice(1).map((h) => {
    const event = h.event as { type: string; n: number };
    expect(event.type).toBe('STEP');
    return event.n;
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stalls the holder (its event loop blocked, then SIGSTOP: no lease renewal, pid alive), waits
 * until its lease has expired, and takes the execution over in `rt` through recovery.
 */
async function stallAndTakeOver(rt: Runtime, holder: Holder, id: string, resumeFile: string): Promise<void> {
  holder.child.send(`HANG ${resumeFile}`);
  await holder.child.waitForLine((l) => l === 'HANGING', 'HANGING');
  // Its event loop is blocked now; give a renewal commit already handed to LMDB's write thread
  // time to finish, so the stopped process cannot hold the LMDB write lock.
  await sleep(100);
  expect(holder.child.signal('SIGSTOP')).toBe(true);

  const record = await rt.store.getOwner(holder.owner);
  expect(record, 'the stalled holder still has its owner record').toBeDefined();
  const leaseUntil = record!.leaseUntil;
  // While its lease runs the execution stays locked (checked only with a wide margin, so that a
  // slow machine does not turn this into a timing assertion).
  if (leaseUntil - Date.now() > 250) {
    await expectLocked(rt.cancel(id), id, holder);
    expect(await rt.recover()).toBe(0);
  }
  const wait = leaseUntil - Date.now() + 30;
  if (wait > 0) await sleep(wait);
  expect((await rt.store.getOwner(holder.owner))?.leaseUntil, 'a stopped process cannot renew').toBe(leaseUntil);
  expect(pidAlive(holder.pid), 'the holder process still exists (stopped)').toBe(true);

  // Lease expired: recovery takes the execution although its owner's process still exists.
  await rt.recover();
  expect((await rt.get(id))?.owner).toBe(rt.ownerId);
  // Claimed, not loaded: a waiting execution stays passivated until an event or a timer.
  expect((await rt.stats()).hosted).toBe(0);
}

describe('leases: one execution, one process at a time', () => {
  it('a live owner keeps its execution: others send through its inbox, cancel/delete are ExecutionLockedError naming it; taken over once it is SIGKILLed', async () => {
    const { path } = newStorePath();
    const id = 'leased-1';
    const holder = await startHolder(path, id, 30_000, 3);

    // Recovery at start and later recover() calls leave an execution with a live owner alone.
    const rt = await openRuntime(path);
    expect((await rt.stats()).hosted).toBe(0);
    expect(await rt.recover()).toBe(0);
    const info = await rt.get(id);
    expect(info).toMatchObject({ status: 'waiting', seq: 3, owner: holder.owner });

    await expectLocked(rt.cancel(id, 'not yours'), id, holder);
    await expectLocked(rt.delete(id), id, holder);

    // Nothing changed, and the owner is still the owner: it keeps running the execution.
    expect(await rt.get(id)).toMatchObject({ status: 'waiting', seq: 3, owner: holder.owner });
    expect(await holderStep(holder, 3)).toBe('SENT 4');
    expect(await rt.get(id)).toMatchObject({ seq: 4, owner: holder.owner });

    // A send from this process goes through the execution's inbox: the owner applies it, and
    // the call resolves with the seq the owner committed.
    expect(await rt.send(id, { type: 'STEP', n: 99 })).toEqual({ seq: 5, duplicate: false });
    expect(await rt.get(id)).toMatchObject({ seq: 5, owner: holder.owner });
    expect((await rt.stats()).hosted).toBe(0);

    // The owner dies: its lease is still valid, but its pid is gone, so this process takes over
    // at once, and continues the history where the owner left it.
    expect((await holder.child.kill()).signal).toBe('SIGKILL');
    expect(pidAlive(holder.pid)).toBe(false);
    await rt.send(id, { type: 'STEP', n: 100 });
    await rt.send(id, { type: 'STEP', n: 101 });
    expect(await rt.get(id)).toMatchObject({ status: 'waiting', seq: 7, owner: rt.ownerId });
    expect(await stepsInHistory(rt, id)).toEqual([0, 1, 2, 3, 99, 100, 101]);
    const context = (await rt.get(id))!.context as { done: number; log: string[] };
    expect(context.done).toBe(7);
    expect(context.log).toEqual(['step 1 (n=0)', 'step 2 (n=1)', 'step 3 (n=2)', 'step 4 (n=3)', 'step 5 (n=99)', 'step 6 (n=100)', 'step 7 (n=101)']);
  });

  it('an owner that closes cleanly hands its executions over at once', async () => {
    const { path } = newStorePath();
    const id = 'leased-2';
    const holder = await startHolder(path, id, 30_000, 2);
    holder.child.proc.stdin!.end();
    expect(await holder.child.closed).toEqual({ code: 0, signal: null });

    const rt = await openRuntime(path);
    expect((await rt.get(id))?.owner, 'recovered at start').toBe(rt.ownerId);
    expect((await rt.stats()).hosted, 'waiting: claimed, passivated').toBe(0);
    await rt.send(id, { type: 'STEP', n: 7 });
    expect(await stepsInHistory(rt, id)).toEqual([0, 1, 7]);
  });

  it('an owner that stops renewing (stalled, SIGSTOPped, pid alive) is taken over once its lease expires', async () => {
    const { dir, path } = newStorePath();
    const id = 'leased-3';
    const holder = await startHolder(path, id, 500, 2);
    const rt = await openRuntime(path);
    expect((await rt.get(id))?.owner).toBe(holder.owner);

    await stallAndTakeOver(rt, holder, id, join(dir, 'resume'));
    await rt.send(id, { type: 'STEP', n: 50 });
    await rt.send(id, { type: 'STEP', n: 51 });
    expect(await rt.get(id)).toMatchObject({ status: 'waiting', seq: 4, owner: rt.ownerId });
    expect(await stepsInHistory(rt, id)).toEqual([0, 1, 50, 51]);
    expect(pidAlive(holder.pid)).toBe(true);
  });

  it('a stalled owner that wakes up after the takeover cannot write to the execution any more: its send goes through the new owner\'s inbox', async () => {
    const { dir, path } = newStorePath();
    const id = 'leased-4';
    const holder = await startHolder(path, id, 500, 2);
    const rt = await openRuntime(path);
    const resumeFile = join(dir, 'resume');

    await stallAndTakeOver(rt, holder, id, resumeFile);
    await rt.send(id, { type: 'STEP', n: 50 });
    expect(await stepsInHistory(rt, id)).toEqual([0, 1, 50]);

    // The old owner wakes up, still hosting the execution in memory, and tries to move it on.
    expect(holder.child.signal('SIGCONT')).toBe(true);
    writeFileSync(resumeFile, '');
    expect(existsSync(resumeFile)).toBe(true);
    await holder.child.waitForLine((l) => l === 'RESUMED', 'RESUMED');
    const answer = await holderStep(holder, 999);
    // Its own write is fenced off (the execution belongs to this process now): the event goes
    // through this process's inbox instead, and this process applies it, once, after step 50.
    expect(answer).toBe('SENT 4');
    expect(await rt.get(id)).toMatchObject({ seq: 4, owner: rt.ownerId });
    expect(await stepsInHistory(rt, id)).toEqual([0, 1, 50, 999]);
    await rt.send(id, { type: 'STEP', n: 51 });
    expect(await stepsInHistory(rt, id)).toEqual([0, 1, 50, 999, 51]);
    const context = (await rt.get(id))!.context as { log: string[] };
    expect(context.log).toEqual(['step 1 (n=0)', 'step 2 (n=1)', 'step 3 (n=50)', 'step 4 (n=999)', 'step 5 (n=51)']);
  });

  it('progress of an execution another process runs is seen from this one', async () => {
    const { path } = newStorePath();
    const id = 'watched';
    const holder = await startHolder(path, id, 30_000, 2);
    const rt = await openRuntime(path);
    expect((await rt.stats()).hosted).toBe(0);
    const seen: number[] = [];
    const sub = rt.progress$(id).subscribe((p) => seen.push(p.seq));
    for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(10);
    expect(seen[0]).toBe(2);
    expect(await holderStep(holder, 2)).toBe('SENT 3');
    expect(await holderStep(holder, 3)).toBe('SENT 4');
    for (let i = 0; i < 100 && !seen.includes(4); i++) await sleep(10);
    sub.unsubscribe();
    // Followed through the store: every committed seq at most once, in order, ending at 4.
    expect(seen.at(-1)).toBe(4);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
    expect((await rt.stats()).hosted).toBe(0);
  });
});

