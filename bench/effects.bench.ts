/**
 * The effects and timers benchmark of issue 3, in one run, alternating the contenders:
 *
 * Effects per second (N executions, each running `steps` invocations of a promise actor in a
 * row: invoke → done → invoke…, the promise resolving at once):
 *   F  plain XState in memory: `fromPromise`, no persistence;
 *   G  durastate on LMDB: the same machine, every promise a durable effect (its invoking
 *      transition committed before it starts, its result committed before XState sees it, its
 *      done transition committed).
 *
 * Timers armed per second (N executions, each `ARM` enters a state with `after: 1 h`, each
 * `DISARM` leaves it; a round sends ARM then DISARM to every execution):
 *   H  plain XState in memory;
 *   I  durastate on LMDB: every ARM writes the timer (row and timer index) with its transition,
 *      every DISARM removes it.
 */
import { assign, createActor, fromPromise, setup, type AnyActor } from 'xstate';
import { createRuntime, lmdbStore, type Runtime } from '../src/index.js';
import { alternate, formatRate, formatRatio, now, table, tempDir, type Contender, type RoundResult, type ThroughputResult } from './helpers.js';

export interface EffectsOptions {
  executions: number;
  /** Effects each execution runs per round. */
  steps: number;
  rounds: number;
}

export const defaultEffectsOptions: EffectsOptions = { executions: 500, steps: 10, rounds: 5 };

/** `RUN { steps }` runs `steps` effects in a row, then waits for the next RUN. */
const effectsMachine = setup({
  types: { context: {} as { left: number; done: number }, events: {} as { type: 'RUN'; steps: number } },
  actors: { step: fromPromise(async ({ input }: { input: number }) => input + 1) },
}).createMachine({
  id: 'effects-bench',
  version: 'bench-1',
  context: { left: 0, done: 0 },
  initial: 'idle',
  states: {
    idle: { on: { RUN: { target: 'working', actions: assign({ left: ({ event }) => event.steps }) } } },
    working: {
      invoke: {
        src: 'step',
        input: ({ context }) => context.done,
        onDone: [
          { guard: ({ context }) => context.left <= 1, target: 'idle', actions: assign({ left: 0, done: ({ event }) => event.output }) },
          { target: 'working', reenter: true, actions: assign({ left: ({ context }) => context.left - 1, done: ({ event }) => event.output }) },
        ],
      },
    },
  },
});

const timersMachine = setup({}).createMachine({
  id: 'timers-bench',
  version: 'bench-1',
  initial: 'idle',
  states: {
    idle: { on: { ARM: 'armed' } },
    armed: { after: { 3_600_000: 'idle' }, on: { DISARM: 'idle' } },
  },
});

/** Resolves once every actor is back in `idle` (its effects done). */
function allIdle(actors: readonly AnyActor[]): Promise<void> {
  return Promise.all(
    actors.map(
      (a) =>
        new Promise<void>((resolve) => {
          if (a.getSnapshot().value === 'idle') return resolve();
          const sub = a.subscribe((s) => {
            if (s.value === 'idle') {
              sub.unsubscribe();
              resolve();
            }
          });
        }),
    ),
  ).then(() => undefined);
}

function memoryEffects(o: EffectsOptions): Contender {
  let actors: AnyActor[] = [];
  return {
    name: 'XState in memory, fromPromise',
    unit: 'effects',
    setup() {
      actors = Array.from({ length: o.executions }, () => createActor(effectsMachine).start());
    },
    async round(): Promise<RoundResult> {
      const start = now();
      for (const a of actors) a.send({ type: 'RUN', steps: o.steps } as { type: string });
      await allIdle(actors);
      return { ops: o.executions * o.steps, ms: now() - start };
    },
    teardown() {
      for (const a of actors) a.stop();
    },
  };
}

/** Resolves once every execution's committed state is `idle` again. */
async function durableIdle(rt: Runtime, ids: readonly string[]): Promise<void> {
  let pending = [...ids];
  while (pending.length) {
    // The committed row (cheap: no snapshot rebuild).
    const infos = await Promise.all(pending.map((id) => rt.store.getMeta(id)));
    pending = pending.filter((_, i) => infos[i]?.value !== 'idle');
    if (pending.length) await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function durableEffects(o: EffectsOptions): Contender {
  let rt: Runtime | undefined;
  let dir: { path: string; remove: () => void } | undefined;
  let ids: string[] = [];
  return {
    name: 'durastate (LMDB), durable effects',
    unit: 'effects',
    async setup() {
      dir = tempDir();
      rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [effectsMachine] });
      const r = rt;
      ids = await Promise.all(Array.from({ length: o.executions }, () => r.start('effects-bench').then((h) => h.id)));
    },
    async round(): Promise<RoundResult> {
      const r = rt as Runtime;
      const start = now();
      await Promise.all(ids.map((id) => r.send(id, { type: 'RUN', steps: o.steps })));
      await durableIdle(r, ids);
      return { ops: o.executions * o.steps, ms: now() - start };
    },
    async teardown() {
      await rt?.close();
      dir?.remove();
    },
  };
}

function memoryTimers(o: EffectsOptions): Contender {
  let actors: AnyActor[] = [];
  return {
    name: 'XState in memory',
    unit: 'timers armed',
    setup() {
      actors = Array.from({ length: o.executions }, () => createActor(timersMachine).start());
    },
    round(): RoundResult {
      const start = now();
      for (let s = 0; s < o.steps; s++) {
        for (const a of actors) a.send({ type: 'ARM' });
        for (const a of actors) a.send({ type: 'DISARM' });
      }
      return { ops: o.executions * o.steps, ms: now() - start };
    },
    teardown() {
      for (const a of actors) a.stop();
    },
  };
}

function durableTimers(o: EffectsOptions): Contender {
  let rt: Runtime | undefined;
  let dir: { path: string; remove: () => void } | undefined;
  let ids: string[] = [];
  return {
    name: 'durastate (LMDB), durable timers',
    unit: 'timers armed',
    async setup() {
      dir = tempDir();
      rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [timersMachine] });
      const r = rt;
      ids = await Promise.all(Array.from({ length: o.executions }, () => r.start('timers-bench').then((h) => h.id)));
    },
    async round(): Promise<RoundResult> {
      const r = rt as Runtime;
      const start = now();
      for (let s = 0; s < o.steps; s++) {
        await Promise.all(ids.map((id) => r.send(id, { type: 'ARM' })));
        await Promise.all(ids.map((id) => r.send(id, { type: 'DISARM' })));
      }
      return { ops: o.executions * o.steps, ms: now() - start };
    },
    async teardown() {
      await rt?.close();
      dir?.remove();
    },
  };
}

export interface EffectsResults {
  options: EffectsOptions;
  effects: ThroughputResult[];
  timers: ThroughputResult[];
}

export async function runEffects(o: EffectsOptions, log: (line: string) => void = console.log): Promise<EffectsResults> {
  log(`effects: ${o.executions} executions × ${o.steps} effects per round, ${o.rounds} rounds`);
  const effects = await alternate([memoryEffects(o), durableEffects(o)], { rounds: o.rounds, log });
  log(`timers: ${o.executions} executions × ${o.steps} ARM (+ DISARM) per round, ${o.rounds} rounds`);
  const timers = await alternate([memoryTimers(o), durableTimers(o)], { rounds: o.rounds, log });
  return { options: o, effects, timers };
}

export function formatEffects(r: EffectsResults): string {
  const rows = (results: ThroughputResult[]) =>
    results.map((t) => [t.name, t.unit, formatRate(t.median), formatRate(t.best), formatRate(t.worst), t.cpuPerOp.toFixed(1)]);
  const headers = ['contender', 'unit', 'median/s', 'best/s', 'worst/s', 'CPU µs/op'];
  const ratio = (results: ThroughputResult[]) => formatRatio((results[1]?.median ?? 0) / (results[0]?.median ?? 1));
  return [
    table(headers, [...rows(r.effects), ...rows(r.timers)]),
    '',
    table(
      ['ratio', 'measured'],
      [
        ['durable effects / fromPromise in memory', ratio(r.effects)],
        ['durable timers armed / XState in memory', ratio(r.timers)],
      ],
    ),
  ].join('\n');
}
