/**
 * The Store contract of the timeline methods: fork links (listForks and what delete does to
 * them), copyHistory, rewind (RewindWrite), TransitionWrite.effects, the timers and effects a
 * journal entry carries, listSince paged with `after`, and claim with `reopen: 'any'`. One suite,
 * run against every store configuration, through the interface only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ExecutionLockedError,
  type EffectRecord,
  type ExecutionMeta,
  type ExecutionStatus,
  type JournalEntry,
  type Json,
  type RewindWrite,
  type Store,
  type TimerRecord,
} from '../src/internal.js';
import { ExecWriter } from './fixtures/execWriter.js';
import { storeConfigs, tempDir } from './helpers.js';

const timer = (id: string, dueAt: number): TimerRecord => ({ id, xid: id, event: { type: `fire.${id}` }, dueAt, source: [], target: [] });

/** Everything the store holds for one execution, read through the interface. */
async function dump(store: Store, id: string, keys: readonly string[] = []): Promise<unknown> {
  const keyframes: unknown[] = [];
  for (let seq = 0; seq <= 20; seq++) keyframes.push(await store.keyframeAtOrBefore(id, seq));
  const sendKeys: Record<string, number | undefined> = {};
  for (const key of keys) sendKeys[key] = await store.sendKeySeq(id, key);
  return {
    meta: await store.getMeta(id),
    journal: await store.readJournal(id),
    keyframes,
    effects: await store.listEffects(id),
    forks: await store.listForks(id),
    sendKeys,
  };
}

function ids(metas: readonly ExecutionMeta[]): string[] {
  return metas.map((m) => m.id);
}

describe.each(storeConfigs)('Store timeline contract: $name', (config) => {
  let dir: { path: string; remove: () => void };
  let store: Store;

  beforeEach(async () => {
    dir = tempDir('durastate-timeline-store-');
    store = config.make(dir.path);
    await store.open();
  });

  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  /** Creates an execution and appends `steps` transitions (keyframes at the given seqs). */
  async function seed(id: string, steps: number, options: { at?: number; keyframes?: number[]; parent?: { id: string; seq: number } } = {}): Promise<ExecWriter> {
    const exec = new ExecWriter(id);
    const at = options.at ?? 1_000;
    const first = options.parent ? options.parent.seq + 1 : 0;
    expect(await store.create(exec.create(at, { ...(options.parent ? { parent: options.parent, seq: first } : {}) }))).toBe(true);
    for (let seq = first + 1; seq <= first + steps; seq++) {
      const keyframe = options.keyframes?.includes(seq) ? { context: { n: seq, id }, value: `s${seq}` } : undefined;
      await store.append(exec.next(at + seq, keyframe ? { keyframe } : {}));
    }
    return exec;
  }

  describe('fork links', () => {
    it('create with meta.parent makes listForks(parent) return {id, seq}, by id; only for that parent', async () => {
      await seed('p', 6);
      await seed('p-1', 2);
      await seed('f-b', 1, { parent: { id: 'p', seq: 4 } });
      await seed('f-a', 1, { parent: { id: 'p', seq: 2 } });
      await seed('g', 1, { parent: { id: 'f-a', seq: 3 } });
      await seed('o', 0, { parent: { id: 'p-1', seq: 1 } });

      expect(await store.listForks('p')).toEqual([
        { id: 'f-a', seq: 2 },
        { id: 'f-b', seq: 4 },
      ]);
      expect(await store.listForks('f-a')).toEqual([{ id: 'g', seq: 3 }]);
      expect(await store.listForks('p-1')).toEqual([{ id: 'o', seq: 1 }]);
      // Links point down only; leaves and unknown ids have none.
      expect(await store.listForks('g')).toEqual([]);
      expect(await store.listForks('f-b')).toEqual([]);
      expect(await store.listForks('nobody')).toEqual([]);
      expect(await store.listForks('')).toEqual([]);
      // Later transitions (with a row) keep the link as it was.
      expect((await store.getMeta('f-b'))?.parent).toEqual({ id: 'p', seq: 4 });
    });

    it('deleting a fork removes it from its parent\'s forks', async () => {
      await seed('p', 4);
      await seed('f1', 1, { parent: { id: 'p', seq: 1 } });
      await seed('f2', 1, { parent: { id: 'p', seq: 3 } });
      await store.delete(['f1']);
      expect(await store.listForks('p')).toEqual([{ id: 'f2', seq: 3 }]);
      await store.delete(['f2']);
      expect(await store.listForks('p')).toEqual([]);
      expect((await store.getMeta('p'))?.seq).toBe(4);
    });

    it('deleting a parent removes its fork links: the forks stay, and an execution created afresh under its id has no forks', async () => {
      await seed('p', 4);
      await seed('f', 2, { parent: { id: 'p', seq: 2 } });
      await store.delete(['p']);
      expect(await store.getMeta('p')).toBeUndefined();
      const fork = await store.getMeta('f');
      expect(fork?.parent).toEqual({ id: 'p', seq: 2 });
      expect((await store.readJournal('f')).map((e) => e.seq)).toEqual([3, 4, 5]);
      expect(await store.listForks('p'), 'the link went with the parent').toEqual([]);

      await seed('p', 1);
      expect(await store.listForks('p'), 'a new execution under the old id inherits no forks').toEqual([]);
    });
  });

  describe('copyHistory', () => {
    it('copies the entries and keyframes of the given ranges (only those) at the same seqs; the target\'s own entries and row stay', async () => {
      await seed('root', 4, { keyframes: [2] });
      await seed('mid', 4, { parent: { id: 'root', seq: 3 }, keyframes: [6] });
      const fork = await seed('leaf', 2, { parent: { id: 'mid', seq: 6 } });
      const rootBefore = await dump(store, 'root');
      const midBefore = await dump(store, 'mid');
      const leafMeta = await store.getMeta('leaf');
      const leafOwn = await store.readJournal('leaf');
      expect(leafOwn.map((e) => e.seq)).toEqual([7, 8, 9]);
      const leafKeyframe = await store.keyframeAtOrBefore('leaf', 9);
      expect(leafKeyframe?.seq).toBe(7);

      // A gap on purpose: seq 4 (root) is not asked for; root's keyframe at 2 is not either.
      await store.copyHistory('leaf', [
        { id: 'root', from: 0, to: 1 },
        { id: 'root', from: 3, to: 3 },
        { id: 'mid', from: 5, to: 6 },
      ]);

      const journal = await store.readJournal('leaf');
      expect(journal.map((e) => e.seq)).toEqual([0, 1, 3, 5, 6, 7, 8, 9]);
      const rootJournal = await store.readJournal('root');
      const midJournal = await store.readJournal('mid');
      // Each copied entry is marked with the execution it came from, the range's last seq as a fork point.
      const marked = (e: JournalEntry | undefined, from: string, forkPoint = false): JournalEntry => ({ ...(e as JournalEntry), inherited: { from, ...(forkPoint ? { forkPoint: true as const } : {}) } });
      expect(journal.slice(0, 3)).toEqual([marked(rootJournal[0], 'root'), marked(rootJournal[1], 'root', true), marked(rootJournal[3], 'root', true)]);
      expect(journal.slice(3, 5)).toEqual(midJournal.filter((e) => e.seq === 5 || e.seq === 6).map((e) => marked(e, 'mid', e.seq === 6)));
      expect(journal.slice(5)).toEqual(leafOwn);

      // Keyframes: root's at 0 (in range) and mid's at 6 (in range) copied; root's at 2 not.
      expect(await store.keyframeAtOrBefore('leaf', 0)).toEqual(await store.keyframeAtOrBefore('root', 0));
      expect((await store.keyframeAtOrBefore('leaf', 2))?.seq).toBe(0);
      expect((await store.keyframeAtOrBefore('leaf', 5))?.seq).toBe(0);
      expect(await store.keyframeAtOrBefore('leaf', 6)).toEqual({ seq: 6, snapshot: { context: { n: 6, id: 'mid' }, value: 's6' } });
      expect(await store.keyframeAtOrBefore('leaf', 9)).toEqual(leafKeyframe);

      // The row is the target's own, with its latest transition; the sources are untouched.
      expect(await store.getMeta('leaf')).toEqual(leafMeta);
      expect(await store.getMeta('leaf')).toEqual(fork.meta);
      expect(await dump(store, 'root')).toEqual(rootBefore);
      expect(await dump(store, 'mid')).toEqual(midBefore);
      expect(await store.listForks('mid')).toEqual([{ id: 'leaf', seq: 6 }]);
      expect(ids((await store.list({ status: 'waiting' })).items).sort()).toEqual(['leaf', 'mid', 'root']);

      // The target goes on writing after its own entries.
      await store.append(fork.next(2_000, { status: 'completed' }));
      expect((await store.readJournal('leaf')).map((e) => e.seq)).toEqual([0, 1, 3, 5, 6, 7, 8, 9, 10]);
      expect((await store.getMeta('leaf'))?.seq).toBe(10);
    });

    it('no segments, or empty ranges: nothing changes', async () => {
      await seed('src', 3);
      await seed('dst', 1, { parent: { id: 'src', seq: 2 } });
      const before = await dump(store, 'dst');
      await store.copyHistory('dst', []);
      await store.copyHistory('dst', [{ id: 'src', from: 2, to: 1 }]);
      expect(await dump(store, 'dst')).toEqual(before);
    });
  });

  describe('rewind', () => {
    const KEYS = ['k2', 'k5', 'k6', 'k9'];

    /**
     * 'r' ran to seq 10 (keyframes 0, 4, 8), running, with a timer pending; effect records invoked
     * at 2, 6 and 7; send keys applied at 2, 5, 6 and 9. 'r-1' (an id 'r' is a prefix of) has
     * records and keys of the same names.
     */
    async function population(): Promise<{ exec: ExecWriter; version: number }> {
      const exec = new ExecWriter('r');
      await store.create(exec.create(1_000, { status: 'running' }));
      const tOld = timer('late', 90_000);
      for (let seq = 1; seq <= 10; seq++) {
        const write = exec.next(1_000 + seq, {
          ...([4, 8].includes(seq) ? { keyframe: { context: { n: seq, id: 'r' }, value: `s${seq}` } } : {}),
          ...(seq === 9 ? { timers: [tOld] } : {}),
        });
        if (seq === 9) write.timers = { add: [tOld], remove: [] };
        const key = KEYS.find((k) => k === `k${seq}`);
        await store.append({ ...write, ...(key ? { sendKey: key } : {}) });
      }
      for (const key of ['r/x@2', 'r/y@6', 'r/z@7']) await store.putEffect('r', { key, status: 'done', attempts: 1, output: key });
      const other = new ExecWriter('r-1');
      await store.create(other.create(1_000, { status: 'running' }));
      for (let seq = 1; seq <= 9; seq++) {
        const key = KEYS.find((k) => k === `k${seq}`);
        await store.append({ ...other.next(1_000 + seq), ...(key ? { sendKey: key } : {}) });
      }
      await store.putEffect('r-1', { key: 'r/y@6', status: 'done', attempts: 1, output: 'other' });
      const claim = await store.claim('r', 'me', 5_000, { reopen: 'any' });
      if (!claim.ok) throw new Error('claim failed');
      exec.meta = { ...exec.meta, owner: 'me' };
      exec.version = claim.version;
      return { exec, version: claim.version };
    }

    /** The rewind of 'r' to seq 5 (cut 6), the way the runtime builds it. */
    async function rewindTo5(exec: ExecWriter, version: number): Promise<RewindWrite> {
      const NOW = 20_000;
      const snapshot5 = (await store.keyframeAtOrBefore('r', 4))!.snapshot as { context: { n: number } };
      snapshot5.context.n = 5;
      const old = await store.readJournal('r');
      const tNew = timer('early', 30_000);
      const { timers: _t, ...row } = exec.meta;
      const meta: ExecutionMeta = { ...row, seq: 6, status: 'waiting', statusSince: NOW, value: 's5', updatedAt: NOW, owner: 'me', timers: [tNew] };
      const last = old[old.length - 1]!;
      return {
        write: {
          id: 'r',
          version,
          meta,
          entry: { seq: 6, at: NOW, event: { type: 'durastate.rewind', to: 5, branch: 'r~b' }, patch: [], value: 's5', status: 'waiting', timers: [tNew] },
          keyframe: snapshot5 as unknown as Json,
          previous: { status: exec.meta.status, statusSince: exec.meta.statusSince },
          timers: { add: [tNew], remove: exec.meta.timers ?? [] },
        },
        branch: {
          id: 'r~b',
          machineId: 'm',
          machineVersion: 'v1',
          status: 'cancelled',
          statusSince: NOW,
          seq: last.seq,
          value: last.value,
          createdAt: NOW,
          updatedAt: last.at,
          parent: { id: 'r', seq: 5 },
          error: { name: 'Rewound', message: 'rewound' },
        },
        branchKeyframe: { context: { n: 6, id: 'r' }, value: 's6' },
        branchEntry: { ...(old[6] as JournalEntry), effects: { child: { key: 'r/y@6', seq: 6 } } },
        effectKeys: ['r/y@6', 'r/z@7'],
      };
    }

    it('moves what follows the cut to the branch, writes the branch, and applies the write: journal, keyframes, effects, send keys, row, index, timers', async () => {
      const { exec, version } = await population();
      const old = await store.readJournal('r');
      const otherBefore = await dump(store, 'r-1', KEYS);
      const kf8 = await store.keyframeAtOrBefore('r', 8);
      expect(await store.dueTimers(Number.MAX_SAFE_INTEGER, 10)).toEqual([{ id: 'r', timer: 'late', dueAt: 90_000 }]);
      const plan = await rewindTo5(exec, version);

      await store.rewind(plan);

      // The execution: 0..5 as they were, then the rewind's own transition at 6 with its keyframe.
      const journal = await store.readJournal('r');
      expect(journal.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(journal.slice(0, 6)).toEqual(old.slice(0, 6));
      expect(journal[6]).toEqual(plan.write.entry);
      expect(await store.keyframeAtOrBefore('r', 5)).toEqual({ seq: 4, snapshot: { context: { n: 4, id: 'r' }, value: 's4' } });
      expect(await store.keyframeAtOrBefore('r', 100)).toEqual({ seq: 6, snapshot: plan.write.keyframe });
      expect(await store.getMeta('r')).toEqual(plan.write.meta);

      // The branch: its first entry and keyframe at the cut, then the moved ones.
      const branchJournal = await store.readJournal('r~b');
      expect(branchJournal.map((e) => e.seq)).toEqual([6, 7, 8, 9, 10]);
      expect(branchJournal[0]).toEqual(plan.branchEntry);
      expect(branchJournal.slice(1)).toEqual(old.slice(7));
      expect(await store.keyframeAtOrBefore('r~b', 5)).toBeUndefined();
      expect(await store.keyframeAtOrBefore('r~b', 7)).toEqual({ seq: 6, snapshot: plan.branchKeyframe });
      expect(await store.keyframeAtOrBefore('r~b', 10)).toEqual(kf8);
      expect(await store.getMeta('r~b')).toEqual(plan.branch);

      // Effect records: the listed ones moved, the others stay.
      expect((await store.listEffects('r')).map((e) => e.key)).toEqual(['r/x@2']);
      expect(await store.listEffects('r~b')).toEqual([
        { key: 'r/y@6', status: 'done', attempts: 1, output: 'r/y@6' },
        { key: 'r/z@7', status: 'done', attempts: 1, output: 'r/z@7' },
      ]);
      expect(await store.getEffect('r', 'r/y@6')).toBeUndefined();

      // Send keys applied at or after the cut moved with their seqs.
      expect(await store.sendKeySeq('r', 'k2')).toBe(2);
      expect(await store.sendKeySeq('r', 'k5')).toBe(5);
      expect(await store.sendKeySeq('r', 'k6')).toBeUndefined();
      expect(await store.sendKeySeq('r', 'k9')).toBeUndefined();
      expect(await store.sendKeySeq('r~b', 'k6')).toBe(6);
      expect(await store.sendKeySeq('r~b', 'k9')).toBe(9);
      expect(await store.sendKeySeq('r~b', 'k2')).toBeUndefined();

      // Listings: the branch by its status, the execution moved from running to waiting.
      expect(ids((await store.list({ status: 'cancelled' })).items)).toEqual(['r~b']);
      expect(ids((await store.list({ status: 'waiting' })).items)).toEqual(['r']);
      expect(ids((await store.list({ status: 'running' })).items)).toEqual(['r-1']);
      expect(ids(await store.listSince('cancelled', Number.MAX_SAFE_INTEGER, 10))).toEqual(['r~b']);
      expect(await store.countByStatus()).toEqual({ running: 1, waiting: 1, completed: 0, failed: 0, cancelled: 1 });
      expect(await store.listForks('r')).toEqual([{ id: 'r~b', seq: 5 }]);

      // Timers: the one pending at the end went, the re-armed one is there.
      expect(await store.dueTimers(Number.MAX_SAFE_INTEGER, 10)).toEqual([{ id: 'r', timer: 'early', dueAt: 30_000 }]);

      // Nothing of 'r-1' moved.
      expect(await dump(store, 'r-1', KEYS)).toEqual(otherBefore);

      // The execution goes on from its new seq at the same version.
      exec.meta = plan.write.meta;
      await store.append(exec.next(21_000));
      expect((await store.getMeta('r'))?.seq).toBe(7);
      expect((await store.readJournal('r~b')).map((e) => e.seq)).toEqual([6, 7, 8, 9, 10]);
    });

    it('with a wrong version: rejects with EXECUTION_LOCKED and changes nothing', async () => {
      const { exec, version } = await population();
      const before = { r: await dump(store, 'r', KEYS), b: await dump(store, 'r~b', KEYS), other: await dump(store, 'r-1', KEYS) };
      const counts = await store.countByStatus();
      const timers = await store.dueTimers(Number.MAX_SAFE_INTEGER, 10);
      const plan = await rewindTo5(exec, version);
      for (const stale of [version - 1, version + 1, 1]) {
        if (stale === version) continue;
        const attempt = store.rewind({ ...plan, write: { ...plan.write, version: stale } });
        await expect(attempt).rejects.toBeInstanceOf(ExecutionLockedError);
        await expect(attempt).rejects.toMatchObject({ code: 'EXECUTION_LOCKED' });
      }
      expect(await dump(store, 'r', KEYS)).toEqual(before.r);
      expect(await dump(store, 'r~b', KEYS)).toEqual(before.b);
      expect(await dump(store, 'r-1', KEYS)).toEqual(before.other);
      expect(await store.getMeta('r~b')).toBeUndefined();
      expect(await store.listForks('r')).toEqual([]);
      expect(await store.countByStatus()).toEqual(counts);
      expect(await store.dueTimers(Number.MAX_SAFE_INTEGER, 10)).toEqual(timers);
      expect(ids((await store.list({ status: 'cancelled' })).items)).toEqual([]);

      // Another claim in between fences the plan off too; the fresh version goes through.
      const again = await store.claim('r', 'other', 6_000, { reopen: 'any' });
      if (!again.ok) throw new Error('claim failed');
      await expect(store.rewind(plan)).rejects.toMatchObject({ code: 'EXECUTION_LOCKED' });
      expect(await store.getMeta('r~b')).toBeUndefined();
      await store.rewind({ ...plan, write: { ...plan.write, version: again.version } });
      expect((await store.readJournal('r~b')).map((e) => e.seq)).toEqual([6, 7, 8, 9, 10]);
    });

    it('a rewind of an unknown execution rejects and writes no branch', async () => {
      const exec = new ExecWriter('ghost');
      exec.create(1_000);
      const write = exec.next(1_001);
      const plan: RewindWrite = {
        write: { ...write, meta: write.meta! },
        branch: { ...write.meta!, id: 'ghost~b', status: 'cancelled', parent: { id: 'ghost', seq: 0 } },
        branchKeyframe: {},
        branchEntry: write.entry,
        effectKeys: [],
      };
      await expect(store.rewind(plan)).rejects.toMatchObject({ code: 'EXECUTION_LOCKED' });
      expect(await store.getMeta('ghost~b')).toBeUndefined();
      expect(await store.getMeta('ghost')).toBeUndefined();
    });
  });

  describe('effects and pending work in transitions', () => {
    it('TransitionWrite.effects records land in the effects table, with create and with append', async () => {
      const reused: EffectRecord = { key: 'f/pay@3', status: 'done', attempts: 2, output: { paid: 10 } };
      const failed: EffectRecord = { key: 'f/ship@3', status: 'failed', attempts: 3, error: { name: 'TerminalError', message: 'no', code: 'TERMINAL' } };
      const exec = new ExecWriter('f');
      expect(await store.create(exec.create(1_000, { parent: { id: 'p', seq: 2 }, seq: 3, effects: [reused, failed] }))).toBe(true);
      expect(await store.listEffects('f')).toEqual([reused, failed]);
      const later: EffectRecord = { key: 'f/mail@4', status: 'done', attempts: 1, output: null };
      await store.append({ ...exec.next(1_001), effects: [later, { ...reused, attempts: 5 }] });
      expect(await store.getEffect('f', 'f/mail@4')).toEqual(later);
      expect(await store.getEffect('f', 'f/pay@3')).toEqual({ ...reused, attempts: 5 });
      expect(await store.listEffects('f')).toHaveLength(3);
      // A write fenced off carries its records nowhere.
      const stale = { ...exec.next(1_002), version: exec.version + 7, effects: [{ key: 'f/x@5', status: 'done' as const, attempts: 1 }] };
      await expect(store.append(stale)).rejects.toMatchObject({ code: 'EXECUTION_LOCKED' });
      expect(await store.getEffect('f', 'f/x@5')).toBeUndefined();
      expect(await store.listEffects('p')).toEqual([]);
    });

    it('a journal entry\'s timers and effects round-trip exactly', async () => {
      const exec = new ExecWriter('te');
      await store.create(exec.create(1_000));
      const timers = [timer('a', 5_000), { ...timer('b', 6_000), source: ['child'], target: ['child', 'x'] }];
      const write = exec.next(1_001, { timers });
      write.entry.effects = { 'child.a': { key: 'te/child.a@1', seq: 1 } };
      await store.append(write);
      const none = exec.next(1_002);
      none.entry.timers = [];
      none.entry.effects = {};
      await store.append(none);
      const [e1, e2] = await store.readJournal('te', { from: 1 });
      expect(e1).toEqual(write.entry);
      expect(e1?.timers).toEqual(timers);
      expect(e1?.effects).toEqual({ 'child.a': { key: 'te/child.a@1', seq: 1 } });
      expect(e2?.timers).toEqual([]);
      expect(e2?.effects).toEqual({});
      expect((await store.readJournal('te', { from: 0, to: 0 }))[0]).not.toHaveProperty('timers');
    });
  });

  describe('listSince with after', () => {
    it('pages after a given meta: every execution once, oldest first, ties by id, within `before`', async () => {
      // statusSince: several ties, one at the cut-off (excluded), one past it.
      const since: Record<string, number> = { a: 300, b: 100, c: 300, d: 200, e: 300, f: 100, g: 500, h: 600, i: 250 };
      for (const [id, at] of Object.entries(since)) {
        const exec = new ExecWriter(id);
        await store.create(exec.create(50, { status: 'running' }));
        await store.append(exec.next(at, { status: 'completed' }));
      }
      const expected = ['b', 'f', 'd', 'i', 'a', 'c', 'e'];
      for (const limit of [1, 2, 3, 7, 100]) {
        const seen: string[] = [];
        let after: ExecutionMeta | undefined;
        for (let guard = 0; guard < 20; guard++) {
          const page = await store.listSince('completed', 500, limit, after);
          expect(page.length).toBeLessThanOrEqual(limit);
          if (page.length === 0) break;
          seen.push(...ids(page));
          after = page[page.length - 1];
        }
        expect(seen, `limit ${limit}`).toEqual(expected);
      }
      expect(ids(await store.listSince('completed', 1_000, 100, (await store.getMeta('e'))!))).toEqual(['g', 'h']);
      expect(ids(await store.listSince('completed', 1_000, 2, (await store.getMeta('b'))!))).toEqual(['f', 'd']);
      expect(await store.listSince('completed', 1_000, 100, (await store.getMeta('h'))!)).toEqual([]);
    });

    it('the item `after` names may be gone (deleted between pages): paging goes on after its place', async () => {
      for (const [id, at] of [['x1', 10], ['x2', 20], ['x3', 20], ['x4', 30]] as const) {
        const exec = new ExecWriter(id);
        await store.create(exec.create(1, { status: 'running' }));
        await store.append(exec.next(at, { status: 'cancelled' }));
      }
      const first = await store.listSince('cancelled', 100, 2);
      expect(ids(first)).toEqual(['x1', 'x2']);
      await store.delete(['x1', 'x2']);
      expect(ids(await store.listSince('cancelled', 100, 2, first[1]))).toEqual(['x3', 'x4']);
    });
  });

  describe('claim with reopen', () => {
    const NOW = 100_000;

    async function finished(id: string, status: ExecutionStatus): Promise<ExecWriter> {
      const exec = new ExecWriter(id);
      await store.create(exec.create(1_000, { status: 'running' }));
      await store.append(exec.next(2_000, { status }));
      return exec;
    }

    it("reopen: 'any' claims completed, cancelled and failed executions; the row is kept, the owner set, the version bumped", async () => {
      for (const status of ['completed', 'cancelled', 'failed'] as const) {
        const exec = await finished(`any-${status}`, status);
        const claim = await store.claim(exec.id, 'me', NOW, { reopen: 'any' });
        expect(claim, status).toEqual({ ok: true, version: expect.any(Number), meta: { ...exec.meta, owner: 'me' } });
        expect(await store.getMeta(exec.id)).toEqual({ ...exec.meta, owner: 'me' });
        expect(ids(await store.listSince(status, NOW, 10))).toContain(exec.id);
        // The old version is fenced off, the new one writes.
        if (!claim.ok) continue;
        await expect(store.append(exec.next(3_000))).rejects.toMatchObject({ code: 'EXECUTION_LOCKED' });
        exec.version = claim.version;
        exec.meta = { ...exec.meta, seq: 1 };
        await store.append(exec.next(3_000, { status: 'waiting' }));
        expect((await store.getMeta(exec.id))?.status).toBe('waiting');
      }
    });

    it('reopen: true still claims only failed ones; no reopen claims none', async () => {
      for (const status of ['completed', 'cancelled'] as const) {
        const exec = await finished(`true-${status}`, status);
        expect(await store.claim(exec.id, 'me', NOW, { reopen: true })).toEqual({ ok: false, reason: 'finished', meta: exec.meta });
        expect(await store.claim(exec.id, 'me', NOW)).toEqual({ ok: false, reason: 'finished', meta: exec.meta });
        expect(await store.claim(exec.id, 'me', NOW, { reopen: false })).toEqual({ ok: false, reason: 'finished', meta: exec.meta });
        expect((await store.getMeta(exec.id))?.owner).toBeUndefined();
      }
      const failed = await finished('true-failed', 'failed');
      expect(await store.claim('true-failed', 'me', NOW)).toEqual({ ok: false, reason: 'finished', meta: failed.meta });
      expect((await store.claim('true-failed', 'me', NOW, { reopen: true })).ok).toBe(true);
    });

    it("reopen: 'any' does not take an execution a live owner holds, nor a missing one", async () => {
      await store.registerOwner({ id: 'live', pid: 1, host: 'h', startedAt: 0, leaseUntil: NOW + 1 });
      const exec = new ExecWriter('held');
      const write = exec.create(1_000, { status: 'completed' });
      write.meta.owner = 'live';
      await store.create(write);
      const result = await store.claim('held', 'me', NOW, { reopen: 'any' });
      expect(result).toMatchObject({ ok: false, reason: 'owned', owner: { id: 'live' } });
      expect((await store.getMeta('held'))?.owner).toBe('live');
      expect(await store.claim('none', 'me', NOW, { reopen: 'any' })).toEqual({ ok: false, reason: 'missing' });
    });
  });

  describe.runIf(config.persistent)('persistence', () => {
    it('fork links, a copied history and a rewind survive reopening', async () => {
      await seed('p', 5, { keyframes: [3] });
      await seed('f', 2, { parent: { id: 'p', seq: 3 } });
      await store.copyHistory('f', [{ id: 'p', from: 0, to: 3 }]);
      const journal = await store.readJournal('f');
      const claim = await store.claim('p', 'me', 1, { reopen: 'any' });
      if (!claim.ok) throw new Error('claim failed');
      const meta = (await store.getMeta('p'))!;
      const old = await store.readJournal('p');
      await store.rewind({
        write: {
          id: 'p',
          version: claim.version,
          meta: { ...meta, seq: 5, value: 'back', updatedAt: 9_000 },
          entry: { seq: 5, at: 9_000, event: { type: 'durastate.rewind' }, patch: [], value: 'back', status: 'waiting' },
          keyframe: { back: true },
        },
        branch: { ...meta, id: 'p~1', status: 'cancelled', statusSince: 9_000, parent: { id: 'p', seq: 4 } },
        branchKeyframe: { moved: true },
        branchEntry: old[5]!,
        effectKeys: [],
      });
      await store.close();
      store = config.make(dir.path);
      await store.open();
      expect(await store.listForks('p')).toEqual([
        { id: 'f', seq: 3 },
        { id: 'p~1', seq: 4 },
      ]);
      expect(await store.readJournal('f')).toEqual(journal);
      expect((await store.readJournal('p')).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
      expect((await store.readJournal('p'))[5]?.value).toBe('back');
      expect(await store.readJournal('p~1')).toEqual([old[5]]);
      expect(await store.keyframeAtOrBefore('p~1', 5)).toEqual({ seq: 5, snapshot: { moved: true } });
      expect((await store.getMeta('p~1'))?.status).toBe('cancelled');
    });
  });
});
