import { afterEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup, type AnyStateMachine } from 'xstate';
import {
  createRuntime,
  ExecutionCancelledError,
  ExecutionFailedError,
  ExecutionNotFoundError,
  lmdbStore,
  RuntimeClosedError,
  simulatedClock,
  type Clock,
  type Runtime,
} from '../src/index.js';
import { LmdbStore, rebuildSnapshot } from '../src/internal.js';
import { approvalMachine, stepsMachine } from './fixtures/machines.js';
import { storeConfigs, tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function dir(): string {
  const t = tempDir();
  cleanups.push(t.remove);
  return t.path;
}


const failing = setup({
  actors: { explode: fromPromise(async (): Promise<number> => Promise.reject(new Error('boom'))) },
}).createMachine({
  id: 'failing',
  initial: 'work',
  states: { work: { invoke: { src: 'explode', onDone: 'done' } }, done: { type: 'final' } },
});

describe.each(storeConfigs)('runtime on $name', (config) => {
  async function open(machines: AnyStateMachine[] = [stepsMachine, approvalMachine, failing], clock?: Clock): Promise<Runtime> {
    const rt = await createRuntime({ store: config.make(dir()), machines, ...(clock ? { clock } : {}) });
    cleanups.push(() => rt.close());
    return rt;
  }

  it('runs a workflow to completion: start, send, get, history, wait', async () => {
    const rt = await open();
    const { id } = await rt.start('steps', { input: { total: 3 }, id: 'run-1' });
    expect(id).toBe('run-1');
    await rt.send(id, { type: 'STEP', n: 1 });
    await rt.send(id, { type: 'ADD', amount: 4 });
    const mid = await rt.get(id);
    expect(mid).toMatchObject({ status: 'waiting', seq: 2, value: 'working', machine: 'steps', input: { total: 3 } });
    expect(mid?.context).toEqual({ total: 3, done: 1, sum: 4, log: ['step 1 (n=1)'] });
    expect(mid?.createdAt).toBeInstanceOf(Date);
    await rt.send(id, { type: 'STEP', n: 2 });
    await rt.send(id, { type: 'STEP', n: 3 });
    await expect(rt.wait(id)).resolves.toEqual({ done: 3, sum: 4, log: ['step 1 (n=1)', 'step 2 (n=2)', 'step 3 (n=3)'] });
    const history = await rt.history(id);
    expect(history.map((h) => [h.seq, (h.event as { type: string }).type, h.status])).toEqual([
      [0, 'xstate.init', 'waiting'],
      [1, 'STEP', 'waiting'],
      [2, 'ADD', 'waiting'],
      [3, 'STEP', 'waiting'],
      [4, 'STEP', 'completed'],
    ]);
    expect(history[2]?.event).toEqual({ type: 'ADD', amount: 4 });
    expect((await rt.history(id, { reverse: true, limit: 2 })).map((h) => h.seq)).toEqual([4, 3]);
    expect((await rt.history(id, { from: 1, to: 2 })).map((h) => h.seq)).toEqual([1, 2]);
    const done = await rt.get(id);
    expect(done).toMatchObject({ status: 'completed', output: { done: 3 }, accepts: [] });
    await expect(rt.history('nope')).rejects.toBeInstanceOf(ExecutionNotFoundError);
  });

  it('an invoked promise runs, its result is committed, and the execution waits for approval', async () => {
    const rt = await open();
    const { id } = await rt.start('approval', { input: { amount: 21 } });
    // The promise resolves on its own: wait for the execution to reach the approval state.
    for (let i = 0; i < 100 && (await rt.get(id))?.value !== 'awaitingApproval'; i++) await new Promise((r) => setTimeout(r, 5));
    const info = await rt.get(id);
    expect(info).toMatchObject({ status: 'waiting', value: 'awaitingApproval', context: { amount: 21, quote: 42 } });
    expect(info?.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    const history = await rt.history(id);
    expect(history[0]?.status).toBe('running'); // seq 0: the quote is in flight
    expect((history[1]?.event as { type: string }).type).toBe('xstate.done.actor.0.approval.quoting');
    await rt.send(id, { type: 'APPROVE', by: 'ann' });
    await expect(rt.wait(id)).resolves.toEqual({ quote: 42, approvedBy: 'ann' });
  });

  it('a failing invoke with no onError fails the execution: recorded, and wait rejects with it', async () => {
    const rt = await open();
    const { id } = await rt.start('failing');
    const err = await rt.wait(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionFailedError);
    expect((err as ExecutionFailedError).record.message).toBe('boom');
    const info = await rt.get(id);
    expect(info).toMatchObject({ status: 'failed', error: { message: 'boom', name: 'Error' } });
  });

  it('cancel stops an execution durably', async () => {
    const rt = await open();
    const { id } = await rt.start('steps', { input: { total: 5 } });
    await rt.send(id, { type: 'STEP', n: 1 });
    await rt.cancel(id, 'operator said so');
    const info = await rt.get(id);
    expect(info).toMatchObject({ status: 'cancelled', seq: 2, context: { done: 1 }, cancelReason: 'operator said so' });
    expect((await rt.list({ status: 'cancelled' })).items[0]?.cancelReason).toBe('operator said so');
    await expect(rt.wait(id)).rejects.toBeInstanceOf(ExecutionCancelledError);
    await expect(rt.wait(id)).rejects.toMatchObject({ reason: 'operator said so', message: 'Execution "e" was cancelled: operator said so'.replace('"e"', `"${id}"`) });
    expect((await rt.history(id)).at(-1)?.event).toEqual({ type: 'durastate.cancel', reason: 'operator said so' });
  });

  it('list filters by status and machine and pages with a cursor; stats count by status', async () => {
    const rt = await open();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await rt.start('steps', { id: `s-${i}`, input: { total: 1 } })).id);
    await rt.start('approval', { id: 'a-0', input: { amount: 1 } });
    for (const id of ids.slice(0, 3)) await rt.send(id, { type: 'STEP', n: 1 });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await rt.list({ machine: 'steps', limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.cursor;
    } while (cursor);
    expect(seen).toEqual(ids);
    const completed = await rt.list({ status: 'completed' });
    expect(completed.items.map((i) => i.id).sort()).toEqual(['s-0', 's-1', 's-2']);
    expect((await rt.list({ status: 'waiting', machine: 'steps' })).items).toHaveLength(4);
    const stats = await rt.stats();
    expect(stats.total).toBe(8);
    expect(stats.byStatus.completed).toBe(3);
    expect(stats.byStatus.waiting + stats.byStatus.running).toBe(5);
  });

  it('delete removes an execution and its history; cleanup removes old finished ones only', async () => {
    const clock = simulatedClock(Date.UTC(2026, 0, 1));
    const rt = await open([stepsMachine], clock);
    await rt.start('steps', { id: 'old-done', input: { total: 1 } });
    await rt.send('old-done', { type: 'STEP', n: 1 });
    await rt.start('steps', { id: 'old-waiting', input: { total: 9 } });
    await clock.advance(8 * 24 * 3600_000);
    await rt.start('steps', { id: 'new-done', input: { total: 1 } });
    await rt.send('new-done', { type: 'STEP', n: 1 });
    expect(await rt.cleanup({ olderThan: 7 * 24 * 3600_000 })).toEqual({ deleted: 1, kept: 0 });
    expect(await rt.get('old-done')).toBeUndefined();
    expect(await rt.get('old-waiting')).toBeDefined();
    expect(await rt.get('new-done')).toBeDefined();
    await rt.delete('old-waiting');
    expect(await rt.get('old-waiting')).toBeUndefined();
    expect(await rt.history('new-done')).toHaveLength(2);
    await expect(rt.delete('old-waiting')).rejects.toBeInstanceOf(ExecutionNotFoundError);
    expect(await rt.cleanup({ olderThan: new Date(clock.now() + 1) })).toEqual({ deleted: 1, kept: 0 });
    expect((await rt.stats()).total).toBe(0);
  });

  it('a closed runtime refuses work', async () => {
    const rt = await open();
    await rt.close();
    await expect(rt.start('steps')).rejects.toBeInstanceOf(RuntimeClosedError);
  });

  it.runIf(config.persistent)('a runtime reopened on the store recovers interrupted executions and continues them', async () => {
    const path = dir();
    const first = await createRuntime({ store: config.make(path), machines: [stepsMachine, approvalMachine] });
    await first.start('steps', { id: 'w', input: { total: 3 } });
    await first.send('w', { type: 'STEP', n: 1 });
    await first.close(); // like a crash for what the store holds: the execution is still 'waiting'

    const second = await createRuntime({ store: config.make(path), machines: [stepsMachine, approvalMachine] });
    cleanups.push(() => second.close());
    // Recovered: claimed by the new runtime, and (waiting) passivated until it is sent to.
    expect((await second.get('w'))?.owner).toBe(second.ownerId);
    expect((await second.stats()).hosted).toBe(0);
    await second.send('w', { type: 'STEP', n: 2 });
    expect((await second.stats()).hosted).toBe(1);
    await second.send('w', { type: 'STEP', n: 3 });
    expect(await second.wait('w')).toMatchObject({ done: 3 });
    expect((await second.history('w')).map((h) => h.seq)).toEqual([0, 1, 2, 3]);
  });

  it.runIf(config.persistent)('recover: false leaves interrupted executions alone until they are sent to', async () => {
    const path = dir();
    const first = await createRuntime({ store: config.make(path), machines: [stepsMachine] });
    await first.start('steps', { id: 'w', input: { total: 2 } });
    await first.close();
    const second = await createRuntime({ store: config.make(path), machines: [stepsMachine], recover: false });
    cleanups.push(() => second.close());
    expect((await second.stats()).hosted).toBe(0);
    await second.send('w', { type: 'STEP', n: 1 });
    expect((await second.stats()).hosted).toBe(1);
    expect((await second.get('w'))?.context).toMatchObject({ done: 1 });
  });
});

describe('group commit on LMDB', () => {
  it('transitions of many executions sent in the same turn share LMDB commits', async () => {
    const store = lmdbStore({ path: dir() }) as LmdbStore;
    const rt = await createRuntime({ store, machines: [stepsMachine] });
    cleanups.push(() => rt.close());
    const ids = Array.from({ length: 200 }, (_, i) => `g-${i}`);
    await Promise.all(ids.map((id) => rt.start('steps', { id, input: { total: 100 } })));
    const before = store.lastCommitId();
    for (let round = 1; round <= 3; round++) {
      await Promise.all(ids.map((id) => rt.send(id, { type: 'STEP', n: round })));
    }
    const commits = store.lastCommitId() - before;
    // 600 durable transitions; one commit each would be 600.
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThanOrEqual(30);
    for (const id of ids) expect((await rt.get(id))?.seq).toBe(3);
  });

  it('a long execution keeps keyframes: a rebuild reads fewer patches than the interval', async () => {
    const store = lmdbStore({ path: dir() });
    const rt = await createRuntime({ store, machines: [stepsMachine], keyframeEvery: 16 });
    cleanups.push(() => rt.close());
    const { id } = await rt.start('steps', { input: { total: 1000 } });
    for (let n = 1; n <= 100; n++) await rt.send(id, { type: 'ADD', amount: n });
    for (let seq = 0; seq <= 100; seq++) {
      const keyframe = await store.keyframeAtOrBefore(id, seq);
      expect(seq - (keyframe?.seq ?? -999)).toBeLessThan(16);
      const snapshot = (await rebuildSnapshot(store, id, seq)) as { context: { sum: number } };
      expect(snapshot.context.sum).toBe((seq * (seq + 1)) / 2);
    }
  });
});

describe('the live actor and the store agree', () => {
  it('context written through assign of nested objects reads back equal', async () => {
    const nested = setup({ types: { context: {} as { doc: { title: string; tags: string[]; meta: Record<string, number> } } } }).createMachine({
      id: 'nested',
      context: { doc: { title: 't', tags: [], meta: {} } },
      on: {
        TAG: { actions: assign({ doc: ({ context, event }) => ({ ...context.doc, tags: [...context.doc.tags, (event as unknown as { tag: string }).tag] }) }) },
        META: { actions: assign({ doc: ({ context, event }) => ({ ...context.doc, meta: { ...context.doc.meta, [(event as unknown as { k: string }).k]: 1 } }) }) },
        UNTAG: { actions: assign({ doc: ({ context }) => ({ ...context.doc, tags: context.doc.tags.slice(1) }) }) },
      },
    });
    const rt = await createRuntime({ store: lmdbStore({ path: dir() }), machines: [nested], keyframeEvery: 1000 });
    cleanups.push(() => rt.close());
    const { id } = await rt.start('nested');
    await rt.send(id, { type: 'TAG', tag: 'a/b' });
    await rt.send(id, { type: 'META', k: 'x~y' });
    await rt.send(id, { type: 'TAG', tag: 'c' });
    await rt.send(id, { type: 'UNTAG' });
    expect((await rt.get(id))?.context).toEqual({ doc: { title: 't', tags: ['c'], meta: { 'x~y': 1 } } });
  });
});
