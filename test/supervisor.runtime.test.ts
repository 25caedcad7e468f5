import { afterEach, describe, expect, it } from 'vitest';
import { Observable } from 'rxjs';
import { assign, fromObservable, fromPromise, setup, type AnyStateMachine } from 'xstate';
import { createRuntime, ExecutionFailedError, lmdbStore, TerminalError, type Runtime, type RuntimeEvent, type RuntimeOptions } from '../src/index.js';
import { stepsMachine } from './fixtures/machines.js';
import { tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Fast restarts so the tests run in milliseconds; the decisions themselves are tested in virtual time. */
const FAST = { initialDelay: 1, factor: 2, maxDelay: 10, jitter: 0, maxRestarts: 3, window: 60_000 };

async function open(machines: AnyStateMachine[], options: Partial<RuntimeOptions> = {}): Promise<Runtime> {
  const dir = tempDir();
  cleanups.push(dir.remove);
  const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines, supervisor: FAST, ...options });
  cleanups.push(() => rt.close());
  return rt;
}

/** An action that throws the first `failures` times it runs (counted across restarts). */
function flaky(failures: number, error: () => Error = () => new Error('flaky action')) {
  let runs = 0;
  const machine = setup({ types: { context: {} as { n: number } } }).createMachine({
    id: `flaky-${failures}`,
    context: { n: 0 },
    initial: 'idle',
    states: {
      idle: {
        on: {
          GO: {
            target: 'done',
            actions: [
              () => {
                runs++;
                if (runs <= failures) throw error();
              },
              assign({ n: ({ context }) => context.n + 1 }),
            ],
          },
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ n: context.n }),
  });
  return { machine, runs: () => runs };
}

describe('the supervisor in the runtime', () => {
  it('an action that throws twice then succeeds completes after two restarts; the send waits for it', async () => {
    const { machine, runs } = flaky(2);
    const rt = await open([machine]);
    const events: RuntimeEvent[] = [];
    rt.events$.subscribe((e) => events.push(e));
    const { id } = await rt.start(machine.id);
    const result = await rt.send(id, { type: 'GO' });
    expect(result).toEqual({ seq: 1, duplicate: false });
    expect(await rt.wait(id)).toEqual({ n: 1 });
    expect(runs()).toBe(3);
    // Nothing of the crashes is in the history: one GO, applied once.
    expect((await rt.history(id)).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init', 'GO']);
    await new Promise((r) => setTimeout(r, 5));
    expect(events.filter((e) => e.id === id).map((e) => e.type).filter((t) => t === 'crashed' || t === 'restarted')).toEqual(['crashed', 'restarted', 'crashed', 'restarted']);
    // The backoff the policy prescribes (1 ms, then ×2), as decided; the times themselves are the
    // operator's, tested in virtual time in supervisor.marbles.test.ts.
    expect(events.flatMap((e) => (e.type === 'restarted' && e.id === id ? [[e.attempt, e.delay]] : []))).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('one that always throws fails once the restart intensity is exceeded, with the error recorded; wait and the send reject', async () => {
    const { machine, runs } = flaky(1_000);
    const rt = await open([machine]);
    const { id } = await rt.start(machine.id);
    const err = await rt.send(id, { type: 'GO' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionFailedError);
    expect(runs()).toBe(FAST.maxRestarts + 1);
    const info = await rt.get(id);
    expect(info).toMatchObject({ status: 'failed', value: 'idle', context: { n: 0 } });
    expect(info?.error).toMatchObject({ name: 'Error', message: 'flaky action', event: 'GO', state: 'idle', attempts: FAST.maxRestarts + 1 });
    expect(info?.error?.stack).toContain('flaky action');
    await expect(rt.wait(id)).rejects.toBeInstanceOf(ExecutionFailedError);
  });

  it('a TerminalError fails at once, without a restart', async () => {
    const { machine, runs } = flaky(1_000, () => new TerminalError('no way'));
    const rt = await open([machine]);
    const { id } = await rt.start(machine.id);
    await expect(rt.send(id, { type: 'GO' })).rejects.toBeInstanceOf(ExecutionFailedError);
    expect(runs()).toBe(1);
    expect((await rt.get(id))?.error).toMatchObject({ name: 'TerminalError', attempts: 1 });
  });

  it('a crash in one of 1,000 executions leaves the other 999 untouched', async () => {
    const { machine } = flaky(1_000);
    const rt = await open([machine, stepsMachine]);
    const ids = await Promise.all(Array.from({ length: 999 }, (_, i) => rt.start('steps', { id: `ok-${i}`, input: { total: 3 } }).then((h) => h.id)));
    const bad = await rt.start(machine.id, { id: 'bad' });
    const crashing = rt.send(bad.id, { type: 'GO' }).catch((e: unknown) => e);
    await Promise.all(ids.map((id) => rt.send(id, { type: 'STEP', n: 1 })));
    expect(await crashing).toBeInstanceOf(ExecutionFailedError);
    const stats = await rt.stats();
    expect(stats.byStatus.failed).toBe(1);
    expect(stats.byStatus.waiting).toBe(999);
    for (const id of ids.slice(0, 20)) expect((await rt.get(id))?.context).toMatchObject({ done: 1 });
  });

  it('sends that arrive while the execution waits for its restart are delivered after it, in the order sent', async () => {
    let hiccups = 0;
    const machine = setup({ types: { context: {} as { log: string[] } } }).createMachine({
      id: 'noted',
      context: { log: [] },
      initial: 'open',
      states: {
        open: {
          on: {
            HICCUP: {
              actions: [
                () => {
                  if (hiccups++ === 0) throw new Error('hiccup');
                },
                assign({ log: ({ context }) => [...context.log, 'hiccup'] }),
              ],
            },
            NOTE: { actions: assign({ log: ({ context, event }) => [...context.log, (event as { type: 'NOTE'; n: number }).n.toString()] }) },
          },
        },
      },
    });
    // A backoff long enough for the notes to arrive while the crashed actor waits.
    const rt = await open([machine], { supervisor: { ...FAST, initialDelay: 30 } });
    const { id } = await rt.start('noted');
    const results = await Promise.all([
      rt.send(id, { type: 'HICCUP' }),
      rt.send(id, { type: 'NOTE', n: 1 }),
      rt.send(id, { type: 'NOTE', n: 2 }),
    ]);
    expect(results.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect((await rt.get(id))?.context).toEqual({ log: ['hiccup', '1', '2'] });
  });

  it('a send that arrives while the execution waits for a decision that fails it is refused as finished', async () => {
    const { machine } = flaky(Infinity, () => new TerminalError('broken for good'));
    const rt = await open([machine]);
    const { id } = await rt.start(machine.id);
    const broken = rt.send(id, { type: 'GO' }).catch((e: unknown) => e);
    const note = rt.send(id, { type: 'NOTE' }).catch((e: unknown) => e);
    expect(await broken).toBeInstanceOf(ExecutionFailedError);
    expect(await note).toMatchObject({ code: 'EXECUTION_FINISHED' });
  });

  it('a crash before the execution is hosted (its start not yet committed) fails it, as nothing would decide: a send is refused, none hangs', async () => {
    const machine = setup({
      actors: {
        // Errors on a microtask: before the start's first commit has resolved.
        feed: fromObservable(() => new Observable<number>((subscriber) => queueMicrotask(() => subscriber.error(new Error('feed down'))))),
      },
    }).createMachine({ id: 'fed', initial: 'open', states: { open: { invoke: { src: 'feed' }, on: { NOTE: {} } } } });
    const rt = await open([machine]);
    const { id } = await rt.start('fed').catch(() => ({ id: 'fed-none' }));
    if (id === 'fed-none') return; // a start refused outright is also no hang
    await expect(rt.send(id, { type: 'NOTE' })).rejects.toMatchObject({ code: 'EXECUTION_FINISHED' });
    expect((await rt.get(id))?.status).toBe('failed');
  }, 10_000);

  it('cancelled while a crash waits for the supervisor: the send whose event crashed it is refused, not left pending', async () => {
    const { machine } = flaky(Infinity);
    const rt = await open([machine], { supervisor: { ...FAST, initialDelay: 50 } });
    const { id } = await rt.start(machine.id);
    const broken = rt.send(id, { type: 'GO' }).catch((e: unknown) => e);
    await rt.cancel(id, 'enough');
    expect(await broken).toMatchObject({ code: 'EXECUTION_FINISHED' });
    expect((await rt.get(id))?.status).toBe('cancelled');
  }, 10_000);

  it('rewound while a crash waits for the supervisor: the crashing send is refused, a send waiting behind it reaches the rewound execution', async () => {
    let breaks = 0;
    const machine = setup({ types: { context: {} as { notes: number } } }).createMachine({
      id: 'rewindable',
      context: { notes: 0 },
      initial: 'open',
      states: {
        open: {
          on: {
            NOTE: { actions: assign({ notes: ({ context }) => context.notes + 1 }) },
            BREAK: {
              actions: () => {
                if (breaks++ === 0) throw new Error('broken');
              },
            },
          },
        },
      },
    });
    const rt = await open([machine], { supervisor: { ...FAST, initialDelay: 200 } });
    const { id } = await rt.start('rewindable');
    await rt.send(id, { type: 'NOTE' });
    await rt.send(id, { type: 'NOTE' });
    const broken = rt.send(id, { type: 'BREAK' }).catch((e: unknown) => e);
    const waiting = rt.send(id, { type: 'NOTE' });
    await rt.rewind(id, { seq: 1 });
    expect(await broken).toMatchObject({ code: 'EXECUTION_FINISHED' });
    const { seq } = await waiting;
    // The rewind's own transition is seq 2; the waiting NOTE comes after it, on the rewound history.
    expect(seq).toBe(3);
    expect((await rt.get(id))?.context).toEqual({ notes: 2 });
  }, 10_000);

  it('restarts from the last good snapshot: effects whose results were recorded are not run again', async () => {
    let charges = 0;
    let confirmRuns = 0;
    const order = setup({
      types: { context: {} as { receipt: string | null } },
      actors: { charge: fromPromise(async () => `r-${++charges}`) },
    }).createMachine({
      id: 'order',
      context: { receipt: null },
      initial: 'charging',
      states: {
        charging: { invoke: { src: 'charge', onDone: { target: 'confirming', actions: assign({ receipt: ({ event }) => event.output }) } } },
        confirming: {
          on: {
            CONFIRM: {
              target: 'done',
              actions: () => {
                if (++confirmRuns === 1) throw new Error('confirmation service hiccup');
              },
            },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => ({ receipt: context.receipt }),
    });
    const rt = await open([order]);
    const { id } = await rt.start('order');
    for (let i = 0; i < 100 && (await rt.get(id))?.value !== 'confirming'; i++) await new Promise((r) => setTimeout(r, 2));
    await rt.send(id, { type: 'CONFIRM' });
    expect(await rt.wait(id)).toEqual({ receipt: 'r-1' });
    expect(charges).toBe(1);
    expect(confirmRuns).toBe(2);
  });

  it('rt.retry restarts a failed execution from its last good snapshot', async () => {
    let failing = true;
    const machine = setup({}).createMachine({
      id: 'retryable',
      initial: 'idle',
      states: {
        idle: {
          on: {
            GO: {
              target: 'done',
              actions: () => {
                if (failing) throw new TerminalError('down');
              },
            },
          },
        },
        done: { type: 'final' },
      },
    });
    const rt = await open([machine]);
    const { id } = await rt.start('retryable');
    await expect(rt.send(id, { type: 'GO' })).rejects.toBeInstanceOf(ExecutionFailedError);
    expect((await rt.get(id))?.status).toBe('failed');
    failing = false;
    await rt.retry(id);
    expect(await rt.get(id)).toMatchObject({ status: 'waiting', value: 'idle' });
    expect((await rt.get(id))?.error).toBeUndefined();
    await rt.send(id, { type: 'GO' });
    await rt.wait(id);
    expect((await rt.history(id)).map((h) => `${(h.event as { type: string }).type}:${h.status}`)).toEqual([
      'xstate.init:waiting',
      'GO:failed',
      'durastate.retry:waiting',
      'GO:completed',
    ]);
  });

  it('the policy can be set per machine', async () => {
    const { machine, runs } = flaky(1_000);
    const rt = await open([machine], { supervisors: { [machine.id]: { maxRestarts: 1 } } });
    const { id } = await rt.start(machine.id);
    await expect(rt.send(id, { type: 'GO' })).rejects.toBeInstanceOf(ExecutionFailedError);
    expect(runs()).toBe(2);
  });

  it('the live registry agrees with the store after a restart of the runtime', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const first = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [stepsMachine] });
    await first.start('steps', { id: 'a', input: { total: 2 } });
    await first.start('steps', { id: 'b', input: { total: 2 } });
    await first.send('b', { type: 'STEP', n: 1 });
    await first.close();
    // Without passivation, recovery loads the waiting executions too.
    const second = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [stepsMachine], passivateAfterMs: Infinity });
    cleanups.push(() => second.close());
    await new Promise((r) => setTimeout(r, 5));
    const live = second.registry.getSnapshot().context;
    expect(Object.keys(live.executions).sort()).toEqual(['a', 'b']);
    expect(live.executions.b).toMatchObject({ status: 'waiting', seq: 1, value: 'working' });
    expect(live.counts.waiting).toBe((await second.stats()).byStatus.waiting);
  });
});

