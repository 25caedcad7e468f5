import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, lmdbStore, NonJsonStateError, type EffectArgs, type Runtime } from '../src/index.js';
import { EffectRuns } from '../src/runtime/effectRuns.js';
import { agentMachine } from './fixtures/agentMachine.js';
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
  const model = { calls, answer, run: ({ key, signal }: EffectArgs<unknown>) => (calls.push({ key, signal }), answered) };
  return model;
}

async function open(machine: ReturnType<typeof agentMachine>, supervisor = FAST): Promise<Runtime> {
  const dir = tempDir();
  cleanups.push(dir.remove);
  const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [machine], supervisor });
  cleanups.push(() => rt.close());
  return rt;
}

/** A runtime with one agent execution started and its model call in flight. */
async function agentThinking(supervisor = FAST): Promise<{ model: ReturnType<typeof modelCall>; rt: Runtime; id: string }> {
  const model = modelCall();
  // Looked up at each call, so that a test can wrap it; HICCUP throws the first time only.
  const rt = await open(agentMachine((args) => model.run(args), (n) => n === 0), supervisor);
  const { id } = await rt.start('agent');
  await until(() => model.calls.length === 1);
  return { model, rt, id };
}

/** The one model call is still under way, unaborted; once answered, the execution completes with it and no other call was made. */
async function expectOneCallAnswered(model: ReturnType<typeof modelCall>, rt: Runtime, id: string, notes: number): Promise<void> {
  await new Promise((r) => setTimeout(r, 20));
  expect(model.calls).toHaveLength(1);
  expect(model.calls[0]?.signal.aborted).toBe(false);
  model.answer('42');
  expect(await rt.wait(id)).toEqual({ answer: '42', notes });
  expect(model.calls).toHaveLength(1);
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
}

describe('an effect in flight across an in-process restore', () => {
  it('a send refused for context that is not JSON: the model call in flight is not made again, and its answer arrives', async () => {
    const { model, rt, id } = await agentThinking();

    await expect(rt.send(id, { type: 'STAMP' })).rejects.toBeInstanceOf(NonJsonStateError);
    // The restored actor goes on from the last commit, and is the one the answer reaches.
    await rt.send(id, { type: 'NOTE' });
    await expectOneCallAnswered(model, rt, id, 1);
  });

  it('a crash the supervisor restarts: the model call in flight is not made again, and its answer arrives', async () => {
    const { model, rt, id } = await agentThinking();

    // The first delivery crashes; the restart delivers it again and it goes through.
    await rt.send(id, { type: 'HICCUP' });
    await expectOneCallAnswered(model, rt, id, 1);
  });

  it('the call answers while the crashed actor waits for its restart: the restart delivers the answer; the execution does not fail', async () => {
    const { model, rt, id } = await agentThinking({ ...FAST, initialDelay: 30 });
    const hiccup = rt.send(id, { type: 'HICCUP' });
    // The crashed actor's child finishes during the backoff.
    model.answer('42');
    expect(await hiccup).toMatchObject({ seq: 1 });
    expect(await rt.wait(id)).toEqual({ answer: '42', notes: 1 });
    expect(model.calls).toHaveLength(1);
  });

  it('cancelled after a restore: the run the restored actor joined is aborted', async () => {
    const { model, rt, id } = await agentThinking();
    await expect(rt.send(id, { type: 'STAMP' })).rejects.toBeInstanceOf(NonJsonStateError);
    // The restored actor joins the run once its ticket is read from the store.
    await new Promise((r) => setTimeout(r, 20));
    expect(model.calls[0]?.signal.aborted).toBe(false);
    await rt.cancel(id, 'no longer needed');
    expect(model.calls[0]?.signal.aborted).toBe(true);
    expect((await rt.get(id))?.status).toBe('cancelled');
  });

  it('after a restart, leaving the state aborts the call (the crashed actor\'s part in the run does not keep it alive)', async () => {
    const { model, rt, id } = await agentThinking();
    await rt.send(id, { type: 'HICCUP' });
    await new Promise((r) => setTimeout(r, 20));
    expect(model.calls[0]?.signal.aborted).toBe(false);
    await rt.send(id, { type: 'GIVE_UP' });
    expect(model.calls[0]?.signal.aborted).toBe(true);
    expect(await rt.get(id)).toMatchObject({ status: 'waiting', value: 'idle' });
    expect(model.calls).toHaveLength(1);
  });

  it('leaving the state right after a refused send, before the restored actor joined the run, aborts the call', async () => {
    const { model, rt, id } = await agentThinking();
    // Both in one turn: the restored actor has not read its ticket yet when it leaves.
    const refused = rt.send(id, { type: 'STAMP' });
    const left = rt.send(id, { type: 'GIVE_UP' });
    await expect(refused).rejects.toBeInstanceOf(NonJsonStateError);
    await left;
    await new Promise((r) => setTimeout(r, 20));
    expect(model.calls[0]?.signal.aborted).toBe(true);
    expect(await rt.get(id)).toMatchObject({ status: 'waiting', value: 'idle' });
    expect(model.calls).toHaveLength(1);
  });

  it('re-entering the invoking state aborts the earlier call once committed; the new invocation gets its own key', async () => {
    const { model, rt, id } = await agentThinking();
    await rt.send(id, { type: 'AGAIN' });
    await until(() => model.calls.length === 2);
    expect(model.calls[0]?.signal.aborted).toBe(true);
    expect(model.calls[1]?.signal.aborted).toBe(false);
    expect(model.calls[1]?.key).not.toBe(model.calls[0]?.key);
    model.answer('42');
    expect(await rt.wait(id)).toEqual({ answer: '42', notes: 0 });
  });

  it('a send refused in the turn of the transition that invoked the model: the call starts only once that transition is committed', async () => {
    const { model, rt, id } = await agentThinking();
    await rt.send(id, { type: 'GIVE_UP' });
    const committed: string[] = [];
    rt.events$.subscribe((e) => {
      if (e.type === 'transition' && e.id === id) committed.push(e.event);
    });
    const whenCalled: string[][] = [];
    const run = model.run;
    model.run = (args) => (whenCalled.push([...committed]), run(args));
    // RESUME invokes the model again; STAMP, in the same turn, is refused and restores the actor
    // from what was issued, RESUME's transition, before it is committed.
    const resumed = rt.send(id, { type: 'RESUME' });
    await expect(rt.send(id, { type: 'STAMP' })).rejects.toBeInstanceOf(NonJsonStateError);
    await resumed;
    await until(() => model.calls.length === 2);
    expect(whenCalled).toEqual([['RESUME']]);
  });

  it('a refused send that would have left the state aborts nothing: a transition that is not committed has no effects', async () => {
    const { model, rt, id } = await agentThinking();
    await expect(rt.send(id, { type: 'STAMP_AND_GIVE_UP' })).rejects.toBeInstanceOf(NonJsonStateError);
    await expectOneCallAnswered(model, rt, id, 0);
  });
});

describe('EffectRuns', () => {
  it('a second join gets the run in flight; its code starts once', async () => {
    const runs = new EffectRuns();
    let started = 0;
    let answer!: (v: string) => void;
    const start = () => (started++, new Promise<string>((resolve) => (answer = resolve)));
    const first = runs.join('k', start);
    const second = runs.join('k', start);
    expect(started).toBe(1);
    answer('done');
    expect(await first).toBe('done');
    expect(await second).toBe('done');
    // Settled, it stays for an actor still on its way to it, until a committed transition lets it go.
    expect(await runs.join('k', start)).toBe('done');
    expect(started).toBe(1);
    runs.release('k', new Error('consumed'));
    expect(runs.size).toBe(0);
  });

  it('release, keepOnly and abortAll abort the runs they end; the others go on', async () => {
    const runs = new EffectRuns();
    const signals: Record<string, AbortSignal> = {};
    for (const key of ['released', 'kept', 'dropped', 'last']) {
      void runs.join(key, (signal) => ((signals[key] = signal), new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))));
    }
    runs.release('released', new Error('left the state'));
    runs.keepOnly((key) => key !== 'dropped', new Error('not in the restored state'));
    expect(Object.fromEntries(Object.entries(signals).map(([k, s]) => [k, s.aborted]))).toEqual({ released: true, kept: false, dropped: true, last: false });
    runs.abortAll(new Error('over'));
    expect(signals.kept?.aborted).toBe(true);
    expect(signals.last?.aborted).toBe(true);
    expect(runs.size).toBe(0);
    // The aborted runs' rejections are observed by the table: nothing unhandled.
    await new Promise((r) => setTimeout(r, 0));
  });
});
