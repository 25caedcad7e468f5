/**
 * The observability benchmark of issue 4: durable throughput of the counter workload with no
 * observer, next to the same with an `events$` subscriber and one `progress$` subscriber per
 * execution attached, in one run, alternating.
 */
import type { Subscription } from 'rxjs';
import { createRuntime, lmdbStore, type Runtime } from '../src/index.js';
import { alternate, formatRate, formatRatio, now, table, tempDir, type Contender, type RoundResult, type ThroughputResult } from './helpers.js';
import { counterMachine, inc } from './machines.js';

export interface StreamsOptions {
  executions: number;
  /** Events each execution receives per round. */
  events: number;
  rounds: number;
}

export const defaultStreamsOptions: StreamsOptions = { executions: 1000, events: 10, rounds: 5 };

function durable(o: StreamsOptions, observed: boolean): Contender & { seen(): number } {
  let rt: Runtime | undefined;
  let dir: { path: string; remove: () => void } | undefined;
  let ids: string[] = [];
  const subs: Subscription[] = [];
  let seen = 0;
  return {
    name: observed ? 'durastate + events$ + progress$ per execution' : 'durastate, nothing observed',
    unit: 'transitions',
    seen: () => seen,
    async setup() {
      dir = tempDir();
      rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [counterMachine] });
      const r = rt;
      ids = await Promise.all(Array.from({ length: o.executions }, () => r.start('counter').then((h) => h.id)));
      if (observed) {
        subs.push(r.events$.subscribe(() => void seen++));
        for (const id of ids) subs.push(r.progress$(id).subscribe(() => void seen++));
      }
    },
    async round(): Promise<RoundResult> {
      const r = rt as Runtime;
      const start = now();
      for (let e = 0; e < o.events; e++) await Promise.all(ids.map((id) => r.send(id, inc())));
      return { ops: o.executions * o.events, ms: now() - start };
    },
    async teardown() {
      for (const s of subs) s.unsubscribe();
      await rt?.close();
      dir?.remove();
    },
  };
}

export interface StreamsResults {
  options: StreamsOptions;
  throughput: ThroughputResult[];
  /** Events and progress values the observed contender received. */
  delivered: number;
}

export async function runStreams(o: StreamsOptions, log: (line: string) => void = console.log): Promise<StreamsResults> {
  log(`observers: ${o.executions} executions × ${o.events} events per round, ${o.rounds} rounds`);
  const observed = durable(o, true);
  const throughput = await alternate([durable(o, false), observed], { rounds: o.rounds, log });
  return { options: o, throughput, delivered: observed.seen() };
}

export function formatStreams(r: StreamsResults): string {
  const rows = r.throughput.map((t) => [t.name, formatRate(t.median), formatRate(t.best), formatRate(t.worst), t.cpuPerOp.toFixed(1)]);
  const ratio = (r.throughput[1]?.median ?? 0) / (r.throughput[0]?.median ?? 1);
  return [
    table(['contender', 'median/s', 'best/s', 'worst/s', 'CPU µs/op'], rows),
    '',
    `observed / unobserved throughput: ${formatRatio(ratio)} (${r.delivered} events and progress values delivered)`,
  ].join('\n');
}
