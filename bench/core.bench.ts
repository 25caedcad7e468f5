/**
 * The core benchmark of issue 2: what a durable transition costs next to XState in memory and
 * next to bare LMDB writes, on one workload, in one process, alternating the contenders.
 *
 * Throughput (many executions, each event a transition):
 *   A  XState in memory, no persistence: N actors, round after round one INC to each.
 *   B  raw lmdb-js: N puts of a journal-entry-sized record per turn, each awaited with `flushed`.
 *   B' raw lmdb-js doing durastate's write set per transition (journal entry under the fencing check, plus a
 *      keyframe as often as durastate writes one), N transitions per turn: the ceiling for the
 *      current layout.
 *   B" (reference) the same puts as B under one global increasing key, as an append-only log
 *      would write them: what the key layout costs.
 *   C  durastate on LMDB: N executions, round after round `Promise.all` of one `rt.send` each;
 *      every send resolves once its transition is committed and flushed.
 *
 * Floors (the physical line of any design that commits every transition before its send
 * resolves): N XState actors driven as C drives durastate, round after round one INC each and a
 * promise per transition resolved by a commit, with nothing of durastate's:
 *   F1 one empty flushed commit per turn (no record written at all);
 *   F2 one hand-built journal entry per transition, put under one global increasing key
 *      (an append-only log, unfenced: the cheapest record a transition could write);
 *   F3 durastate's write set per transition (B', with the transition before it): the floor of
 *      the current layout.
 *
 * Latency (one at a time, interleaved one by one, on fresh stores, measured first):
 *   D  an awaited `rt.send` to one execution, next to
 *   E  one bare awaited lmdb-js put (+ `flushed`) of a journal-entry-sized record, and
 *   E' (reference) durastate's write set for one transition, raw, awaited the same way.
 */
import { randomUUID } from 'node:crypto';
import { open, type Database, type RootDatabase } from 'lmdb';
import { createActor, type Actor } from 'xstate';
import { createRuntime, lmdbStore, type ExecutionMeta, type JournalEntry, type Json, type Runtime, type Store } from '../src/index.js';
import {
  alternate,
  formatBytes,
  formatMs,
  formatRate,
  formatRatio,
  lmdbTxnId,
  median,
  now,
  summarize,
  table,
  tempDir,
  type Contender,
  type RoundResult,
  type Summary,
  type ThroughputResult,
} from './helpers.js';
import { counterMachine, inc } from './machines.js';

export interface CoreOptions {
  /** Executions (actors) driven concurrently. */
  executions: number;
  /** Events per execution per measured round, durable and raw-LMDB contenders. */
  durableEvents: number;
  /** Events per actor per measured round, XState in memory (it is much faster: more events). */
  memoryEvents: number;
  rounds: number;
  warmup: number;
  /** Awaited sends (and as many bare puts) for the latency measurement. */
  latencySamples: number;
  log: (line: string) => void;
}

export const defaultCoreOptions: CoreOptions = {
  executions: 1000,
  durableEvents: 20,
  memoryEvents: 200,
  rounds: 7,
  warmup: 1,
  latencySamples: 2000,
  log: (line) => console.log(line),
};

/** Sizes of what durastate stores per transition of the counter, read back from a real store. */
export interface Calibration {
  /** A real journal entry of the counter (decoded), the template of the raw puts. */
  entry: JournalEntry;
  meta: ExecutionMeta;
  keyframe: Json;
  /** Encoded (lmdb-js msgpack) bytes as stored. */
  entryBytes: number;
  entryJsonBytes: number;
  metaBytes: number;
  keyframeBytes: number;
  /** Keyframes written per transition (after seq 0). */
  keyframesPerTransition: number;
}

export interface CoreResults {
  options: Omit<CoreOptions, 'log'>;
  calibration: Calibration;
  throughput: { memory: ThroughputResult; rawPuts: ThroughputResult; rawWriteSet: ThroughputResult; rawLog: ThroughputResult; durable: ThroughputResult };
  floors: { commit: ThroughputResult; log: ThroughputResult; writeSet: ThroughputResult };
  latency: { send: Summary; put: Summary; writeSet: Summary };
  ratios: {
    durableVsMemory: number;
    durableVsRawPuts: number;
    durableVsRawWriteSet: number;
    floorCommitVsMemory: number;
    floorLogVsMemory: number;
    floorWriteSetVsMemory: number;
    sendVsPutMedian: number;
    sendVsPutP99: number;
    sendVsWriteSetMedian: number;
  };
}

const CALIBRATION_STEPS = 64;

/** Runs a real durastate execution of the counter and reads back what it stored. */
async function calibrate(): Promise<Calibration> {
  const dir = tempDir();
  try {
    // Records are read back through the Store API (whatever encoding the store uses)...
    const store = lmdbStore({ path: dir.path });
    const rt = await createRuntime({ store, machines: [counterMachine], recover: false });
    const { id } = await rt.start('counter', { id: randomUUID() });
    for (let i = 0; i < CALIBRATION_STEPS; i++) await rt.send(id, inc());
    const entries = await store.readJournal(id, { from: 1, to: CALIBRATION_STEPS });
    const meta = await store.getMeta(id);
    const keyframeSeqs: number[] = [];
    for (let seq = 1; seq <= CALIBRATION_STEPS; seq++) {
      if ((await store.keyframeAtOrBefore(id, seq))?.seq === seq) keyframeSeqs.push(seq);
    }
    const lastKeyframe = keyframeSeqs[keyframeSeqs.length - 1] ?? 0;
    const keyframe = (await store.keyframeAtOrBefore(id, lastKeyframe))?.snapshot;
    const entry = entries[entries.length >> 1];
    await rt.close();
    if (!entry || !meta || keyframe === undefined) throw new Error('calibration: the store is missing what durastate wrote');
    // ...and their stored sizes from the LMDB files (value bytes, without keys or versions).
    const env = open({ path: dir.path, maxDbs: 16 });
    try {
      const journal: Database<unknown, [string, number]> = env.openDB({ name: 'journal' });
      const keyframes: Database<unknown, [string, number]> = env.openDB({ name: 'keyframes' });
      const executions: Database<unknown, string> = env.openDB({ name: 'executions', useVersions: true });
      const entrySizes = entries.map((e) => journal.getBinary([id, e.seq])?.length ?? Number.NaN);
      return {
        entry,
        meta,
        keyframe,
        entryBytes: median(entrySizes),
        entryJsonBytes: JSON.stringify(entry).length,
        metaBytes: executions.getBinary(id)?.length ?? Number.NaN,
        keyframeBytes: keyframes.getBinary([id, lastKeyframe])?.length ?? Number.NaN,
        keyframesPerTransition: keyframeSeqs.length / CALIBRATION_STEPS,
      };
    } finally {
      await env.close();
    }
  } finally {
    dir.remove();
  }
}

/** Resolves once the put is durable: without overlapping sync (as the store opens LMDB) the commit includes the flush. */
function durable(p: Promise<boolean>): Promise<unknown> {
  return p;
}

function openRawEnv(path: string): RootDatabase {
  // The same settings as durastate's LMDB store (no overlapping sync; values as plain msgpack maps: `useRecords` is
  // passed on to msgpackr, which lmdb-js's types do not list). Compression is left off: it applies
  // to values of 1,000 bytes or more, and none of these is.
  return open({ path, compression: false, overlappingSync: false, maxDbs: 16, useRecords: false } as Parameters<typeof open>[0] & { path: string });
}

/** A: XState in memory, no persistence. */
function memoryContender(o: CoreOptions): Contender {
  let actors: Actor<typeof counterMachine>[] = [];
  let sent = 0;
  return {
    name: 'XState in memory',
    unit: 'transitions',
    setup() {
      actors = Array.from({ length: o.executions }, () => createActor(counterMachine).start());
    },
    round(): RoundResult {
      const start = now();
      for (let r = 0; r < o.memoryEvents; r++) {
        for (const actor of actors) actor.send(inc());
      }
      const ms = now() - start;
      sent += o.memoryEvents;
      return { ops: o.memoryEvents * actors.length, ms };
    },
    teardown() {
      const count = actors[0]?.getSnapshot().context.count;
      if (count !== sent) throw new Error(`XState contender: expected count ${sent}, got ${count}`);
      for (const actor of actors) actor.stop();
      actors = [];
    },
  };
}

/**
 * B: raw lmdb-js puts of journal-entry-sized records, one per execution per turn, each awaited.
 * Keyed `[executionId, seq]` like durastate's journal, or (B") by one global increasing number.
 */
function rawPutsContender(o: CoreOptions, cal: Calibration, env: () => RootDatabase, keys: 'execution' | 'global'): Contender {
  let journal: Database | undefined;
  const ids = Array.from({ length: o.executions }, () => randomUUID());
  const seqs = new Array<number>(o.executions).fill(0);
  let global = 0;
  return {
    name: keys === 'execution' ? 'raw lmdb-js puts, [id, seq] keys' : 'raw lmdb-js puts, append-only key (ref.)',
    unit: 'puts',
    setup() {
      journal = env().openDB({ name: keys === 'execution' ? 'journal' : 'log' });
    },
    async round(): Promise<RoundResult> {
      const db = journal as Database;
      const pending = new Array<Promise<unknown>>(ids.length);
      const txn = lmdbTxnId(env());
      const start = now();
      for (let r = 0; r < o.durableEvents; r++) {
        for (let i = 0; i < ids.length; i++) {
          const seq = ++(seqs[i] as number);
          const key = keys === 'execution' ? [ids[i] as string, seq] : ++global;
          pending[i] = durable(db.put(key, { ...cal.entry, seq, at: Date.now() }));
        }
        await Promise.all(pending);
      }
      return { ops: o.durableEvents * ids.length, ms: now() - start, commits: lmdbTxnId(env()) - txn };
    },
  };
}

/**
 * Issues durastate's writes for one transition of execution `id` (B', E'), as the LMDB store
 * does them: inside one `ifVersion` block on the execution's row (the fencing check, which
 * does not bump the version), the journal entry and a keyframe as often as durastate writes
 * one. The row itself is written at creation only: durastate rewrites it when the status,
 * timers, effects, owner or outcome change, which the counter's transitions never do.
 * Keep in step with `src/store/lmdbStore.ts` when its write path changes.
 */
class WriteSet {
  private keyframeCredit = 0;
  private readonly journal: Database;
  private readonly executions: Database;
  private readonly keyframes: Database;
  private readonly created = new Set<string>();

  constructor(
    env: RootDatabase,
    private readonly cal: Calibration,
    prefix = '',
  ) {
    this.journal = env.openDB({ name: `${prefix}ws-journal` });
    this.executions = env.openDB({ name: `${prefix}ws-executions`, useVersions: true });
    this.keyframes = env.openDB({ name: `${prefix}ws-keyframes` });
  }

  /** The promise resolves once the commit holding the writes is flushed. */
  put(id: string, seq: number): Promise<unknown> {
    const at = Date.now();
    const keyframe = (this.keyframeCredit += this.cal.keyframesPerTransition) >= 1;
    if (keyframe) this.keyframeCredit -= 1;
    const first = !this.created.has(id);
    const writes = () => {
      this.journal.put([id, seq], { ...this.cal.entry, seq, at });
      if (keyframe) this.keyframes.put([id, seq], this.cal.keyframe);
      if (first) this.executions.put(id, { ...this.cal.meta, id, seq, updatedAt: at }, 1);
    };
    this.created.add(id);
    const p = first ? this.executions.ifNoExists(id, writes) : this.executions.ifVersion(id, 1, writes);
    return durable(p);
  }
}

/** B': raw lmdb-js doing durastate's write set per transition. */
function rawWriteSetContender(o: CoreOptions, cal: Calibration, env: () => RootDatabase): Contender {
  let ws: WriteSet | undefined;
  const ids = Array.from({ length: o.executions }, () => randomUUID());
  const seqs = new Array<number>(o.executions).fill(0);
  return {
    name: "raw lmdb-js, durastate's write set",
    unit: 'transitions',
    setup() {
      ws = new WriteSet(env(), cal);
    },
    async round(): Promise<RoundResult> {
      const w = ws as WriteSet;
      const pending = new Array<Promise<unknown>>(ids.length);
      const txn = lmdbTxnId(env());
      const start = now();
      for (let r = 0; r < o.durableEvents; r++) {
        for (let i = 0; i < ids.length; i++) pending[i] = w.put(ids[i] as string, ++(seqs[i] as number));
        await Promise.all(pending);
      }
      return { ops: o.durableEvents * ids.length, ms: now() - start, commits: lmdbTxnId(env()) - txn };
    },
  };
}

/**
 * F1–F3: XState actors whose every transition is followed by the cheapest durable write of its
 * kind, awaited as durastate's sends are (see the file's header).
 */
function floorContender(o: CoreOptions, cal: Calibration, env: () => RootDatabase, kind: 'commit' | 'log' | 'writeSet'): Contender {
  let actors: Actor<typeof counterMachine>[] = [];
  let db: Database | undefined;
  let ws: WriteSet | undefined;
  const ids = Array.from({ length: o.executions }, () => randomUUID());
  let seq = 0;
  let global = 0;
  const names = {
    commit: 'floor: XState + an empty commit per turn',
    log: 'floor: XState + entry put, append-only key',
    writeSet: "floor: XState + durastate's write set",
  };
  return {
    name: names[kind],
    unit: 'transitions',
    setup() {
      actors = ids.map(() => createActor(counterMachine).start());
      if (kind === 'writeSet') ws = new WriteSet(env(), cal, `floor-`);
      else db = env().openDB({ name: `floor-${kind}` });
    },
    async round(): Promise<RoundResult> {
      const txn = lmdbTxnId(env());
      const start = now();
      for (let r = 0; r < o.durableEvents; r++) {
        seq++;
        let pending: Promise<unknown>[];
        if (kind === 'commit') {
          // One promise per transition, as a send has, all resolved by the turn's one commit.
          const settlers: [() => void, (err: unknown) => void][] = [];
          pending = actors.map((actor) => {
            actor.send(inc());
            return new Promise<void>((resolve, reject) => settlers.push([resolve, reject]));
          });
          durable((db as Database).put(0, seq)).then(
            () => settlers.forEach(([resolve]) => resolve()),
            (err: unknown) => settlers.forEach(([, reject]) => reject(err)),
          );
        } else if (kind === 'log') {
          pending = actors.map((actor) => {
            actor.send(inc());
            const { count, total } = actor.getSnapshot().context;
            const patch = [
              { op: 'replace', path: '/context/count', value: count },
              { op: 'replace', path: '/context/total', value: total },
            ];
            return durable((db as Database).put(++global, { ...cal.entry, seq, at: Date.now(), patch }));
          });
        } else {
          pending = actors.map((actor, i) => {
            actor.send(inc());
            return (ws as WriteSet).put(ids[i] as string, seq);
          });
        }
        await Promise.all(pending);
      }
      return { ops: o.durableEvents * ids.length, ms: now() - start, commits: lmdbTxnId(env()) - txn };
    },
    teardown() {
      const count = actors[0]?.getSnapshot().context.count;
      if (count !== seq) throw new Error(`${names[kind]}: expected count ${seq}, got ${count}`);
      for (const actor of actors) actor.stop();
      actors = [];
    },
  };
}

/** C: durastate, every transition committed (and flushed) before its send resolves. */
function durableContender(o: CoreOptions, path: string): Contender {
  let rt: Runtime | undefined;
  // The LMDB store exposes its commit counter for tests and benchmarks (not part of Store).
  let store: (Store & { lastCommitId?(): number }) | undefined;
  const ids = Array.from({ length: o.executions }, () => randomUUID());
  let sent = 0;
  return {
    name: 'durastate (LMDB, flush)',
    unit: 'transitions',
    async setup() {
      store = lmdbStore({ path });
      rt = await createRuntime({ store, machines: [counterMachine], recover: false });
      const runtime = rt;
      await Promise.all(ids.map((id) => runtime.start('counter', { id })));
    },
    async round(): Promise<RoundResult> {
      const runtime = rt as Runtime;
      const txn = store?.lastCommitId?.();
      const start = now();
      for (let r = 0; r < o.durableEvents; r++) {
        await Promise.all(ids.map((id) => runtime.send(id, inc())));
      }
      const ms = now() - start;
      sent += o.durableEvents;
      const after = store?.lastCommitId?.();
      return { ops: o.durableEvents * ids.length, ms, ...(txn !== undefined && after !== undefined ? { commits: after - txn } : {}) };
    },
    async teardown() {
      const info = await (rt as Runtime).get(ids[0] as string);
      await (rt as Runtime).close();
      if (info?.seq !== sent) throw new Error(`durastate contender: expected seq ${sent}, got ${info?.seq}`);
    },
  };
}

/**
 * D, E and E' on fresh stores, interleaved one by one (the order rotates every iteration), each
 * awaited before the next begins.
 */
async function latency(o: CoreOptions, cal: Calibration): Promise<{ send: Summary; put: Summary; writeSet: Summary }> {
  const durableDir = tempDir();
  const rawDir = tempDir();
  const rt = await createRuntime({ store: lmdbStore({ path: durableDir.path }), machines: [counterMachine], recover: false });
  const env = openRawEnv(rawDir.path);
  try {
    const db = env.openDB({ name: 'journal' });
    const ws = new WriteSet(env, cal);
    const { id } = await rt.start('counter', { id: randomUUID() });
    const key = randomUUID();
    let seq = 0;
    const samples: [number[], number[], number[]] = [[], [], []];
    const ops: (() => Promise<unknown>)[] = [
      () => rt.send(id, inc()),
      () => durable(db.put([key, seq], { ...cal.entry, seq, at: Date.now() })),
      () => ws.put(key, seq),
    ];
    const warmup = Math.min(200, Math.ceil(o.latencySamples / 10));
    for (let i = 0; i < warmup + o.latencySamples; i++) {
      seq++;
      for (let k = 0; k < ops.length; k++) {
        const which = (i + k) % ops.length;
        const t = now();
        await (ops[which] as () => Promise<unknown>)();
        const ms = now() - t;
        if (i >= warmup) samples[which as 0 | 1 | 2].push(ms);
      }
    }
    const info = await rt.get(id);
    if (info?.seq !== warmup + o.latencySamples) throw new Error(`latency: expected seq ${warmup + o.latencySamples}, got ${info?.seq}`);
    return { send: summarize(samples[0]), put: summarize(samples[1]), writeSet: summarize(samples[2]) };
  } finally {
    await rt.close();
    await env.close();
    durableDir.remove();
    rawDir.remove();
  }
}

export async function runCore(options: Partial<CoreOptions> = {}): Promise<CoreResults> {
  const o: CoreOptions = { ...defaultCoreOptions, ...options };
  const log = o.log;

  log('calibrating: a real counter execution, sizes read back from its store');
  const cal = await calibrate();
  log(
    `  journal entry ${cal.entryBytes} B stored (${cal.entryJsonBytes} B as JSON), meta ${cal.metaBytes} B, keyframe ${cal.keyframeBytes} B ` +
      `every ${formatRatio(1 / cal.keyframesPerTransition).replace('×', '')} transitions`,
  );

  log(`latency: ${o.latencySamples} awaited sends to one execution, interleaved with as many bare awaited puts (fresh stores)`);
  const lat = await latency(o, cal);
  log(`  send median ${formatMs(lat.send.median)}, put median ${formatMs(lat.put.median)}, write set median ${formatMs(lat.writeSet.median)}`);

  const rawDir = tempDir();
  const durableDir = tempDir();
  let rawEnv: RootDatabase | undefined;
  try {
    const env = () => (rawEnv ??= openRawEnv(rawDir.path));
    const contenders = [
      memoryContender(o),
      rawPutsContender(o, cal, env, 'execution'),
      rawWriteSetContender(o, cal, env),
      rawPutsContender(o, cal, env, 'global'),
      durableContender(o, durableDir.path),
      floorContender(o, cal, env, 'commit'),
      floorContender(o, cal, env, 'log'),
      floorContender(o, cal, env, 'writeSet'),
    ];
    log(
      `throughput: ${o.executions} executions; per round ${o.memoryEvents} events each in memory, ${o.durableEvents} each durable/raw; ` +
        `${o.warmup} warm-up + ${o.rounds} measured rounds, alternating`,
    );
    const [memory, rawPuts, rawWriteSet, rawLog, durableR, floorCommit, floorLog, floorWriteSet] = await alternate(contenders, { rounds: o.rounds, warmup: o.warmup, log });
    if (!memory || !rawPuts || !rawWriteSet || !rawLog || !durableR || !floorCommit || !floorLog || !floorWriteSet) throw new Error('missing results');

    return {
      options: { executions: o.executions, durableEvents: o.durableEvents, memoryEvents: o.memoryEvents, rounds: o.rounds, warmup: o.warmup, latencySamples: o.latencySamples },
      calibration: cal,
      throughput: { memory, rawPuts, rawWriteSet, rawLog, durable: durableR },
      floors: { commit: floorCommit, log: floorLog, writeSet: floorWriteSet },
      latency: lat,
      ratios: {
        durableVsMemory: durableR.median / memory.median,
        durableVsRawPuts: durableR.median / rawPuts.median,
        durableVsRawWriteSet: durableR.median / rawWriteSet.median,
        floorCommitVsMemory: floorCommit.median / memory.median,
        floorLogVsMemory: floorLog.median / memory.median,
        floorWriteSetVsMemory: floorWriteSet.median / memory.median,
        sendVsPutMedian: lat.send.median / lat.put.median,
        sendVsPutP99: lat.send.p99 / lat.put.p99,
        sendVsWriteSetMedian: lat.send.median / lat.writeSet.median,
      },
    };
  } finally {
    await rawEnv?.close();
    rawDir.remove();
    durableDir.remove();
  }
}

/** The report of a run, as Markdown-compatible text. */
export function formatCore(r: CoreResults): string {
  const t = r.throughput;
  const f = r.floors;
  const rows = [t.memory, t.rawPuts, t.rawWriteSet, t.rawLog, t.durable, f.commit, f.log, f.writeSet].map((x) => [
    x.name,
    x.unit,
    formatRate(x.median),
    formatRate(x.best),
    formatRate(x.worst),
    x.cpuPerOp.toFixed(1),
    x.opsPerCommit === undefined ? '' : x.opsPerCommit.toFixed(0),
  ]);
  const lat = r.latency;
  const latRows = [
    ['durastate: awaited rt.send (one transition)', formatMs(lat.send.median), formatMs(lat.send.p90), formatMs(lat.send.p99), formatMs(lat.send.max)],
    ['bare lmdb-js put + flushed (journal-entry size)', formatMs(lat.put.median), formatMs(lat.put.p90), formatMs(lat.put.p99), formatMs(lat.put.max)],
    ["raw durastate write set + flushed (ref.)", formatMs(lat.writeSet.median), formatMs(lat.writeSet.p90), formatMs(lat.writeSet.p99), formatMs(lat.writeSet.max)],
  ];
  const c = r.calibration;
  const q = r.ratios;
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  return [
    `Record sizes (lmdb-js msgpack, as stored): journal entry ${formatBytes(c.entryBytes)} (JSON ${formatBytes(c.entryJsonBytes)}), ` +
      `meta ${formatBytes(c.metaBytes)}, keyframe ${formatBytes(c.keyframeBytes)} on ${(c.keyframesPerTransition * 100).toFixed(0)}% of transitions`,
    '',
    `Throughput, ${r.options.executions} executions, median of ${r.options.rounds} alternating rounds (per second):`,
    '',
    table(['contender', 'unit', 'median/s', 'best/s', 'worst/s', 'CPU µs/op', 'ops/commit'], rows),
    '',
    'CPU µs/op: process CPU time (all threads: main, GC, lmdb-js writer) per operation, median of the rounds.',
    'ops/commit: operations per LMDB write transaction (group commit), median of the rounds.',
    '',
    `Latency, ${lat.send.n} samples each, interleaved, fresh stores:`,
    '',
    table(['operation', 'median', 'p90', 'p99', 'max'], latRows),
    '',
    'Ratios:',
    '',
    table(
      ['ratio', 'measured', 'target', 'verdict'],
      [
        ['durable throughput / XState in memory', formatRatio(q.durableVsMemory), '≥ 0.50×', verdict(q.durableVsMemory >= 0.5)],
        ['  same, best round of each', formatRatio(t.durable.best / t.memory.best), '', ''],
        ['durable transitions / raw lmdb-js puts', formatRatio(q.durableVsRawPuts), '', ''],
        ["durable transitions / raw durastate write set", formatRatio(q.durableVsRawWriteSet), '', ''],
        ['floor, XState + an empty commit per turn / XState in memory', formatRatio(q.floorCommitVsMemory), '', ''],
        ['floor, XState + entry put, append-only key / XState in memory', formatRatio(q.floorLogVsMemory), '', ''],
        ["floor, XState + durastate's write set / XState in memory", formatRatio(q.floorWriteSetVsMemory), '', ''],
        ["durable throughput / that floor", formatRatio(t.durable.median / f.writeSet.median), '', ''],
        ['awaited send / bare put, median', formatRatio(q.sendVsPutMedian), '≤ 1.30×', verdict(q.sendVsPutMedian <= 1.3)],
        ['awaited send / bare put, p99', formatRatio(q.sendVsPutP99), '', ''],
        ['awaited send / raw write set, median', formatRatio(q.sendVsWriteSetMedian), '', ''],
      ],
    ),
  ].join('\n');
}
