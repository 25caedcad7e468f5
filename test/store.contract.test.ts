/**
 * The Store contract: one suite, run against every store configuration (LMDB, LMDB with
 * compression, memory), in the style of lmdb-js's own tests. Every method of the interface is
 * exercised through the interface only; LMDB is opened directly only to write a newer schema.
 */
import { ExecutionLockedError } from '../src/index.js';
import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EXECUTION_STATUSES,
  InvalidArgumentError,
  SCHEMA_VERSION,
  SchemaVersionError,
  type ExecutionMeta,
  type ExecutionStatus,
  type Json,
  type OwnerRecord,
  type PatchOperation,
  type Store,
  type TransitionWrite,
} from '../src/internal.js';
import { ExecWriter, type CreateOptions } from './fixtures/execWriter.js';
import { storeConfigs, tempDir, type StoreConfig } from './helpers.js';

const FINISHED: readonly ExecutionStatus[] = ['completed', 'failed', 'cancelled'];

/**
 * The shared writer with this suite's defaults: every execution is written with a parent (so that
 * `parent` round-trips through every method that returns meta) and a first keyframe of `{ n: 0 }`.
 */
class Exec extends ExecWriter {
  override create(at: number, options: CreateOptions = {}): TransitionWrite & { meta: ExecutionMeta } {
    return super.create(at, { parent: { id: `parent-of-${this.id}`, seq: 3 }, snapshot: { context: { n: 0 }, value: 'a' }, ...options });
  }
}

/** Creates an execution and appends `steps` transitions (keyframes at the given seqs). */
async function seed(store: Store, id: string, steps: number, options: { at?: number; machine?: string; keyframes?: number[] } = {}): Promise<Exec> {
  const exec = new Exec(id, options.machine);
  const at = options.at ?? 1_000;
  expect(await store.create(exec.create(at, { snapshot: { context: { n: 0, id }, value: 'a' } }))).toBe(true);
  for (let seq = 1; seq <= steps; seq++) {
    const keyframe = options.keyframes?.includes(seq) ? { context: { n: seq, id }, value: `s${seq}` } : undefined;
    await store.append(exec.next(at + seq, keyframe ? { keyframe } : {}));
  }
  return exec;
}

/** All pages of a listing, following cursors. */
async function allPages(store: Store, query: { status?: ExecutionStatus; machine?: string; limit: number }): Promise<{ pages: ExecutionMeta[][]; cursors: (string | undefined)[] }> {
  const pages: ExecutionMeta[][] = [];
  const cursors: (string | undefined)[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = await store.list({ ...query, ...(cursor !== undefined ? { cursor } : {}) });
    pages.push(page.items);
    cursors.push(page.cursor);
    expect(page.items.length).toBeLessThanOrEqual(query.limit);
    cursor = page.cursor;
    if (cursor === undefined) return { pages, cursors };
  }
  throw new Error('paging did not end');
}

function ids(metas: readonly ExecutionMeta[]): string[] {
  return metas.map((m) => m.id);
}

function sortedById(list: string[]): string[] {
  return [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function isCompressed(config: StoreConfig): boolean {
  return config.name.includes('compression');
}

/** A JSON value of about `bytes` bytes that does not compress to nothing. */
function bigValue(bytes: number, salt: string): Json {
  const items: Json[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const text = `${salt}-${i}-${((i * 2654435761) >>> 0).toString(36)}-${'xyz'.repeat(i % 7)}`;
    items.push({ i, text, even: i % 2 === 0, nested: { k: [i, text.length, null] } });
    size += text.length + 40;
  }
  return { salt, items };
}

describe.each(storeConfigs)('Store contract: $name', (config) => {
  let dir: { path: string; remove: () => void };
  let store: Store;

  beforeEach(async () => {
    dir = tempDir('durastate-contract-');
    store = config.make(dir.path);
    await store.open();
  });

  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  describe('open / close', () => {
    it('open is idempotent', async () => {
      await store.open();
      const exec = new Exec('x');
      expect(await store.create(exec.create(1))).toBe(true);
      await store.open();
      expect((await store.getMeta('x'))?.id).toBe('x');
    });

    it('has a kind', () => {
      expect(typeof store.kind).toBe('string');
      expect(store.kind.length).toBeGreaterThan(0);
    });
  });

  describe('create', () => {
    it('writes transition 0: meta, journal entry, keyframe, index', async () => {
      const exec = new Exec('e1', 'orders');
      const write = exec.create(1_000, { snapshot: { context: { n: 0 }, value: 'a' } });
      expect(await store.create(write)).toBe(true);
      expect(await store.getMeta('e1')).toEqual(write.meta);
      expect(await store.readJournal('e1')).toEqual([write.entry]);
      expect(await store.keyframeAtOrBefore('e1', 0)).toEqual({ seq: 0, snapshot: { context: { n: 0 }, value: 'a' } });
      expect((await store.countByStatus()).waiting).toBe(1);
      expect(ids((await store.list({ status: 'waiting' })).items)).toEqual(['e1']);
    });

    it('create of an existing id returns false and changes nothing', async () => {
      const first = new Exec('dup', 'm1');
      const original = first.create(1_000, { status: 'waiting', snapshot: { context: { who: 'first' }, value: 'a' } });
      expect(await store.create(original)).toBe(true);
      await store.append(first.next(1_001));

      const second = new Exec('dup', 'm2');
      const clash = second.create(5_000, { status: 'running', snapshot: { context: { who: 'second' }, value: 'b' } });
      expect(await store.create(clash)).toBe(false);

      expect(await store.getMeta('dup')).toEqual(first.meta);
      const journal = await store.readJournal('dup');
      expect(journal.map((e) => e.seq)).toEqual([0, 1]);
      expect(journal[0]).toEqual(original.entry);
      expect(await store.keyframeAtOrBefore('dup', 5)).toEqual({ seq: 0, snapshot: { context: { who: 'first' }, value: 'a' } });
      const counts = await store.countByStatus();
      expect(counts.waiting).toBe(1);
      expect(counts.running).toBe(0);
      expect(ids((await store.list({ status: 'running' })).items)).toEqual([]);
      expect(ids((await store.list({ machine: 'm2' })).items)).toEqual([]);
      expect(ids((await store.list({ status: 'waiting', machine: 'm1' })).items)).toEqual(['dup']);
    });

    it('two creates of one id issued in the same turn: exactly one wins, and it is what is stored', async () => {
      const a = new Exec('race', 'ma').create(1_000, { status: 'waiting', snapshot: { context: { who: 'a' }, value: 'a' } });
      const b = new Exec('race', 'mb').create(1_000, { status: 'running', snapshot: { context: { who: 'b' }, value: 'a' } });
      const results = await Promise.all([store.create(a), store.create(b)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results[0] ? a : b;
      expect(await store.getMeta('race')).toEqual(winner.meta);
      expect(await store.keyframeAtOrBefore('race', 0)).toEqual({ seq: 0, snapshot: winner.keyframe });
      expect(await store.readJournal('race')).toEqual([winner.entry]);
      const counts = await store.countByStatus();
      expect(counts.waiting + counts.running).toBe(1);
    });

    it('stores a copy: mutating what was written or what was read changes nothing', async () => {
      const exec = new Exec('copy');
      const write = exec.create(1_000, { snapshot: { context: { list: [1, 2] }, value: 'a' } });
      expect(await store.create(write)).toBe(true);
      write.meta.parent!.id = 'changed';
      ((write.keyframe as { context: { list: number[] } }).context.list).push(3);
      const read = await store.getMeta('copy');
      expect(read?.parent).toEqual({ id: 'parent-of-copy', seq: 3 });
      read!.parent!.id = 'changed again';
      expect((await store.getMeta('copy'))?.parent).toEqual({ id: 'parent-of-copy', seq: 3 });
      const kf = await store.keyframeAtOrBefore('copy', 0);
      expect(kf?.snapshot).toEqual({ context: { list: [1, 2] }, value: 'a' });
      ((kf!.snapshot as { context: { list: number[] } }).context.list).push(9);
      expect((await store.keyframeAtOrBefore('copy', 0))?.snapshot).toEqual({ context: { list: [1, 2] }, value: 'a' });
    });
    it('an object referenced twice in a written value comes back as two independent copies (as from a serialising store)', async () => {
      const shared = { list: [1] };
      const exec = new Exec('alias');
      const write = exec.create(1_000, { snapshot: { context: { a: shared, b: shared } } as unknown as Json });
      expect(await store.create(write)).toBe(true);
      const next = exec.next(1_001, {
        patch: [
          { op: 'add', path: '/context/c', value: shared as unknown as Json },
          { op: 'add', path: '/context/d', value: shared as unknown as Json },
        ],
      });
      await store.append(next);

      const kf = (await store.keyframeAtOrBefore('alias', 0))!.snapshot as { context: { a: { list: number[] }; b: { list: number[] } } };
      expect(kf.context.a).toEqual({ list: [1] });
      kf.context.a.list.push(2);
      expect(kf.context.b, 'keyframe: b must not change with a').toEqual({ list: [1] });

      const [entry] = await store.readJournal('alias', { from: 1 });
      const [c, d] = entry!.patch as unknown as { value: { list: number[] } }[];
      c!.value.list.push(2);
      expect(d!.value, 'patch: op values must not alias').toEqual({ list: [1] });
    });
  });

  describe('append', () => {
    it('writes each transition: meta follows, journal grows in order', async () => {
      const exec = await seed(store, 'ap', 5);
      const meta = await store.getMeta('ap');
      expect(meta).toEqual(exec.meta);
      expect(meta?.seq).toBe(5);
      const journal = await store.readJournal('ap');
      expect(journal.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(journal[3]?.patch).toEqual([{ op: 'replace', path: '/context/n', value: 3 }]);
      expect(journal[3]?.event).toEqual({ type: 'STEP', id: 'ap', seq: 3 });
    });

    it('writes issued in the same turn without awaiting all land, in issue order', async () => {
      const execs = Array.from({ length: 5 }, (_, i) => new Exec(`turn-${i}`));
      await Promise.all(execs.map((e, i) => store.create(e.create(1_000 + i))));
      const pending: Promise<void>[] = [];
      for (let step = 1; step <= 4; step++) {
        for (const exec of execs) pending.push(store.append(exec.next(2_000 + step, step === 4 ? { status: 'completed' } : {})));
      }
      await Promise.all(pending);
      for (const exec of execs) {
        const meta = await store.getMeta(exec.id);
        expect(meta?.seq).toBe(4);
        expect(meta?.status).toBe('completed');
        expect((await store.readJournal(exec.id)).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
      }
      const counts = await store.countByStatus();
      expect(counts.completed).toBe(5);
      expect(counts.waiting).toBe(0);
    });

    it('an entry with an event, a multi-op patch and a status round-trips exactly', async () => {
      const exec = new Exec('rt');
      await store.create(exec.create(1_000));
      const patch: PatchOperation[] = [
        { op: 'add', path: '/context/a~1b', value: { 'x~0y': [1, 'two', null, true, { deep: -1.5 }] } },
        { op: 'remove', path: '/context/old' },
        { op: 'replace', path: '/value', value: { parallel: { left: 'on', right: 'off' } } },
      ];
      const write = exec.next(1_001, { patch, status: 'running', value: { parallel: { left: 'on', right: 'off' } } });
      await store.append(write);
      expect(await store.readJournal('rt', { from: 1 })).toEqual([write.entry]);
      expect((await store.getMeta('rt'))?.value).toEqual({ parallel: { left: 'on', right: 'off' } });
    });
  });

  describe('getMeta', () => {
    it('is undefined for an unknown id', async () => {
      await seed(store, 'known', 1);
      expect(await store.getMeta('unknown')).toBeUndefined();
      expect(await store.getMeta('know')).toBeUndefined();
      expect(await store.getMeta('known-')).toBeUndefined();
    });
  });

  describe('list', () => {
    /** 3 machines x statuses; statusSince chosen so that status order differs from id order. */
    async function population(): Promise<Map<string, ExecutionMeta>> {
      const metas = new Map<string, ExecutionMeta>();
      for (let i = 0; i < 24; i++) {
        const id = `ex-${String(i).padStart(2, '0')}`;
        const machine = ['alpha', 'beta', 'gamma'][i % 3]!;
        const exec = new Exec(id, machine);
        await store.create(exec.create(10_000 - i * 10));
        if (i % 4 === 1) await store.append(exec.next(20_000 + ((i * 7) % 13), { status: 'running' }));
        if (i % 4 === 2) await store.append(exec.next(20_000 + ((i * 7) % 13), { status: 'completed' }));
        metas.set(id, exec.meta);
      }
      return metas;
    }

    function byStatusOrder(metas: ExecutionMeta[]): string[] {
      return [...metas].sort((a, b) => a.statusSince - b.statusSince || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((m) => m.id);
    }

    it('by id: every execution, in id order', async () => {
      const metas = await population();
      const page = await store.list({});
      expect(ids(page.items)).toEqual(sortedById([...metas.keys()]));
      expect(page.cursor).toBeUndefined();
      for (const item of page.items) expect(item).toEqual(metas.get(item.id));
    });

    it('by status: only that status, oldest in it first', async () => {
      const metas = await population();
      for (const status of EXECUTION_STATUSES) {
        const expected = byStatusOrder([...metas.values()].filter((m) => m.status === status));
        const page = await store.list({ status });
        expect(ids(page.items), status).toEqual(expected);
        for (const item of page.items) expect(item).toEqual(metas.get(item.id));
      }
    });

    it('by machine, alone and with a status', async () => {
      const metas = await population();
      const alpha = [...metas.values()].filter((m) => m.machineId === 'alpha');
      expect(ids((await store.list({ machine: 'alpha' })).items)).toEqual(sortedById(ids(alpha)));
      expect(ids((await store.list({ machine: 'alpha', status: 'waiting' })).items)).toEqual(byStatusOrder(alpha.filter((m) => m.status === 'waiting')));
      expect((await store.list({ machine: 'nope' })).items).toEqual([]);
      expect((await store.list({ machine: 'alpha', status: 'failed' })).items).toEqual([]);
    });

    it('limit + cursor: pages cover everything once, in order, for every kind of listing', async () => {
      const metas = await population();
      const all = [...metas.values()];
      const cases: { query: { status?: ExecutionStatus; machine?: string }; expected: string[] }[] = [
        { query: {}, expected: sortedById(ids(all)) },
        { query: { status: 'waiting' }, expected: byStatusOrder(all.filter((m) => m.status === 'waiting')) },
        { query: { machine: 'beta' }, expected: sortedById(ids(all.filter((m) => m.machineId === 'beta'))) },
        { query: { status: 'waiting', machine: 'gamma' }, expected: byStatusOrder(all.filter((m) => m.status === 'waiting' && m.machineId === 'gamma')) },
      ];
      for (const { query, expected } of cases) {
        for (const limit of [1, 2, 3, 5, 7]) {
          const { pages } = await allPages(store, { ...query, limit });
          const seen = pages.flatMap(ids);
          expect(seen, `${JSON.stringify(query)} limit ${limit}`).toEqual(expected);
          expect(new Set(seen).size).toBe(seen.length);
          expect(pages.length).toBeGreaterThanOrEqual(Math.ceil(expected.length / limit));
        }
      }
    });

    it('a cursor is present only when more items follow', async () => {
      for (let i = 0; i < 6; i++) await store.create(new Exec(`p${i}`).create(1_000 + i));
      const first = await store.list({ limit: 3 });
      expect(ids(first.items)).toEqual(['p0', 'p1', 'p2']);
      expect(first.cursor).toBeDefined();
      const second = await store.list({ limit: 3, cursor: first.cursor! });
      expect(ids(second.items)).toEqual(['p3', 'p4', 'p5']);
      // Store.ts: "Present when more items follow." Nothing follows p5.
      expect(second.cursor).toBeUndefined();
      const byStatus = await store.list({ status: 'waiting', limit: 6 });
      expect(byStatus.items).toHaveLength(6);
      expect(byStatus.cursor).toBeUndefined();
    });

    it('paging goes on correctly when the item a cursor points at is deleted in between', async () => {
      // statusSince values on both sides of a digit boundary (999 / 1000) and ids that sort
      // differently as raw strings and as JSON strings ('job' < 'job 2', but '"job"' > '"job 2"').
      const plan: [string, number][] = [
        ['w-a', 990],
        ['w-b', 999],
        ['w-c', 1_000],
        ['w-d', 1_001],
        ['w-e', 10_000],
      ];
      for (const [id, at] of plan) await store.create(new Exec(id).create(at));
      const page1 = await store.list({ status: 'waiting', limit: 2 });
      expect(ids(page1.items)).toEqual(['w-a', 'w-b']);
      await store.delete(['w-b']);
      const rest = page1.cursor === undefined ? [] : (await store.list({ status: 'waiting', limit: 10, cursor: page1.cursor })).items;
      expect(ids(rest)).toEqual(['w-c', 'w-d', 'w-e']);

      for (const id of ['job', 'job 2', 'job!', 'jobs']) await store.create(new Exec(id).create(5));
      const byId = await store.list({ limit: 1 });
      expect(ids(byId.items)).toEqual(['job']);
      await store.delete(['job']);
      const after = (await store.list({ limit: 10, cursor: byId.cursor! })).items;
      expect(ids(after)).toEqual(['job 2', 'job!', 'jobs', 'w-a', 'w-c', 'w-d', 'w-e']);
    });

    it('a cursor that is not a cursor at all is an InvalidArgumentError', async () => {
      await population();
      for (const cursor of ['%%% not a cursor %%%', '', 'bm90IGpzb24']) {
        await expect(store.list({ limit: 2, cursor }), JSON.stringify(cursor)).rejects.toBeInstanceOf(InvalidArgumentError);
        await expect(store.list({ status: 'waiting', limit: 2, cursor }), JSON.stringify(cursor)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
    });

    it('a cursor that decodes to the wrong shape (or belongs to another listing) is an InvalidArgumentError, not a wrong page', async () => {
      await population();
      const byStatus = await store.list({ status: 'waiting', limit: 2 });
      const byId = await store.list({ limit: 2 });
      expect(byStatus.cursor).toBeDefined();
      expect(byId.cursor).toBeDefined();
      const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const wrong: [string, { status?: ExecutionStatus }][] = [
        [encode({}), {}],
        [encode(42), {}],
        [encode(null), {}],
        [encode({}), { status: 'waiting' }],
        [encode('ex-01'), { status: 'waiting' }],
        [encode(['waiting', 'not a number', 'ex-01']), { status: 'waiting' }],
        [byStatus.cursor!, {}],
        [byId.cursor!, { status: 'waiting' }],
        [byStatus.cursor!, { status: 'completed' }],
      ];
      for (const [cursor, query] of wrong) {
        const label = `${Buffer.from(cursor, 'base64url').toString()} for ${JSON.stringify(query)}`;
        await expect(store.list({ ...query, limit: 2, cursor }), label).rejects.toBeInstanceOf(InvalidArgumentError);
      }
    });

    it('a limit that is not a positive integer is an InvalidArgumentError', async () => {
      await population();
      for (const limit of [0, -1, 1.5, Number.NaN]) {
        await expect(store.list({ limit }), String(limit)).rejects.toBeInstanceOf(InvalidArgumentError);
      }
    });
  });

  describe('countByStatus', () => {
    it('counts every status (0 when none) and follows status changes, removals and same-status transitions', async () => {
      const zero = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0]));
      expect(await store.countByStatus()).toEqual(zero);

      const a = new Exec('a');
      const b = new Exec('b');
      const c = new Exec('c');
      await store.create(a.create(100));
      await store.create(b.create(100));
      await store.create(c.create(100, { status: 'running' }));
      expect(await store.countByStatus()).toEqual({ ...zero, waiting: 2, running: 1 });

      // Transitions that keep the status (the common case) keep the index entry.
      await store.append(a.next(101));
      await store.append(a.next(102));
      await store.append(c.next(103));
      expect(await store.countByStatus()).toEqual({ ...zero, waiting: 2, running: 1 });
      expect(ids((await store.list({ status: 'waiting' })).items)).toEqual(['a', 'b']);
      expect(ids((await store.list({ status: 'running' })).items)).toEqual(['c']);

      // A status change moves the entry: the old one is removed.
      await store.append(a.next(110, { status: 'running' }));
      expect(await store.countByStatus()).toEqual({ ...zero, waiting: 1, running: 2 });
      expect(ids((await store.list({ status: 'waiting' })).items)).toEqual(['b']);
      expect(ids((await store.list({ status: 'running' })).items)).toEqual(['c', 'a']);

      await store.append(a.next(120, { status: 'waiting' }));
      await store.append(a.next(121, { status: 'waiting' }));
      await store.append(c.next(130, { status: 'failed' }));
      await store.append(b.next(140, { status: 'completed' }));
      expect(await store.countByStatus()).toEqual({ ...zero, waiting: 1, failed: 1, completed: 1 });
      expect(ids((await store.list({ status: 'waiting' })).items)).toEqual(['a']);
      expect((await store.list({ status: 'running' })).items).toEqual([]);

      await store.delete(['c']);
      expect(await store.countByStatus()).toEqual({ ...zero, waiting: 1, completed: 1 });
    });
  });

  describe('listSince', () => {
    it('metas of a status that entered it before a time, oldest first, limited', async () => {
      const times: Record<string, number> = { s1: 500, s2: 100, s3: 300, s4: 900, s5: 300 };
      const execs = new Map<string, Exec>();
      for (const [id, at] of Object.entries(times)) {
        const exec = new Exec(id);
        await store.create(exec.create(50, { status: 'running' }));
        await store.append(exec.next(at, { status: 'completed' }));
        execs.set(id, exec);
      }
      const w = new Exec('w');
      await store.create(w.create(10));

      expect(ids(await store.listSince('completed', 1_000, 100))).toEqual(['s2', 's3', 's5', 's1', 's4']);
      expect(ids(await store.listSince('completed', 500, 100))).toEqual(['s2', 's3', 's5']);
      expect(ids(await store.listSince('completed', 300, 100))).toEqual(['s2']);
      expect(ids(await store.listSince('completed', 100, 100))).toEqual([]);
      expect(ids(await store.listSince('completed', 1_000, 2))).toEqual(['s2', 's3']);
      expect(ids(await store.listSince('waiting', 1_000, 100))).toEqual(['w']);
      expect(await store.listSince('running', 1_000, 100)).toEqual([]);
      const s2 = await store.listSince('completed', 200, 1);
      expect(s2).toEqual([execs.get('s2')!.meta]);

      // Leaving the status leaves the listing; same-status transitions do not.
      await store.append(w.next(20));
      expect(ids(await store.listSince('waiting', 1_000, 100))).toEqual(['w']);
      await store.append(w.next(30, { status: 'cancelled' }));
      expect(await store.listSince('waiting', 1_000, 100)).toEqual([]);
      expect(ids(await store.listSince('cancelled', 1_000, 100))).toEqual(['w']);
    });
  });

  describe('readJournal', () => {
    it('from / to / limit / reverse', async () => {
      await seed(store, 'j', 9);
      const seqs = async (range: Parameters<Store['readJournal']>[1]) => (await store.readJournal('j', range)).map((e) => e.seq);
      expect(await seqs(undefined)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await seqs({})).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await seqs({ from: 3 })).toEqual([3, 4, 5, 6, 7, 8, 9]);
      expect(await seqs({ to: 2 })).toEqual([0, 1, 2]);
      expect(await seqs({ from: 4, to: 6 })).toEqual([4, 5, 6]);
      expect(await seqs({ from: 5, to: 5 })).toEqual([5]);
      expect(await seqs({ from: 6, to: 5 })).toEqual([]);
      expect(await seqs({ from: 6, to: 5, reverse: true })).toEqual([]);
      expect(await seqs({ limit: 0 })).toEqual([]);
      expect(await seqs({ limit: 0, reverse: true })).toEqual([]);
      expect(await seqs({ from: 20 })).toEqual([]);
      expect(await seqs({ limit: 4 })).toEqual([0, 1, 2, 3]);
      expect(await seqs({ from: 2, limit: 3 })).toEqual([2, 3, 4]);
      expect(await seqs({ reverse: true })).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      expect(await seqs({ reverse: true, limit: 3 })).toEqual([9, 8, 7]);
      expect(await seqs({ reverse: true, from: 2, to: 5 })).toEqual([5, 4, 3, 2]);
      expect(await seqs({ reverse: true, from: 2, to: 5, limit: 2 })).toEqual([5, 4]);
      expect(await seqs({ reverse: true, to: 0 })).toEqual([0]);
      expect(await seqs({ reverse: true, from: 8 })).toEqual([9, 8]);
      expect(await store.readJournal('nobody')).toEqual([]);
    });

    it('ids that share a prefix (a, a-1, a-10, a-2, a-1-x) never leak into each other', async () => {
      const plan: Record<string, number> = { 'a': 2, 'a-1': 3, 'a-10': 12, 'a-2': 1, 'a-1-x': 4, 'a-100': 0, 'b': 5 };
      // Interleave the writes so that no id's entries are contiguous in write order.
      const execs = Object.keys(plan).map((id) => new Exec(id));
      for (const exec of execs) await store.create(exec.create(1, { snapshot: { context: { id: exec.id, seq: 0 } } }));
      for (let seq = 1; seq <= 12; seq++) {
        for (const exec of execs) if (seq <= plan[exec.id]!) await store.append(exec.next(1 + seq, seq % 4 === 0 ? { keyframe: { context: { id: exec.id, seq } } } : {}));
      }
      for (const [id, steps] of Object.entries(plan)) {
        const all = await store.readJournal(id);
        expect(all.map((e) => e.seq), id).toEqual(Array.from({ length: steps + 1 }, (_, i) => i));
        for (const e of all) expect((e.event as { id: string }).id, id).toBe(id);
        const reversed = await store.readJournal(id, { reverse: true });
        expect(reversed.map((e) => e.seq), id).toEqual(Array.from({ length: steps + 1 }, (_, i) => steps - i));
        for (const e of reversed) expect((e.event as { id: string }).id, id).toBe(id);
        expect((await store.readJournal(id, { from: 1, to: 100 })).every((e) => (e.event as { id: string }).id === id)).toBe(true);
        const kf = await store.keyframeAtOrBefore(id, 100);
        const expectedKf = Math.floor(steps / 4) * 4;
        expect(kf, id).toEqual({ seq: expectedKf, snapshot: { context: { id, seq: expectedKf } } });
        expect(await store.keyframeAtOrBefore(id, 3), id).toEqual({ seq: 0, snapshot: { context: { id, seq: 0 } } });
      }
      expect(await store.readJournal('a-')).toEqual([]);
      expect(await store.readJournal('a-1-')).toEqual([]);
      expect(await store.keyframeAtOrBefore('a-', 100)).toBeUndefined();
      expect(await store.keyframeAtOrBefore('a-3', 100)).toBeUndefined();
    });
  });

  describe('keyframeAtOrBefore', () => {
    it('finds the latest keyframe at or below seq', async () => {
      await seed(store, 'k', 10, { keyframes: [3, 7] });
      const at = async (seq: number) => (await store.keyframeAtOrBefore('k', seq))?.seq;
      expect(await at(0)).toBe(0);
      expect(await at(2)).toBe(0);
      expect(await at(3)).toBe(3);
      expect(await at(6)).toBe(3);
      expect(await at(7)).toBe(7);
      expect(await at(10)).toBe(7);
      expect(await at(1_000_000)).toBe(7);
      expect(await store.keyframeAtOrBefore('k', 5)).toEqual({ seq: 3, snapshot: { context: { n: 3, id: 'k' }, value: 's3' } });
      expect(await store.keyframeAtOrBefore('k', 0)).toEqual({ seq: 0, snapshot: { context: { n: 0, id: 'k' }, value: 'a' } });
      expect(await store.keyframeAtOrBefore('missing', 5)).toBeUndefined();
    });
  });

  describe('delete', () => {
    it('removes the execution with its journal, keyframes and index entry, and nothing else', async () => {
      await seed(store, 'd-1', 6, { keyframes: [2, 5] });
      const keep = await seed(store, 'd-10', 4, { keyframes: [3] });
      const other = await seed(store, 'd', 2);
      const gone = await seed(store, 'd-2', 1);
      await store.delete(['d-1', 'd-2', 'never-existed']);

      for (const id of ['d-1', 'd-2']) {
        expect(await store.getMeta(id)).toBeUndefined();
        expect(await store.readJournal(id)).toEqual([]);
        expect(await store.keyframeAtOrBefore(id, 100)).toBeUndefined();
      }
      expect(gone.meta.status).toBe('waiting');
      expect(await store.getMeta('d-10')).toEqual(keep.meta);
      expect((await store.readJournal('d-10')).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
      expect((await store.keyframeAtOrBefore('d-10', 100))?.seq).toBe(3);
      expect(await store.getMeta('d')).toEqual(other.meta);
      expect((await store.readJournal('d')).map((e) => e.seq)).toEqual([0, 1, 2]);
      expect(ids((await store.list({})).items)).toEqual(['d', 'd-10']);
      expect(ids((await store.list({ status: 'waiting' })).items).sort()).toEqual(['d', 'd-10']);
      expect((await store.countByStatus()).waiting).toBe(2);
      expect(ids(await store.listSince('waiting', Number.MAX_SAFE_INTEGER, 100)).sort()).toEqual(['d', 'd-10']);
    });

    it('an empty list and unknown ids are no-ops; a deleted id can be created afresh', async () => {
      await store.delete([]);
      await store.delete(['nothing']);
      await seed(store, 'again', 3, { keyframes: [2] });
      await store.delete(['again']);
      const exec = new Exec('again');
      expect(await store.create(exec.create(9_000, { status: 'running', snapshot: { context: { fresh: true } } }))).toBe(true);
      expect((await store.readJournal('again')).map((e) => e.seq)).toEqual([0]);
      expect(await store.keyframeAtOrBefore('again', 10)).toEqual({ seq: 0, snapshot: { context: { fresh: true } } });
      expect(await store.countByStatus()).toMatchObject({ waiting: 0, running: 1 });
    });
  });

  describe('owners', () => {
    const owner = (id: string, leaseUntil: number): OwnerRecord => ({ id, pid: 4242, host: 'host-a', startedAt: 1_000, leaseUntil });

    it('register / get / renew / remove', async () => {
      expect(await store.getOwner('o1')).toBeUndefined();
      await store.registerOwner(owner('o1', 5_000));
      await store.registerOwner(owner('o2', 6_000));
      expect(await store.getOwner('o1')).toEqual(owner('o1', 5_000));
      await store.renewOwner('o1', 9_000);
      expect(await store.getOwner('o1')).toEqual(owner('o1', 9_000));
      expect(await store.getOwner('o2')).toEqual(owner('o2', 6_000));
      await store.renewOwner('ghost', 9_000);
      expect(await store.getOwner('ghost')).toBeUndefined();
      await store.removeOwner('o1');
      expect(await store.getOwner('o1')).toBeUndefined();
      expect(await store.getOwner('o2')).toEqual(owner('o2', 6_000));
      await store.removeOwner('o1');
      // Registering again replaces the record.
      await store.registerOwner({ ...owner('o2', 7_000), pid: 1 });
      expect(await store.getOwner('o2')).toEqual({ ...owner('o2', 7_000), pid: 1 });
    });

    it('a returned owner record is a copy', async () => {
      await store.registerOwner(owner('o1', 5_000));
      const read = await store.getOwner('o1');
      read!.leaseUntil = 1;
      expect((await store.getOwner('o1'))?.leaseUntil).toBe(5_000);
    });
  });

  describe('claim', () => {
    const NOW = 100_000;
    const owner = (id: string, leaseUntil: number): OwnerRecord => ({ id, pid: 1, host: 'h', startedAt: 0, leaseUntil });

    async function execOwnedBy(id: string, ownerId: string | undefined, status: ExecutionStatus = 'waiting'): Promise<ExecutionMeta> {
      const exec = new Exec(id);
      const write = exec.create(1_000, { status });
      if (ownerId) write.meta.owner = ownerId;
      else delete write.meta.owner;
      await store.create(write);
      return write.meta;
    }

    it('missing execution', async () => {
      expect(await store.claim('nope', 'me', NOW)).toEqual({ ok: false, reason: 'missing' });
    });

    it('finished executions are not claimed', async () => {
      await store.registerOwner(owner('dead', NOW - 1));
      for (const status of FINISHED) {
        const meta = await execOwnedBy(`fin-${status}`, 'dead', status);
        const result = await store.claim(meta.id, 'me', NOW);
        expect(result).toEqual({ ok: false, reason: 'finished', meta });
        expect((await store.getMeta(meta.id))?.owner).toBe('dead');
      }
    });

    it('owned by a live owner: refused, naming the owner; nothing changes', async () => {
      await store.registerOwner(owner('live', NOW + 1));
      const meta = await execOwnedBy('held', 'live');
      const result = await store.claim('held', 'me', NOW);
      expect(result).toEqual({ ok: false, reason: 'owned', meta, owner: owner('live', NOW + 1) });
      expect(await store.getMeta('held')).toEqual(meta);
    });

    it('owned by an expired owner (lease at or before now) or by an unknown owner: taken', async () => {
      await store.registerOwner(owner('expired', NOW));
      await store.registerOwner(owner('long-expired', NOW - 50_000));
      for (const [id, previous] of [['e1', 'expired'], ['e2', 'long-expired'], ['e3', 'no-record']] as const) {
        const meta = await execOwnedBy(id, previous);
        const result = await store.claim(id, 'me', NOW);
        expect(result, id).toEqual({ ok: true, version: expect.any(Number), meta: { ...meta, owner: 'me' } });
        expect(await store.getMeta(id), id).toEqual({ ...meta, owner: 'me' });
        // Now held by 'me' (alive): another claimant is refused.
        await store.registerOwner(owner('me', NOW + 10_000));
        const other = await store.claim(id, 'other', NOW);
        expect(other.ok, id).toBe(false);
        if (!other.ok) expect(other.reason).toBe('owned');
        await store.removeOwner('me');
      }
    });

    it('unowned, or owned by the claimant itself: ok', async () => {
      const free = await execOwnedBy('free', undefined, 'running');
      expect(await store.claim('free', 'me', NOW)).toEqual({ ok: true, version: expect.any(Number), meta: { ...free, owner: 'me' } });
      await store.registerOwner(owner('me', NOW + 1_000));
      const mine = await execOwnedBy('mine', 'me');
      expect(await store.claim('mine', 'me', NOW)).toEqual({ ok: true, version: expect.any(Number), meta: mine });
      expect(await store.getMeta('mine')).toEqual(mine);
    });

    it('a removed owner no longer holds its executions', async () => {
      await store.registerOwner(owner('leaving', NOW + 60_000));
      await execOwnedBy('handover', 'leaving');
      expect((await store.claim('handover', 'me', NOW)).ok).toBe(false);
      await store.removeOwner('leaving');
      const result = await store.claim('handover', 'me', NOW);
      expect(result.ok).toBe(true);
      expect((await store.getMeta('handover'))?.owner).toBe('me');
    });

    it('a claim keeps the index and the rest of the meta', async () => {
      const exec = await seed(store, 'kept', 2);
      const claim = await store.claim('kept', 'me', NOW);
      if (claim.ok) exec.version = claim.version;
      expect(await store.getMeta('kept')).toEqual({ ...exec.meta, owner: 'me' });
      expect(ids((await store.list({ status: 'waiting' })).items)).toEqual(['kept']);
      expect((await store.countByStatus()).waiting).toBe(1);
      // The next transition after a claim (written by the new owner) moves on from there.
      exec.meta = { ...exec.meta, owner: 'me' };
      await store.append(exec.next(5_000, { status: 'completed' }));
      expect(await store.getMeta('kept')).toEqual(exec.meta);
      expect(await store.countByStatus()).toMatchObject({ waiting: 0, completed: 1 });
    });
  });

  describe('transitions that leave the row alone', () => {
    it('a transition without meta writes its journal entry; reads report its seq, value and time', async () => {
      const exec = await seed(store, 'light', 1);
      const before = await store.getMeta('light');
      const { meta: _row, ...journalOnly } = exec.next(7_000, { value: 'moved' });
      await store.append(journalOnly);
      const after = await store.getMeta('light');
      expect(after).toEqual({ ...before, seq: 2, value: 'moved', updatedAt: 7_000 });
      expect((await store.list({})).items.find((m) => m.id === 'light')).toEqual(after);
      expect((await store.list({ status: 'waiting' })).items.find((m) => m.id === 'light')).toEqual(after);
      expect((await store.readJournal('light')).map((e) => e.seq)).toEqual([0, 1, 2]);
      const claim = await store.claim('light', 'me', 100_000);
      expect(claim.ok && claim.meta).toEqual({ ...after, owner: 'me' });
    });
  });

  describe('fencing: a writer that lost its claim cannot write', () => {
    const NOW = 100_000;
    const owner = (id: string, leaseUntil: number): OwnerRecord => ({ id, pid: 1, host: 'h', startedAt: 0, leaseUntil });

    it('an append at a stale version writes nothing and names the new owner', async () => {
      await store.registerOwner(owner('newcomer', NOW + 60_000));
      const stale = await seed(store, 'fenced', 2);
      const before = await store.getMeta('fenced');
      const claim = await store.claim('fenced', 'newcomer', NOW);
      expect(claim.ok).toBe(true);
      const err = await store.append(stale.next(9_000, { status: 'completed' })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ExecutionLockedError);
      expect((err as ExecutionLockedError).code).toBe('EXECUTION_LOCKED');
      expect((err as ExecutionLockedError).owner.id).toBe('newcomer');
      expect(await store.getMeta('fenced')).toEqual({ ...before, owner: 'newcomer' });
      expect((await store.readJournal('fenced')).map((e) => e.seq)).toEqual([0, 1, 2]);
      expect((await store.countByStatus()).completed).toBe(0);
    });

    it('writes issued together at the current version all land; one at another version does not', async () => {
      const exec = await seed(store, 'piped', 0);
      const a = store.append(exec.next(2_000));
      const b = store.append(exec.next(2_001));
      const skipped = exec.next(2_002);
      skipped.version += 1;
      const c = store.append(skipped);
      await Promise.all([a, b]);
      await expect(c).rejects.toBeInstanceOf(ExecutionLockedError);
      expect((await store.readJournal('piped')).map((e) => e.seq)).toEqual([0, 1, 2]);
    });
  });

  describe('effects, timers, inbox and send keys', () => {
    it('effect records are kept per execution and key, listed in key order, replaced by later writes', async () => {
      await seed(store, 'fx', 1);
      await seed(store, 'fx-other', 0);
      await store.putEffect('fx', { key: 'fx/b@1', status: 'pending', attempts: 1, retryAt: 5_000, error: { name: 'Error', message: 'flaky' } });
      await store.putEffect('fx', { key: 'fx/a@1', status: 'done', attempts: 1, output: { ok: true } });
      await store.putEffect('fx-other', { key: 'fx-other/a@1', status: 'failed', attempts: 3, error: { name: 'TerminalError', message: 'no' } });
      await store.putEffect('fx', { key: 'fx/b@1', status: 'done', attempts: 2, output: 42 });
      expect(await store.getEffect('fx', 'fx/b@1')).toEqual({ key: 'fx/b@1', status: 'done', attempts: 2, output: 42 });
      expect(await store.getEffect('fx', 'fx/missing')).toBeUndefined();
      expect((await store.listEffects('fx')).map((e) => e.key)).toEqual(['fx/a@1', 'fx/b@1']);
      expect((await store.listEffects('fx-other')).map((e) => e.status)).toEqual(['failed']);
    });

    it('timer rows follow the transitions that add and remove them, found by due time', async () => {
      const exec = await seed(store, 'tm', 0);
      const timer = (id: string, dueAt: number) => ({ id, xid: id, event: { type: id }, dueAt, source: [], target: [] });
      const a = timer('a', 5_000);
      const b = timer('b', 3_000);
      const w1 = exec.next(1_001);
      w1.meta!.timers = [a, b];
      await store.append({ ...w1, timers: { add: [a, b], remove: [] } });
      const other = await seed(store, 'tm-2', 0);
      const c = timer('c', 4_000);
      const w2 = other.next(1_002);
      w2.meta!.timers = [c];
      await store.append({ ...w2, timers: { add: [c], remove: [] } });
      expect(await store.dueTimers(4_500, 10)).toEqual([
        { id: 'tm', timer: 'b', dueAt: 3_000 },
        { id: 'tm-2', timer: 'c', dueAt: 4_000 },
      ]);
      expect(await store.dueTimers(10_000, 2)).toHaveLength(2);
      // Paging: the rows after a given one (also after one that is gone), in the same order.
      expect(await store.dueTimers(10_000, 1, 0, { dueAt: 3_000, id: 'tm', timer: 'b' })).toEqual([{ id: 'tm-2', timer: 'c', dueAt: 4_000 }]);
      expect(await store.dueTimers(10_000, 10, 0, { dueAt: 4_000, id: 'tm-2', timer: 'c' })).toEqual([{ id: 'tm', timer: 'a', dueAt: 5_000 }]);
      expect(await store.dueTimers(10_000, 10, 0, { dueAt: 3_500, id: 'gone', timer: 'x' })).toEqual([
        { id: 'tm-2', timer: 'c', dueAt: 4_000 },
        { id: 'tm', timer: 'a', dueAt: 5_000 },
      ]);
      expect(await store.dueTimers(4_500, 10, 0, { dueAt: 4_000, id: 'tm-2', timer: 'c' })).toEqual([]);
      const w3 = exec.next(1_003);
      w3.meta!.timers = [a];
      await store.append({ ...w3, timers: { add: [], remove: [b] } });
      expect((await store.dueTimers(10_000, 10)).map((t) => t.timer)).toEqual(['c', 'a']);
      await store.delete(['tm']);
      expect((await store.dueTimers(10_000, 10)).map((t) => t.timer)).toEqual(['c']);
    });

    it('inbox entries are pending until a transition or a refusal settles them, oldest first', async () => {
      const exec = await seed(store, 'ib', 0);
      await seed(store, 'ib-2', 0);
      await store.appendInbox('ib', { n: '002', event: { type: 'B' }, at: 2 });
      await store.appendInbox('ib', { n: '001', event: { type: 'A' }, key: 'ka', at: 1 });
      await store.appendInbox('ib-2', { n: '001', event: { type: 'X' }, at: 1 });
      expect((await store.pendingInbox('ib')).map((p) => p.entry.n)).toEqual(['001', '002']);
      expect((await store.pendingInbox()).map((p) => `${p.id}:${p.entry.n}`)).toEqual(['ib:001', 'ib:002', 'ib-2:001']);
      // Consumed by a transition: the entry and its result land with it, and so does the key.
      const consumed = exec.next(1_001);
      await store.append({ ...consumed, inbox: { n: '001', event: { type: 'A' }, key: 'ka', at: 1, result: { seq: 1 } }, sendKey: 'ka' });
      expect(await store.getInboxEntry('ib', '001')).toMatchObject({ result: { seq: 1 } });
      expect(await store.sendKeySeq('ib', 'ka')).toBe(1);
      expect(await store.sendKeySeq('ib', 'other')).toBeUndefined();
      // Refused without a transition.
      await store.settleInbox('ib', { n: '002', event: { type: 'B' }, at: 2, result: { error: { name: 'EventNotAcceptedError', message: 'no', code: 'EVENT_NOT_ACCEPTED' } } });
      expect((await store.pendingInbox('ib')).map((p) => p.entry.n)).toEqual([]);
      await store.removeInbox('ib', '001');
      expect(await store.getInboxEntry('ib', '001')).toBeUndefined();
      await store.delete(['ib']);
      expect(await store.getInboxEntry('ib', '002')).toBeUndefined();
      expect(await store.sendKeySeq('ib', 'ka')).toBeUndefined();
      expect((await store.pendingInbox()).map((p) => p.id)).toEqual(['ib-2']);
    });

    it('effect records and inbox settlements given a version are fenced like transitions', async () => {
      const exec = await seed(store, 'fenced-fx', 0);
      await store.putEffect('fenced-fx', { key: 'k@0', status: 'pending', attempts: 1 }, exec.version);
      await store.appendInbox('fenced-fx', { n: '001', event: { type: 'A' }, at: 1 });
      const claim = await store.claim('fenced-fx', 'newcomer', 100_000);
      expect(claim.ok).toBe(true);
      await expect(store.putEffect('fenced-fx', { key: 'k@0', status: 'done', attempts: 2, output: 1 }, exec.version)).rejects.toBeInstanceOf(ExecutionLockedError);
      await expect(
        store.settleInbox('fenced-fx', { n: '001', event: { type: 'A' }, at: 1, result: { error: { name: 'E', message: 'stale' } } }, exec.version),
      ).rejects.toBeInstanceOf(ExecutionLockedError);
      expect(await store.getEffect('fenced-fx', 'k@0')).toEqual({ key: 'k@0', status: 'pending', attempts: 1 });
      expect((await store.pendingInbox('fenced-fx')).map((p) => p.entry.n)).toEqual(['001']);
      if (claim.ok) await store.putEffect('fenced-fx', { key: 'k@0', status: 'done', attempts: 2, output: 1 }, claim.version);
      expect((await store.getEffect('fenced-fx', 'k@0'))?.status).toBe('done');
    });

    it('a sweep removes settled entries sent before the cut-off, and only those', async () => {
      await seed(store, 'sw', 0);
      await store.appendInbox('sw', { n: '001', event: { type: 'A' }, at: 10 });
      await store.appendInbox('sw', { n: '002', event: { type: 'B' }, at: 20 });
      await store.appendInbox('sw', { n: '003', event: { type: 'C' }, at: 30 });
      await store.settleInbox('sw', { n: '001', event: { type: 'A' }, at: 10, result: { seq: 1 } });
      await store.settleInbox('sw', { n: '003', event: { type: 'C' }, at: 30, result: { seq: 2 } });
      expect(await store.sweepInbox(25)).toBe(1);
      expect(await store.getInboxEntry('sw', '001')).toBeUndefined();
      expect(await store.getInboxEntry('sw', '002')).toBeDefined();
      expect(await store.getInboxEntry('sw', '003')).toBeDefined();
    });

    it('delete removes effect records too', async () => {
      await seed(store, 'gone', 0);
      await store.putEffect('gone', { key: 'gone/x@0', status: 'done', attempts: 1, output: null });
      await store.delete(['gone']);
      expect(await store.listEffects('gone')).toEqual([]);
    });
  });

  describe('large values', () => {
    it('values of several KB round-trip (meta output, keyframe, patch, event)', async () => {
      const exec = new Exec('big');
      const snapshot = { context: bigValue(12_000, 'kf'), value: 'a' } as Json;
      const write = exec.create(1_000, { snapshot });
      write.meta.output = bigValue(4_000, 'output');
      exec.meta.output = bigValue(4_000, 'output');
      expect(JSON.stringify(snapshot).length).toBeGreaterThan(10_000);
      expect(await store.create(write)).toBe(true);
      const patch: PatchOperation[] = [{ op: 'add', path: '/context/more', value: bigValue(8_000, 'patch') }];
      const next = exec.next(1_001, { patch, keyframe: { context: bigValue(30_000, 'kf2') } });
      next.entry.event = { type: 'BIG', payload: bigValue(3_000, 'event') };
      await store.append(next);

      expect((await store.getMeta('big'))?.output).toEqual(bigValue(4_000, 'output'));
      expect(await store.keyframeAtOrBefore('big', 0)).toEqual({ seq: 0, snapshot });
      expect(await store.keyframeAtOrBefore('big', 1)).toEqual({ seq: 1, snapshot: { context: bigValue(30_000, 'kf2') } });
      const [, entry] = await store.readJournal('big');
      expect(entry?.patch).toEqual(patch);
      expect(entry?.event).toEqual({ type: 'BIG', payload: bigValue(3_000, 'event') });
      // Small values next to big ones are unaffected.
      expect((await store.readJournal('big'))[0]).toEqual(write.entry);
    });
  });

  describe.runIf(config.persistent)('persistence', () => {
    it('reopening the same path sees everything that was written', async () => {
      const a = await seed(store, 'p-a', 5, { keyframes: [4] });
      const b = await seed(store, 'p-b', 1);
      await store.append(b.next(50, { status: 'completed' }));
      await store.registerOwner({ id: 'owner-1', pid: 7, host: 'h', startedAt: 1, leaseUntil: 2 });
      const claim = await store.claim('p-a', 'owner-1', 10);
      if (claim.ok) a.version = claim.version;
      await store.close();

      const reopened = config.make(dir.path);
      await reopened.open();
      try {
        expect(await reopened.getMeta('p-a')).toEqual({ ...a.meta, owner: 'owner-1' });
        expect(await reopened.getMeta('p-b')).toEqual(b.meta);
        expect((await reopened.readJournal('p-a')).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
        expect(await reopened.keyframeAtOrBefore('p-a', 5)).toEqual({ seq: 4, snapshot: { context: { n: 4, id: 'p-a' }, value: 's4' } });
        expect(await reopened.countByStatus()).toMatchObject({ waiting: 1, completed: 1 });
        expect(ids((await reopened.list({ status: 'completed' })).items)).toEqual(['p-b']);
        expect(await reopened.getOwner('owner-1')).toEqual({ id: 'owner-1', pid: 7, host: 'h', startedAt: 1, leaseUntil: 2 });
        // And it goes on from there.
        await reopened.append(a.next(60, { status: 'completed' }));
        expect((await reopened.getMeta('p-a'))?.seq).toBe(6);
      } finally {
        await reopened.close();
      }
      store = config.make(dir.path);
      await store.open();
      expect((await store.getMeta('p-a'))?.status).toBe('completed');
    });

    it('a schema version newer than supported is a SchemaVersionError (SCHEMA_VERSION) on open', async () => {
      const other = tempDir('durastate-schema-');
      try {
        const env = openLmdb({ path: other.path, compression: isCompressed(config), maxDbs: 16 });
        const system = env.openDB<number, string>({ name: 'system' });
        await system.put('schema', SCHEMA_VERSION + 1);
        await env.close();

        const newer = config.make(other.path);
        const opening = newer.open();
        await expect(opening).rejects.toBeInstanceOf(SchemaVersionError);
        await expect(opening).rejects.toMatchObject({ code: 'SCHEMA_VERSION', found: SCHEMA_VERSION + 1, supported: SCHEMA_VERSION });
        await newer.close();

        // The store at the current version opens, and records its version.
        const current = tempDir('durastate-schema-');
        try {
          const fresh = config.make(current.path);
          await fresh.open();
          await fresh.close();
          const check = openLmdb({ path: current.path, compression: isCompressed(config), maxDbs: 16 });
          expect(check.openDB<number, string>({ name: 'system' }).get('schema')).toBe(SCHEMA_VERSION);
          await check.close();
        } finally {
          current.remove();
        }
      } finally {
        other.remove();
      }
    });
  });
});
