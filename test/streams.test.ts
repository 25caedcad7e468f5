import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup, type AnyStateMachine } from 'xstate';
import { createRuntime, lmdbStore, type Progress, type RuntimeEvent } from '../src/index.js';
import { onboardingMachine } from '../machines/index.js';
import { stepsMachine } from './fixtures/machines.js';
import { tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(machines: AnyStateMachine[] = [onboardingMachine, stepsMachine, pipeline]) {
  const dir = tempDir();
  cleanups.push(dir.remove);
  const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines });
  cleanups.push(() => rt.close());
  return rt;
}

/** A linear workflow of five states, moved by events. */
const pipeline = setup({}).createMachine({
  id: 'pipeline',
  initial: 'a',
  states: {
    a: { on: { NEXT: 'b' } },
    b: { on: { NEXT: 'c' } },
    c: { on: { NEXT: 'd' } },
    d: { on: { NEXT: 'done' } },
    done: { type: 'final' },
  },
});

describe('events$', () => {
  it('reports a whole workflow in order: started, transitions, effects, completed', async () => {
    const rt = await open();
    const seen: RuntimeEvent[] = [];
    const sub = rt.events$.subscribe((e) => seen.push(e));
    const { id } = await rt.start('onboarding', { input: { customer: 'ada' } });
    await rt.wait(id);
    await new Promise((r) => setTimeout(r, 10));
    sub.unsubscribe();
    const mine = seen.filter((e) => e.id === id);
    const types = mine.map((e) => (e.type === 'transition' ? `transition:${e.seq}` : e.type));
    expect(types[0]).toBe('transition:0');
    expect(types).toContain('started');
    expect(types.filter((t) => t === 'effect.started')).toHaveLength(4);
    expect(types.filter((t) => t === 'effect.completed')).toHaveLength(4);
    expect(types.filter((t) => t.startsWith('transition:'))).toEqual(['transition:0', 'transition:1', 'transition:2', 'transition:3', 'transition:4']);
    expect(types.at(-1)).toBe('completed');
    // Each effect completes before the transition its result causes.
    expect(types.indexOf('effect.completed')).toBeLessThan(types.indexOf('transition:1'));
  });

  it('a slow subscriber does not hold up the runtime', async () => {
    const rt = await open();
    let handled = 0;
    const sub = rt.events$.subscribe(() => {
      handled++;
    });
    const { id } = await rt.start('steps', { input: { total: 50 } });
    // Sends resolve as their commits land, whatever the subscriber does with the events.
    for (let n = 1; n <= 50; n++) await rt.send(id, { type: 'STEP', n });
    expect((await rt.get(id))?.status).toBe('completed');
    await new Promise((r) => setTimeout(r, 10));
    expect(handled).toBeGreaterThanOrEqual(51);
    sub.unsubscribe();
  });
});

describe('progress$', () => {
  it('is monotonic for a linear workflow and reaches 100 at the final state', async () => {
    const rt = await open();
    const { id } = await rt.start('pipeline');
    const all = lastValueFrom(rt.progress$(id).pipe(toArray()));
    for (let i = 0; i < 4; i++) {
      await rt.send(id, { type: 'NEXT' });
      await new Promise((r) => setTimeout(r, 5));
    }
    await rt.wait(id);
    const progress: Progress[] = await all;
    const percents = progress.map((p) => Math.round(p.percent));
    expect(percents).toEqual([0, 25, 50, 75, 100]);
    expect(progress.at(-1)).toMatchObject({ status: 'completed', done: 4, total: 4, value: 'done' });
  });

  it('a late subscriber first gets where the execution stands now', async () => {
    const rt = await open();
    const { id } = await rt.start('pipeline');
    await rt.send(id, { type: 'NEXT' });
    await rt.send(id, { type: 'NEXT' });
    const first = await firstValueFrom(rt.progress$(id));
    expect(first).toMatchObject({ seq: 2, value: 'c', done: 2, total: 4, percent: 50 });
  });

  it('uses meta.progress when the states carry it', async () => {
    const batch = setup({ types: { context: {} as { done: number; count: number } } }).createMachine({
      id: 'batch',
      context: { done: 0, count: 8 },
      initial: 'importing',
      states: {
        importing: {
          meta: { progress: (context: { done: number; count: number }) => (100 * context.done) / context.count },
          on: { CHUNK: [{ guard: ({ context }) => context.done + 1 >= context.count, target: 'done', actions: assign({ done: ({ context }) => context.done + 1 }) }, { actions: assign({ done: ({ context }) => context.done + 1 }) }] },
        },
        done: { type: 'final' },
      },
    });
    const rt = await open([batch]);
    const { id } = await rt.start('batch');
    for (let i = 0; i < 3; i++) await rt.send(id, { type: 'CHUNK' });
    expect((await firstValueFrom(rt.progress$(id))).percent).toBe(37.5);
  });
});

describe('the live registry (@xstate/store)', () => {
  it('holds the hosted executions with counts by status, and lets go of finished ones', async () => {
    const slow = setup({ actors: { wait: fromPromise(() => new Promise<number>(() => {})) } }).createMachine({
      id: 'slow',
      initial: 'working',
      states: { working: { invoke: { src: 'wait' } } },
    });
    const rt = await open([stepsMachine, slow]);
    const a = await rt.start('steps', { input: { total: 2 } });
    const b = await rt.start('slow');
    const snap = () => rt.registry.getSnapshot().context;
    await new Promise((r) => setTimeout(r, 10));
    expect(Object.keys(snap().executions).sort()).toEqual([a.id, b.id].sort());
    expect(snap().counts).toMatchObject({ waiting: 1, running: 1, completed: 0 });
    await rt.send(a.id, { type: 'STEP', n: 1 });
    await rt.send(a.id, { type: 'STEP', n: 2 });
    await new Promise((r) => setTimeout(r, 10));
    expect(Object.keys(snap().executions)).toEqual([b.id]);
    expect(snap().counts).toMatchObject({ waiting: 0, running: 1 });
    expect(snap().executions[b.id]).toMatchObject({ machine: 'slow', status: 'running', seq: 0 });
  });

  it('with hundreds hosted (its updates then coalesce for a few ms) it still ends up showing every transition', async () => {
    const rt = await open([stepsMachine]);
    const ids = (await Promise.all(Array.from({ length: 300 }, () => rt.start('steps', { input: { total: 5 } })))).map((h) => h.id);
    for (let n = 1; n <= 3; n++) await Promise.all(ids.map((id) => rt.send(id, { type: 'STEP', n })));
    const caughtUp = await new Promise<boolean>((resolve) => {
      const done = (): boolean => ids.every((id) => rt.registry.getSnapshot().context.executions[id]?.seq === 3);
      if (done()) return resolve(true);
      const sub = rt.registry.subscribe(() => {
        if (!done()) return;
        sub.unsubscribe();
        resolve(true);
      });
    });
    expect(caughtUp).toBe(true);
    expect(rt.registry.getSnapshot().context.counts.waiting).toBe(300);
  });
});
