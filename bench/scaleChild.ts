/**
 * One measurement of the scale suite, in its own process so that its memory is its own:
 *
 *   node dist/bench/scaleChild.js populate <store> <running> <waiting> <dueInMs> [<windowMs>]
 *     writes `running` executions with an effect in flight and `waiting` ones with a timer due
 *     from `dueInMs` to `dueInMs + windowMs` (default `dueInMs`) after it starts, spread evenly,
 *     none hosted (`detach`), then exits: to the next process they are interrupted executions.
 *   node dist/bench/scaleChild.js recover <store>
 *     opens a runtime on the store (recover: true) and prints one JSON line: the time until the
 *     running ones are back (hosted) and the waiting ones claimed, the resident memory then,
 *     and, once every timer has fired (the waiting executions are woken by the timers table and
 *     finish), the time that took and the memory after.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fromPromise, setup } from 'xstate';
import { createRuntime, lmdbStore } from '../src/index.js';
import { collectGarbage } from './helpers.js';

/** An effect that never ends: the execution stays `running` (interrupted when its process goes). */
export const scaleJob = setup({
  actors: { work: fromPromise(() => new Promise<never>(() => {})) },
}).createMachine({
  id: 'scaleJob',
  context: { note: 'a job whose worker died' },
  initial: 'working',
  states: { working: { invoke: { src: 'work', onDone: 'done' } }, done: { type: 'final' } },
});

/** Waits for its timer (due at `input.dueAt`, an absolute time), then ends. */
export const scaleSleeper = setup({
  types: { context: {} as { dueAt: number; owner: string }, input: {} as { dueAt: number } },
  delays: { due: ({ context }) => Math.max(0, context.dueAt - Date.now()) },
}).createMachine({
  id: 'scaleSleeper',
  context: ({ input }) => ({ dueAt: input.dueAt, owner: 'customer-42' }),
  initial: 'sleeping',
  states: { sleeping: { after: { due: 'woken' } }, woken: { type: 'final' } },
});

const machines = [scaleJob, scaleSleeper];

function rssMb(): number {
  collectGarbage();
  return process.memoryUsage().rss / 1e6;
}

/** JavaScript heap in use after a full collection: what the runtime itself holds (RSS also counts LMDB's mapped pages read). */
function heapMb(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed / 1e6;
}

async function populate(path: string, running: number, waiting: number, dueInMs: number, windowMs = dueInMs): Promise<void> {
  const rt = await createRuntime({ store: lmdbStore({ path }), machines, recover: false });
  const start = Date.now();
  const batch = 1_000;
  for (let i = 0; i < running; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, running - i) }, (_, j) => rt.start('scaleJob', { id: `job-${i + j}`, detach: true })));
  }
  for (let i = 0; i < waiting; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, waiting - i) }, (_, j) =>
        rt.start('scaleSleeper', { id: `sleeper-${i + j}`, detach: true, input: { dueAt: start + dueInMs + Math.floor(((i + j) * windowMs) / Math.max(1, waiting)) } }),
      ),
    );
  }
  await rt.close();
  console.log(JSON.stringify({ populated: running + waiting, ms: Date.now() - start, startedAt: start }));
}

async function recover(path: string): Promise<void> {
  const baseline = rssMb();
  const heapBaseline = heapMb();
  // How long the event loop was held at once while the executions came back.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = performance.now();
  const rt = await createRuntime({ store: lmdbStore({ path }), machines, passivateAfterMs: 500 });
  const backMs = performance.now() - t0;
  await new Promise((resolve) => setTimeout(resolve, 20));
  loop.disable();
  const maxLoopDelayMs = loop.max / 1e6;
  const stats = await rt.stats();
  const rssBack = rssMb();
  const heapBack = heapMb();
  // Every sleeper's timer falls due within the populate's window: wait for all to finish.
  const t1 = performance.now();
  let peak = rssBack;
  for (;;) {
    const s = await rt.stats();
    peak = Math.max(peak, process.memoryUsage().rss / 1e6);
    if (s.byStatus.waiting === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const wokenMs = performance.now() - t1;
  // Epoch ms, compared by the bench with when the last timer fell due (the populate's clock is this machine's too).
  const doneAt = Date.now();
  const after = await rt.stats();
  const rssAfter = rssMb();
  const heapAfter = heapMb();
  await rt.close();
  console.log(
    JSON.stringify({
      backMs,
      maxLoopDelayMs,
      hosted: stats.hosted,
      running: stats.byStatus.running,
      waiting: stats.byStatus.waiting,
      baselineMb: baseline,
      rssBackMb: rssBack,
      wokenMs,
      doneAt,
      completed: after.byStatus.completed,
      peakMb: peak,
      rssAfterMb: rssAfter,
      heapBaselineMb: heapBaseline,
      heapBackMb: heapBack,
      heapAfterMb: heapAfter,
    }),
  );
}

const [mode, path, ...rest] = process.argv.slice(2);
if (mode === 'populate' && path) await populate(path, Number(rest[0]), Number(rest[1]), Number(rest[2]), rest[3] === undefined ? undefined : Number(rest[3]));
else if (mode === 'recover' && path) await recover(path);
else {
  console.error('usage: scaleChild populate <store> <running> <waiting> <dueInMs> | recover <store>');
  process.exit(2);
}
