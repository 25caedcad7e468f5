/**
 * The open gate (src/store/openGate.ts): a process opens an LMDB store only while every other
 * open handle of it holds back its writes, because lmdb-js loses a commit of another process
 * that lands while an environment is being opened (README, "Known defect"). Real folders, real
 * processes for the ones that are gone; bench/lmdbDefect.mjs with LMDB_GATE=1 is the stress run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StoreBusyError, lmdbStore } from '../src/index.js';
import { enterOpen, registerWriter, type WriterHooks } from '../src/store/openGate.js';
import { builtFixture, Child, killAllChildren } from './fixtures/crashChild.js';
import { tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const c of cleanups.splice(0).reverse()) await c();
});

let HOLDER = '';
beforeAll(() => {
  HOLDER = builtFixture('gateHolder');
});

function dir(): string {
  const d = tempDir('durastate-gate-');
  cleanups.push(d.remove);
  return d.path;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

/** Hooks whose hold resolves when the test says so, recording what happened. */
function hooks(): WriterHooks & { events: string[]; drained: () => void } {
  const events: string[] = [];
  let drained = (): void => undefined;
  return {
    events,
    drained: () => drained(),
    hold: () => {
      events.push('hold');
      return new Promise<void>((resolve) => (drained = resolve));
    },
    release: () => events.push('release'),
  };
}

function register(path: string, h: WriterHooks): void {
  const registration = registerWriter(path, h);
  cleanups.push(() => registration.close());
}

describe('the open gate', () => {
  it('an open waits until every open handle has held back its writes, and they write again once it is done', async () => {
    const path = dir();
    mkdirSync(join(path, 'gate', 'writers'), { recursive: true });
    const a = hooks();
    const b = hooks();
    register(path, a);
    register(path, b);
    let entered = false;
    const opening = enterOpen(path).then((done) => {
      entered = true;
      return done;
    });
    await vi.waitFor(() => expect([a.events, b.events]).toEqual([['hold'], ['hold']]));
    a.drained();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(entered).toBe(false); // b still has writes in flight
    b.drained();
    const done = await opening;
    expect([a.events, b.events]).toEqual([['hold'], ['hold']]);
    done();
    await vi.waitFor(() => expect([a.events, b.events]).toEqual([['hold', 'release'], ['hold', 'release']]));
    expect(existsSync(join(path, 'gate', 'opening'))).toBe(false);
  });

  it('a handle answers an open that begins right after another ended, while it still holds', async () => {
    const path = dir();
    mkdirSync(join(path, 'gate', 'writers'), { recursive: true });
    const a = hooks();
    register(path, a);
    const first = enterOpen(path);
    await vi.waitFor(() => expect(a.events).toEqual(['hold']));
    a.drained();
    const done = await first;
    done();
    // The next open, before the handle looked again: it must not wait for a fresh hold.
    const second = await enterOpen(path, 2_000);
    second();
    await vi.waitFor(() => expect(a.events.at(-1)).toBe('release'));
  });

  it('a handle of a process that is gone does not hold up an open, and its file is removed', async () => {
    const path = dir();
    const pid = deadPid();
    mkdirSync(join(path, 'gate', 'writers'), { recursive: true });
    writeFileSync(join(path, 'gate', 'writers', `${pid}-1`), `${pid} 1`);
    const done = await enterOpen(path, 2_000);
    done();
    expect(readdirSync(join(path, 'gate', 'writers'))).toEqual([]);
  });

  it('a handle whose pid now names another process (another start time) does not hold up an open', async () => {
    const path = dir();
    mkdirSync(join(path, 'gate', 'writers'), { recursive: true });
    writeFileSync(join(path, 'gate', 'writers', `${process.pid}-999`), `${process.pid} 1`);
    const done = await enterOpen(path, 2_000);
    done();
    expect(readdirSync(join(path, 'gate', 'writers'))).toEqual([]);
  });

  it('a store copied with its gate files does not wait for the processes of the original', async () => {
    const path = dir();
    mkdirSync(join(path, 'gate', 'writers'), { recursive: true });
    // Live processes (this one), but of another folder: a copy taken while they ran.
    writeFileSync(join(path, 'gate', 'writers', `${process.pid}-999`), `${process.pid} \n/elsewhere/store`);
    mkdirSync(join(path, 'gate', 'opening'));
    writeFileSync(join(path, 'gate', 'opening', 'owner'), `${process.pid} x\n/elsewhere/store`);
    const done = await enterOpen(path, 2_000);
    done();
    expect(readdirSync(join(path, 'gate', 'writers'))).toEqual([]);
  });

  it('an opener that died releases the handles it held and does not hold up the next open', async () => {
    const path = dir();
    mkdirSync(join(path, 'gate', 'writers'), { recursive: true });
    const a = hooks();
    register(path, a);
    const pid = deadPid();
    mkdirSync(join(path, 'gate', 'opening'));
    writeFileSync(join(path, 'gate', 'opening', 'owner'), `${pid} 1`);
    await vi.waitFor(() => expect(a.events).toEqual(['hold']));
    a.drained();
    await vi.waitFor(() => expect(a.events).toEqual(['hold', 'release']));
    expect(existsSync(join(path, 'gate', 'opening'))).toBe(false);
    const next = enterOpen(path, 2_000);
    await vi.waitFor(() => expect(a.events).toEqual(['hold', 'release', 'hold']));
    a.drained();
    (await next)();
  });

  it('an open that a live handle never answers fails with StoreBusyError naming its pid, and leaves nothing behind', async () => {
    const path = dir();
    mkdirSync(join(path, 'gate', 'writers'), { recursive: true });
    register(path, hooks()); // never drained
    const err = await enterOpen(path, 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreBusyError);
    expect(err).toMatchObject({ code: 'STORE_BUSY', pid: process.pid });
    expect(existsSync(join(path, 'gate', 'opening'))).toBe(false);
  });

  it('two opens at once take turns', async () => {
    const path = dir();
    const first = await enterOpen(path, 2_000);
    let second = false;
    const next = enterOpen(path, 2_000).then((done) => {
      second = true;
      return done;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(second).toBe(false);
    first();
    (await next)();
    expect(second).toBe(true);
  });
});

/** Another process opening the store: this process stands in for it (alive, so not stale). */
function openingBy(path: string): () => void {
  mkdirSync(join(path, 'gate', 'opening'));
  writeFileSync(join(path, 'gate', 'opening', 'owner'), `${process.pid} `);
  return () => rmSync(join(path, 'gate', 'opening'), { recursive: true });
}

const answered = (path: string): boolean => readdirSync(join(path, 'gate', 'opening')).some((f) => f.startsWith('ack-'));
const owner = (id: string) => ({ id, pid: 1, host: 'h', leaseUntil: 1, startedAt: 0 });

describe('an lmdbStore while another process opens its store', () => {
  it('holds back every kind of write until that open is done, then commits them', async () => {
    const path = dir();
    const store = lmdbStore({ path });
    await store.open();
    cleanups.push(() => store.close());
    await store.registerOwner(owner('gone'));
    const opened = openingBy(path);
    await vi.waitFor(() => expect(answered(path)).toBe(true));
    const settled: string[] = [];
    const writes = [
      store.registerOwner(owner('o1')).then(() => settled.push('registerOwner')),
      store.removeOwner('gone').then(() => settled.push('removeOwner')),
      store.appendInbox('e1', { n: '1', event: { type: 'GO' }, at: 1 }).then(() => settled.push('appendInbox')),
      store.claim('e1', 'o1', 1).then(() => settled.push('claim')),
      store.sweepInbox(0).then(() => settled.push('sweepInbox')),
    ];
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(settled).toEqual([]);
    expect(await store.getOwner('o1')).toBeUndefined();
    expect(await store.getOwner('gone')).toBeDefined();
    opened();
    await Promise.all(writes);
    expect(settled.sort()).toEqual(['appendInbox', 'claim', 'registerOwner', 'removeOwner', 'sweepInbox']);
    expect(await store.getOwner('o1')).toMatchObject({ id: 'o1' });
    expect(await store.getOwner('gone')).toBeUndefined();
  });

  it('answers only once a write it had in flight is committed', async () => {
    const path = dir();
    const store = lmdbStore({ path });
    await store.open();
    cleanups.push(() => store.close());
    const write = store.registerOwner(owner('o2'));
    const opened = openingBy(path); // in the same turn as the write
    await vi.waitFor(() => expect(answered(path)).toBe(true));
    expect(await store.getOwner('o2')).toMatchObject({ id: 'o2' });
    opened();
    await write;
  });

  it('opened twice at once, it opens once and registers one handle', async () => {
    const path = dir();
    const store = lmdbStore({ path });
    await Promise.all([store.open(), store.open()]);
    expect(readdirSync(join(path, 'gate', 'writers'))).toHaveLength(1);
    await store.close();
    expect(readdirSync(join(path, 'gate', 'writers'))).toEqual([]);
  });

  it('closes only in a turn of its own', async () => {
    const path = dir();
    const store = lmdbStore({ path });
    await store.open();
    const opened = openingBy(path);
    let closed = false;
    const closing = store.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(closed).toBe(false);
    opened();
    await closing;
    expect(readdirSync(join(path, 'gate', 'writers'))).toEqual([]);
  });
});

describe('processes of the gate killed with SIGKILL, and one writing while this one opens', () => {
  it('an opener killed in its turn does not keep the next one from opening', async () => {
    const path = dir();
    const child = new Child(HOLDER, [path, 'turn']);
    await child.waitForLine((l) => l === 'TURN', 'TURN', 30_000);
    child.proc.kill('SIGKILL');
    await child.closed;
    const store = lmdbStore({ path, openTimeout: 5_000 });
    await store.open();
    await store.close();
    expect(existsSync(join(path, 'gate', 'opening'))).toBe(false);
  });

  it('a store killed while writing does not keep the next one from opening, and every write it saw committed is there', async () => {
    const path = dir();
    const child = new Child(HOLDER, [path, 'store']);
    await child.waitForLine((l) => l === 'W 20', 'W 20', 30_000);
    child.proc.kill('SIGKILL');
    await child.closed;
    const acknowledged = child.lines.filter((l) => l.startsWith('W ')).length;
    const store = lmdbStore({ path, openTimeout: 5_000 });
    await store.open();
    cleanups.push(() => store.close());
    for (let n = 1; n <= acknowledged; n++) expect(await store.getOwner(`w${n}`)).toBeDefined();
    expect(readdirSync(join(path, 'gate', 'writers'))).toHaveLength(1); // this one's; the dead one's removed
  });

  it('a process writing all along holds back for each of 20 opens of this one, and loses nothing', async () => {
    const path = dir();
    const child = new Child(HOLDER, [path, 'store']);
    await child.waitForLine((l) => l === 'W 1', 'W 1', 30_000);
    for (let i = 0; i < 20; i++) {
      const store = lmdbStore({ path, openTimeout: 5_000 });
      await store.open();
      await store.close();
    }
    const before = child.lines.filter((l) => l.startsWith('W ')).length;
    await child.waitForLine((l) => l === `W ${before + 5}`, 'five more writes', 30_000); // it writes again
    child.proc.kill('SIGKILL');
    await child.closed;
    const acknowledged = child.lines.filter((l) => l.startsWith('W ')).length;
    const store = lmdbStore({ path });
    await store.open();
    cleanups.push(() => store.close());
    const missing: number[] = [];
    for (let n = 1; n <= acknowledged; n++) if ((await store.getOwner(`w${n}`)) === undefined) missing.push(n);
    expect({ acknowledged, missing }).toEqual({ acknowledged, missing: [] });
  });
});
