import { afterEach, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { createRuntime, fromEffect, lmdbStore, NonJsonStateError, type EffectArgs, type Runtime } from '../src/index.js';
import { EffectRuns } from '../src/runtime/effectRuns.js';
import { tempDir } from './helpers.js';

/**
 * An in-process restore (a send refused because its transition cannot be committed, the
 * supervisor's restart after a crash) starts the actor's effects again with the same keys: the
 * code of an effect already in flight must not run a second time.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const FAST = { initialDelay: 1, factor: 2, maxDelay: 10, jitter: 0, maxRestarts: 3, window: 60_000 };

/** A model call the test answers: every call is counted with its key and signal. */
function modelCall() {
  const calls: { key: string; signal: AbortSignal }[] = [];
  let answer!: (text: string) => void;
  const answered = new Promise<string>((resolve) => (answer = resolve));
  return { calls, answer, run: ({ key, signal }: EffectArgs<unknown>) => (calls.push({ key, signal }), answered) };
}

function agentMachine(model: ReturnType<typeof modelCall>) {
  let crashes = 0;
  return setup({
    types: { context: {} as { answer: string | null; notes: number; stamp: unknown } },
    actors: { model: fromEffect(model.run) },
  }).createMachine({
    id: 'agent',
    context: { answer: null, notes: 0, stamp: null },
    initial: 'thinking',
    states: {
      thinking: {
        invoke: { src: 'model', onDone: { target: 'done', actions: assign({ answer: ({ event }) => event.output as string }) } },
        on: {
          NOTE: { actions: assign({ notes: ({ context }) => context.notes + 1 }) },
          // A Date is not JSON: the transition cannot be committed and the send is refused.
          STAMP: { actions: assign({ stamp: () => new Date() }) },
          // Throws the first time: a crash, which the supervisor restarts.
          HICCUP: {
            actions: [
              () => {
                if (crashes++ === 0) throw new Error('hiccup');
              },
              assign({ notes: ({ context }) => context.notes + 1 }),
            ],
          },
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ answer: context.answer, notes: context.notes }),
  });
}

async function open(machine: ReturnType<typeof agentMachine>): Promise<Runtime> {
  const dir = tempDir();
  cleanups.push(dir.remove);
  const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [machine], supervisor: FAST });
  cleanups.push(() => rt.close());
  return rt;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
}

describe('an effect in flight across an in-process restore', () => {
  it('a send refused for context that is not JSON: the model call in flight is not made again, and its answer arrives', async () => {
    const model = modelCall();
    const rt = await open(agentMachine(model));
    const { id } = await rt.start('agent');
    await until(() => model.calls.length === 1);

    await expect(rt.send(id, { type: 'STAMP' })).rejects.toBeInstanceOf(NonJsonStateError);
    // The restored actor goes on from the last commit, and is the one the answer reaches.
    await rt.send(id, { type: 'NOTE' });
    await new Promise((r) => setTimeout(r, 20));
    expect(model.calls).toHaveLength(1);
    expect(model.calls[0]?.signal.aborted).toBe(false);

    model.answer('42');
    expect(await rt.wait(id)).toEqual({ answer: '42', notes: 1 });
    expect(model.calls).toHaveLength(1);
  });

  it('a crash the supervisor restarts: the model call in flight is not made again, and its answer arrives', async () => {
    const model = modelCall();
    const rt = await open(agentMachine(model));
    const { id } = await rt.start('agent');
    await until(() => model.calls.length === 1);

    // The first delivery crashes; the restart delivers it again and it goes through.
    await rt.send(id, { type: 'HICCUP' });
    await new Promise((r) => setTimeout(r, 20));
    expect(model.calls).toHaveLength(1);
    expect(model.calls[0]?.signal.aborted).toBe(false);

    model.answer('42');
    expect(await rt.wait(id)).toEqual({ answer: '42', notes: 1 });
    expect(model.calls).toHaveLength(1);
  });

  it('cancelled after a restore: the run the restored actor joined is aborted', async () => {
    const model = modelCall();
    const rt = await open(agentMachine(model));
    const { id } = await rt.start('agent');
    await until(() => model.calls.length === 1);
    await expect(rt.send(id, { type: 'STAMP' })).rejects.toBeInstanceOf(NonJsonStateError);
    // The restored actor joins the run once its ticket is read from the store.
    await new Promise((r) => setTimeout(r, 20));
    await rt.cancel(id, 'no longer needed');
    expect(model.calls[0]?.signal.aborted).toBe(true);
    expect((await rt.get(id))?.status).toBe('cancelled');
  });
});

describe('EffectRuns', () => {
  const pending = () => {
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<unknown>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  };

  it('a second actor joins the run in flight; the run is aborted only once both let go', async () => {
    const runs = new EffectRuns();
    const work = pending();
    let started = 0;
    let runSignal: AbortSignal | undefined;
    const start = (signal: AbortSignal) => ((started++, (runSignal = signal)), work.promise);
    const a = new AbortController();
    const b = new AbortController();
    const first = runs.join('k', a.signal, start);
    const second = runs.join('k', b.signal, start);
    expect(started).toBe(1);
    a.abort();
    expect(runSignal?.aborted).toBe(false);
    b.abort();
    expect(runSignal?.aborted).toBe(true);
    expect(runs.size).toBe(0);
    work.reject(runSignal?.reason);
    await expect(first).rejects.toBeDefined();
    await expect(second).rejects.toBeDefined();
  });

  it('preserve keeps the runs a restore lets go of for the restored actor, and aborts those it does not have', async () => {
    const runs = new EffectRuns();
    const kept = pending();
    const dropped = pending();
    const signals: Record<string, AbortSignal> = {};
    const old = new AbortController();
    void runs.join('kept', old.signal, (s) => ((signals.kept = s), kept.promise)).catch(() => {});
    void runs.join('dropped', old.signal, (s) => ((signals.dropped = s), dropped.promise)).catch(() => {});
    runs.preserve(() => old.abort(), (key) => key === 'kept');
    expect(signals.kept?.aborted).toBe(false);
    expect(signals.dropped?.aborted).toBe(true);
    // It settles before the restored actor gets to it: the actor takes the outcome, nothing runs again.
    kept.resolve('answer');
    await new Promise((r) => setTimeout(r, 0));
    let startedAgain = false;
    const outcome = runs.join('kept', new AbortController().signal, () => ((startedAgain = true), Promise.resolve('again')));
    expect(await outcome).toBe('answer');
    expect(startedAgain).toBe(false);
    expect(runs.size).toBe(0);
  });

  it('abortAll aborts every run, those waiting for a restored actor too', () => {
    const runs = new EffectRuns();
    const signals: AbortSignal[] = [];
    const old = new AbortController();
    void runs.join('a', old.signal, (s) => (signals.push(s), new Promise(() => {})));
    void runs.join('b', new AbortController().signal, (s) => (signals.push(s), new Promise(() => {})));
    runs.preserve(() => old.abort(), () => true);
    runs.abortAll(new Error('over'));
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
    expect(runs.size).toBe(0);
  });
});
