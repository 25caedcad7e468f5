/**
 * `npm run bench`: builds, then runs every benchmark suite in this process and prints tables
 * and ratios. Environment knobs (for quick checks; the figures in BENCHMARKS.md use defaults):
 *
 *   BENCH_QUICK=1        fewer executions, rounds and samples (a smoke run of a few seconds)
 *   BENCH_ROUNDS=n       measured rounds per contender (default 7)
 *   BENCH_EXECUTIONS=n   concurrent executions (default 1000)
 *   BENCH_JSON=path      also write the raw results as JSON to `path`
 *
 * Suites can be named to run only those: `node dist/bench/run.js timeline` (or `core effects`).
 * Without names, all run: core, effects, streams, timeline, scale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { defaultCoreOptions, formatCore, runCore, type CoreOptions } from './core.bench.js';
import { defaultEffectsOptions, formatEffects, runEffects, type EffectsOptions } from './effects.bench.js';
import { defaultStreamsOptions, formatStreams, runStreams, type StreamsOptions } from './streams.bench.js';
import { defaultTimelineOptions, formatTimeline, runTimeline, type TimelineOptions } from './timeline.bench.js';
import { defaultScaleOptions, formatScale, runScale, type ScaleOptions } from './scale.bench.js';
import { describeMachine, loadNote, machineInfo, sourceRevision } from './helpers.js';

function version(pkg: string): string {
  try {
    const url = new URL(`../../node_modules/${pkg}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function intEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

const SUITES = ['core', 'effects', 'streams', 'timeline', 'scale'] as const;

/** The suites named on the command line (all when none is). */
function selectedSuites(): Set<string> {
  const names = process.argv.slice(2);
  for (const name of names) {
    if (!(SUITES as readonly string[]).includes(name)) throw new Error(`unknown suite "${name}"; the suites are ${SUITES.join(', ')}`);
  }
  return new Set(names.length ? names : SUITES);
}

async function main(): Promise<void> {
  const suites = selectedSuites();
  const quick = process.env.BENCH_QUICK === '1';
  const options: Partial<CoreOptions> = quick
    ? { executions: 200, durableEvents: 10, memoryEvents: 100, rounds: 2, latencySamples: 200 }
    : {};
  const rounds = intEnv('BENCH_ROUNDS');
  const executions = intEnv('BENCH_EXECUTIONS');
  if (rounds) options.rounds = rounds;
  if (executions) options.executions = executions;

  const machine = machineInfo({ lmdb: version('lmdb'), xstate: version('xstate') });
  const source = sourceRevision();
  console.log(`durastate benchmarks — ${describeMachine(machine)}`);
  console.log(`source: ${source}`);
  const loadBefore = loadNote();
  console.log(`started ${new Date().toISOString()}, ${loadBefore.text}${quick ? ' (BENCH_QUICK: smoke run, figures not representative)' : ''}\n`);

  const started = performance.now();
  let core, effects, streams, timeline, scale;
  if (suites.has('core')) {
    console.log('== core: durable transitions vs XState in memory vs raw LMDB ==');
    core = await runCore({ ...defaultCoreOptions, ...options });
    console.log(`\n${formatCore(core)}\n`);
  }

  if (suites.has('effects')) {
    console.log('== effects and timers: durable vs XState in memory ==');
    const effectsOptions: EffectsOptions = quick ? { executions: 100, steps: 5, rounds: 2 } : { ...defaultEffectsOptions, ...(rounds ? { rounds } : {}) };
    effects = await runEffects(effectsOptions);
    console.log(`\n${formatEffects(effects)}\n`);
  }

  if (suites.has('streams')) {
    console.log('== observers: events$ and progress$ attached vs none ==');
    const streamsOptions: StreamsOptions = quick ? { executions: 100, events: 5, rounds: 2 } : { ...defaultStreamsOptions, ...(rounds ? { rounds } : {}) };
    streams = await runStreams(streamsOptions);
    console.log(`\n${formatStreams(streams)}\n`);
  }

  if (suites.has('timeline')) {
    console.log('== timeline: stateAt and fork vs history length; storage of a growing context ==');
    const timelineOptions: TimelineOptions = quick
      ? { ...defaultTimelineOptions, transitions: 10_000, stateAtSamples: 200, stateAtWarmup: 20, forkSamples: 30, forkWarmup: 5, chatSteps: 200 }
      : defaultTimelineOptions;
    timeline = await runTimeline(timelineOptions);
    console.log(`\n${formatTimeline(timeline)}\n`);
  }

  if (suites.has('scale')) {
    console.log('== scale: recovery of interrupted executions; memory of passivated ones ==');
    const scaleOptions: ScaleOptions = quick ? { recovered: 1_000, waiting: [1_000, 5_000], dueWindowMs: 3_000 } : defaultScaleOptions;
    scale = await runScale(scaleOptions);
    console.log(`\n${formatScale(scale)}\n`);
  }
  const loadAfter = loadNote();
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s; ${loadAfter.text}`);

  const jsonPath = process.env.BENCH_JSON;
  if (jsonPath) writeFileSync(jsonPath, `${JSON.stringify({ machine, source, load: [loadBefore.load1, loadAfter.load1], core, effects, streams, timeline, scale }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
