import { afterEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup } from 'xstate';
import { createRuntime, lmdbStore, simulatedClock, type Runtime } from '../src/index.js';
import { tempDir } from './helpers.js';

const counter = setup({ types: { context: {} as { n: number; mode: string } } }).createMachine({
  id: 'counter',
  context: { n: 0, mode: 'a' },
  initial: 'counting',
  states: {
    counting: {
      on: {
        INC: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        DONE: [{ guard: ({ context }) => context.mode === 'b', target: 'pathB' }, { target: 'pathA' }],
      },
      after: { 60000: 'timedOut' },
    },
    pathA: { type: 'final' },
    pathB: { type: 'final' },
    timedOut: { type: 'final' },
  },
  output: ({ context }) => ({ mode: context.mode, n: context.n }),
});

const dirs: { remove(): void }[] = [];
let rt: Runtime | undefined;
afterEach(async () => {
  await rt?.close();
  dirs.splice(0).forEach((d) => d.remove());
});

describe('timeline smoke', () => {
  it('history, stateAt, fork, rewind, delete', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const clock = simulatedClock(Date.UTC(2026, 0, 1));
    rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [counter], clock });
    const { id } = await rt.start('counter', { id: 'p' });
    for (let i = 0; i < 10; i++) {
      await clock.advance(1000);
      await rt.send(id, { type: 'INC' });
    }
    const h = await rt.history(id);
    expect(h.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const s5 = await rt.stateAt(id, { seq: 5 });
    expect(s5.context).toEqual({ n: 5, mode: 'a' });
    expect(s5.timers.length).toBe(1);
    const byTime = await rt.stateAt(id, { at: new Date(Date.UTC(2026, 0, 1) + 5500) });
    expect(byTime.seq).toBe(5);
    expect(await rt.diff(id, 3, 7)).toEqual([{ op: 'replace', path: '/context/n', value: 7 }]);
    const f = await rt.fork(id, { seq: 5, update: { mode: 'b' }, id: 'f' });
    expect(f.parent).toEqual({ id: 'p', seq: 5 });
    await rt.send('f', { type: 'INC' });
    await rt.send('f', { type: 'DONE' });
    expect(await rt.wait('f')).toEqual({ mode: 'b', n: 6 });
    const fh = await rt.history('f');
    console.log(fh);
    expect(fh.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(fh[5]).toMatchObject({ from: 'p', forkPoint: true });
    expect((await rt.stateAt('f', { seq: 2 })).from).toBe('p');
    expect(await rt.diff({ id: 'p', seq: 5 }, { id: 'f', seq: 6 })).toEqual([{ op: 'replace', path: '/context/mode', value: 'b' }]);
    console.log(JSON.stringify(await rt.lineage('f')), JSON.stringify(await rt.lineage('p')));
    await expect(rt.delete('p')).rejects.toMatchObject({ code: 'HAS_FORKS' });
    const r = await rt.rewind('p', { seq: 3 });
    console.log(r, await rt.history('p', { from: 2 }), await rt.history(r.branch));
    expect((await rt.get('p'))?.context).toEqual({ n: 3, mode: 'a' });
    await rt.send('p', { type: 'DONE' });
    expect(await rt.wait('p')).toEqual({ mode: 'a', n: 3 });
    expect((await rt.history('f')).map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await rt.stateAt('f', { seq: 5 })).context).toEqual({ n: 5, mode: 'a' });
    await rt.delete('p', { forks: 'materialise' });
    expect((await rt.stateAt('f', { seq: 5 })).context).toEqual({ n: 5, mode: 'a' });
    console.log(JSON.stringify(await rt.lineage('f')));
  });
});
