/**
 * The timeline benchmark: what reading a point of history and forking from it cost as an
 * execution's history grows, and what durastate's journal + keyframes store for a growing
 * context next to a full snapshot per step. One run, real LMDB stores in temp folders
 * (`lmdbStore({ path })`, default durability: every write awaited until flushed).
 *
 * 1. Flat cost in the history's length. One counter execution (bench/machines.ts) is driven to
 *    `transitions` transitions (sends issued in batches, each batch awaited). Then, interleaved
 *    with the order rotating every iteration:
 *    - `rt.stateAt(id, { seq })` at seq 10, 1,000 and `transitions`, and `rt.stateAt(id, { at })`
 *      at the time of the middle transition (a binary search on the journal);
 *    - `rt.fork(id, { seq, start: false })` at the same seqs, each a new execution with its own id
 *      (the fork's first transition and keyframe are committed and flushed before it resolves).
 *    Median / p95 / p99 in µs, and the ratio of the last seq to seq 10.
 * 2. Storage of a growing context. A chat execution whose context gains one ~200-byte message per
 *    step (`messages: [...messages, message]`), `chatSteps` steps: the value bytes of its journal
 *    and keyframes as stored (lmdb-js msgpack, read back with `getBinary` from the same LMDB
 *    files), and as JSON, next to the JSON bytes of the full persisted snapshot at every seq
 *    (what a checkpointer that writes the whole state per step, LangGraph-style, would write).
 */
import { open, type Database } from 'lmdb';
import { createRuntime, lmdbStore, type Runtime, type Store } from '../src/index.js';
import { collectGarbage, formatBytes, formatRate, formatRatio, now, percentile, table, tempDir } from './helpers.js';
import { chatMachine, counterMachine, inc, message, type ChatContext } from './machines.js';

export interface TimelineOptions {
  /** Transitions of the long counter execution. */
  transitions: number;
  /** Sends issued before awaiting them, while driving it. */
  batch: number;
  /** Measured `stateAt` calls per point (after `stateAtWarmup` unmeasured ones). */
  stateAtSamples: number;
  stateAtWarmup: number;
  /** Measured forks per point (after `forkWarmup` unmeasured ones). */
  forkSamples: number;
  forkWarmup: number;
  /** Steps of the chat execution, one message each. */
  chatSteps: number;
  /** JSON bytes of one chat message. */
  messageBytes: number;
}

export const defaultTimelineOptions: TimelineOptions = {
  transitions: 100_000,
  batch: 1000,
  stateAtSamples: 2000,
  stateAtWarmup: 200,
  forkSamples: 500,
  forkWarmup: 50,
  chatSteps: 500,
  messageBytes: 200,
};

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** Latency order statistics, in milliseconds. */
export interface LatencyStats {
  n: number;
  median: number;
  p95: number;
  p99: number;
  max: number;
}

function stats(samples: readonly number[]): LatencyStats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, median: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

export interface PointLatency {
  operation: 'stateAt { seq }' | 'stateAt { at }' | 'fork { seq, start: false }';
  /** The seq asked for (for `{ at }`, the seq the time resolved to). */
  seq: number;
  /** The nearest keyframe at or below `seq`: the rebuild applies `seq - keyframe` patches. */
  keyframe: number;
  latency: LatencyStats;
}

export interface StorageRow {
  steps: number;
  journalEntries: number;
  keyframes: number;
  /** lmdb-js msgpack value bytes, as stored. */
  journalBytes: number;
  keyframeBytes: number;
  /** The same records as JSON. */
  journalJson: number;
  keyframeJson: number;
  /** Sum of the JSON length of the full persisted snapshot at seq 0..steps. */
  fullSnapshotsJson: number;
  /** JSON length of the snapshot at `steps`. */
  lastSnapshotJson: number;
}

export interface TimelineResults {
  options: TimelineOptions;
  drive: { transitions: number; ms: number; perSecond: number };
  points: PointLatency[];
  ratios: {
    stateAtMedian: number;
    stateAtP95: number;
    forkMedian: number;
    forkP95: number;
    /** The control point (10 patches past the last keyframe, like seq 10) / seq 10. */
    controlSeq: number;
    stateAtControlMedian: number;
    stateAtControlP95: number;
    forkControlMedian: number;
    forkControlP95: number;
  };
  /** Seqs of the chat execution's keyframes. */
  chatKeyframes: number[];
  storage: StorageRow[];
}

// ---------------------------------------------------------------------------------------------
// The chat workload

// ---------------------------------------------------------------------------------------------
// Part 1: stateAt and fork against the history's length

async function keyframeBelow(store: Store, id: string, seq: number): Promise<number> {
  return (await store.keyframeAtOrBefore(id, seq))?.seq ?? Number.NaN;
}

async function flatCost(o: TimelineOptions, log: (line: string) => void): Promise<Pick<TimelineResults, 'drive' | 'points'>> {
  const dir = tempDir();
  const store = lmdbStore({ path: dir.path });
  const rt: Runtime = await createRuntime({ store, machines: [counterMachine], recover: false });
  try {
    const { id } = await rt.start('counter', { id: 'long' });
    log(`driving one counter execution to ${o.transitions} transitions (batches of ${o.batch} sends, each batch awaited)`);
    const t0 = now();
    for (let sent = 0; sent < o.transitions; ) {
      const n = Math.min(o.batch, o.transitions - sent);
      const pending = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) pending[i] = rt.send(id, inc());
      await Promise.all(pending);
      sent += n;
    }
    const driveMs = now() - t0;
    const info = await rt.get(id);
    if (info?.seq !== o.transitions) throw new Error(`timeline: expected seq ${o.transitions}, got ${info?.seq}`);
    log(`  ${o.transitions} transitions in ${(driveMs / 1000).toFixed(1)} s (${formatRate((o.transitions * 1000) / driveMs)}/s)`);

    // The asked-for points, plus a control: as many patches past the last keyframe as seq 10 is
    // past seq 0's, so that the history's length is the only difference from seq 10.
    const lastKeyframe = await keyframeBelow(store, id, o.transitions);
    const control = lastKeyframe + 10;
    const seqs = [...new Set([10, 1000, o.transitions, ...(control < o.transitions ? [control] : [])])].filter((s) => s <= o.transitions).sort((a, b) => a - b);
    const mid = Math.floor(o.transitions / 2);
    const [midEntry] = await rt.history(id, { from: mid, to: mid });
    if (!midEntry) throw new Error(`timeline: no journal entry at seq ${mid}`);
    const midAt = midEntry.at;
    const atSeq = (await rt.stateAt(id, { at: midAt })).seq;
    if (atSeq < mid || (await rt.history(id, { from: atSeq, to: atSeq }))[0]?.at.getTime() !== midAt.getTime()) {
      throw new Error(`timeline: stateAt({ at }) of seq ${mid}'s time resolved to seq ${atSeq}`);
    }

    // stateAt: every iteration calls each point once, the order rotating.
    const reads: { seq: number; call: () => Promise<{ seq: number; context: unknown }> }[] = [
      ...seqs.map((seq) => ({ seq, call: () => rt.stateAt(id, { seq }) })),
      { seq: atSeq, call: () => rt.stateAt(id, { at: midAt }) },
    ];
    log(`stateAt: ${o.stateAtSamples} calls per point after ${o.stateAtWarmup} warm-up, interleaved (seq ${seqs.join(', ')}; { at } of seq ${mid} → seq ${atSeq})`);
    collectGarbage();
    const readSamples = reads.map(() => [] as number[]);
    for (let i = 0; i < o.stateAtWarmup + o.stateAtSamples; i++) {
      for (let k = 0; k < reads.length; k++) {
        const which = (i + k) % reads.length;
        const r = reads[which] as (typeof reads)[number];
        const t = now();
        const s = await r.call();
        const ms = now() - t;
        if (s.seq !== r.seq || (s.context as { count?: number }).count !== r.seq) throw new Error(`timeline: stateAt at seq ${r.seq} gave seq ${s.seq}, count ${(s.context as { count?: number }).count}`);
        if (i >= o.stateAtWarmup) readSamples[which]?.push(ms);
      }
    }

    log(`fork: ${o.forkSamples} forks per point after ${o.forkWarmup} warm-up, interleaved, start: false, distinct ids`);
    collectGarbage();
    const forkSamples = seqs.map(() => [] as number[]);
    let forks = 0;
    for (let i = 0; i < o.forkWarmup + o.forkSamples; i++) {
      for (let k = 0; k < seqs.length; k++) {
        const which = (i + k) % seqs.length;
        const seq = seqs[which] as number;
        const forkId = `fork-${seq}-${i}`;
        const t = now();
        await rt.fork(id, { seq, start: false, id: forkId });
        const ms = now() - t;
        forks++;
        if (i >= o.forkWarmup) forkSamples[which]?.push(ms);
      }
    }
    // Sanity: a fork continues from its fork point.
    for (const seq of seqs) {
      const f = await rt.get(`fork-${seq}-0`);
      const count = (f?.context as { count?: number } | undefined)?.count;
      if (f?.parent?.seq !== seq || count !== seq) throw new Error(`timeline: fork at seq ${seq} has parent ${JSON.stringify(f?.parent)}, count ${count}`);
    }
    if ((await rt.stats()).total !== forks + 1) throw new Error(`timeline: expected ${forks + 1} executions`);

    const points: PointLatency[] = [];
    for (const [i, r] of reads.entries()) {
      points.push({ operation: i < seqs.length ? 'stateAt { seq }' : 'stateAt { at }', seq: r.seq, keyframe: await keyframeBelow(store, id, r.seq), latency: stats(readSamples[i] ?? []) });
    }
    for (const [i, seq] of seqs.entries()) {
      points.push({ operation: 'fork { seq, start: false }', seq, keyframe: await keyframeBelow(store, id, seq), latency: stats(forkSamples[i] ?? []) });
    }
    return { drive: { transitions: o.transitions, ms: driveMs, perSecond: (o.transitions * 1000) / driveMs }, points };
  } finally {
    await rt.close();
    dir.remove();
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: storage of a growing context

async function growingContext(o: TimelineOptions, log: (line: string) => void): Promise<{ storage: StorageRow[]; keyframes: number[] }> {
  const dir = tempDir();
  const store = lmdbStore({ path: dir.path });
  const rt: Runtime = await createRuntime({ store, machines: [chatMachine], recover: false });
  const id = 'chat';
  // Per seq: JSON bytes of the full snapshot, of the journal entry, of the keyframe (0 if none).
  const fullJson: number[] = [];
  const entryJson: number[] = [];
  const keyframeJson = new Map<number, number>();
  try {
    log(`storage: one chat execution, ${o.chatSteps} steps, one ${o.messageBytes}-byte message appended to the context per step`);
    await rt.start('chat', { id });
    for (let n = 1; n <= o.chatSteps; n++) await rt.send(id, { type: 'MESSAGE', message: message(n, o.messageBytes) });
    for (let seq = 0; seq <= o.chatSteps; seq++) {
      const s = await rt.stateAt(id, { seq });
      if ((s.context as unknown as ChatContext).messages.length !== seq) throw new Error(`timeline: chat at seq ${seq} has the wrong messages`);
      fullJson.push(JSON.stringify(s.snapshot).length);
    }
    const entries = await store.readJournal(id, { from: 0, to: MAX_SEQ });
    if (entries.length !== o.chatSteps + 1) throw new Error(`timeline: chat journal has ${entries.length} entries`);
    for (const e of entries) entryJson[e.seq] = JSON.stringify(e).length;
    for (let seq = o.chatSteps; seq >= 0; ) {
      const k = await store.keyframeAtOrBefore(id, seq);
      if (!k) break;
      keyframeJson.set(k.seq, JSON.stringify(k.snapshot).length);
      seq = k.seq - 1;
    }
  } finally {
    await rt.close();
  }
  // The stored value bytes, from the same LMDB files (opened again once the runtime closed them).
  const entryBytes: number[] = [];
  const keyframeBytes = new Map<number, number>();
  const env = open({ path: dir.path, readOnly: true, maxDbs: 16 });
  try {
    const journal: Database<unknown, [string, number]> = env.openDB({ name: 'journal' });
    const keyframes: Database<unknown, [string, number]> = env.openDB({ name: 'keyframes' });
    for (const key of journal.getKeys({ start: [id, 0], end: [id, MAX_SEQ] })) entryBytes[key[1]] = journal.getBinary(key)?.length ?? Number.NaN;
    for (const key of keyframes.getKeys({ start: [id, 0], end: [id, MAX_SEQ] })) keyframeBytes.set(key[1], keyframes.getBinary(key)?.length ?? Number.NaN);
  } finally {
    await env.close();
    dir.remove();
  }
  if (keyframeBytes.size !== keyframeJson.size) throw new Error(`timeline: ${keyframeBytes.size} keyframes stored, ${keyframeJson.size} found through the store`);

  const sum = (xs: Iterable<number>) => [...xs].reduce((a, b) => a + b, 0);
  const cuts = [...new Set([Math.round(o.chatSteps / 5), Math.round(o.chatSteps / 2), o.chatSteps])];
  const storage = cuts.map((steps) => {
    const kf = [...keyframeBytes.keys()].filter((s) => s <= steps);
    return {
      steps,
      journalEntries: steps + 1,
      keyframes: kf.length,
      journalBytes: sum(entryBytes.slice(0, steps + 1)),
      keyframeBytes: sum(kf.map((s) => keyframeBytes.get(s) ?? 0)),
      journalJson: sum(entryJson.slice(0, steps + 1)),
      keyframeJson: sum(kf.map((s) => keyframeJson.get(s) ?? 0)),
      fullSnapshotsJson: sum(fullJson.slice(0, steps + 1)),
      lastSnapshotJson: fullJson[steps] ?? Number.NaN,
    };
  });
  return { storage, keyframes: [...keyframeBytes.keys()].sort((a, b) => a - b) };
}

// ---------------------------------------------------------------------------------------------

export async function runTimeline(o: TimelineOptions = defaultTimelineOptions, log: (line: string) => void = console.log): Promise<TimelineResults> {
  const { drive, points } = await flatCost(o, log);
  const { storage, keyframes: chatKeyframes } = await growingContext(o, log);
  const at = (op: PointLatency['operation'], seq: number) => points.find((p) => p.operation === op && p.seq === seq)?.latency;
  const ratio = (op: PointLatency['operation'], key: 'median' | 'p95', seq = o.transitions) => (at(op, seq)?.[key] ?? Number.NaN) / (at(op, 10)?.[key] ?? Number.NaN);
  const last = points.find((p) => p.seq === o.transitions);
  const controlSeq = (last?.keyframe ?? Number.NaN) + 10;
  return {
    options: o,
    drive,
    points,
    ratios: {
      stateAtMedian: ratio('stateAt { seq }', 'median'),
      stateAtP95: ratio('stateAt { seq }', 'p95'),
      forkMedian: ratio('fork { seq, start: false }', 'median'),
      forkP95: ratio('fork { seq, start: false }', 'p95'),
      controlSeq,
      stateAtControlMedian: ratio('stateAt { seq }', 'median', controlSeq),
      stateAtControlP95: ratio('stateAt { seq }', 'p95', controlSeq),
      forkControlMedian: ratio('fork { seq, start: false }', 'median', controlSeq),
      forkControlP95: ratio('fork { seq, start: false }', 'p95', controlSeq),
    },
    chatKeyframes,
    storage,
  };
}

function us(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const u = ms * 1000;
  return u < 100 ? `${u.toFixed(1)} µs` : `${u.toFixed(0)} µs`;
}

export function formatTimeline(r: TimelineResults): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const pointRows = r.points.map((p) => [
    p.operation,
    n(p.seq),
    n(p.keyframe),
    String(p.seq - p.keyframe),
    us(p.latency.median),
    us(p.latency.p95),
    us(p.latency.p99),
    String(p.latency.n),
  ]);
  const q = r.ratios;
  const last = r.storage[r.storage.length - 1];
  const storeRows = r.storage.map((s) => {
    const stored = s.journalBytes + s.keyframeBytes;
    const json = s.journalJson + s.keyframeJson;
    return [
      n(s.steps),
      formatBytes(s.lastSnapshotJson),
      `${s.journalEntries} / ${formatBytes(s.journalBytes)}`,
      `${s.keyframes} / ${formatBytes(s.keyframeBytes)}`,
      formatBytes(stored),
      formatBytes(json),
      formatBytes(s.fullSnapshotsJson),
      formatRatio(s.fullSnapshotsJson / stored),
      formatRatio(s.fullSnapshotsJson / json),
    ];
  });
  return [
    `One counter execution driven to ${n(r.drive.transitions)} transitions in ${(r.drive.ms / 1000).toFixed(1)} s (${formatRate(r.drive.perSecond)}/s, batches of ${r.options.batch} sends).`,
    '',
    table(['operation', 'seq', 'keyframe at', 'patches', 'median', 'p95', 'p99', 'samples'], pointRows),
    '',
    'patches: journal patches applied on top of the keyframe to rebuild the snapshot. A fork also commits (and flushes) its first transition and keyframe.',
    '',
    `seq ${n(r.options.transitions)} / seq 10: stateAt median ${formatRatio(q.stateAtMedian)}, p95 ${formatRatio(q.stateAtP95)}; fork median ${formatRatio(q.forkMedian)}, p95 ${formatRatio(q.forkP95)} (flat = ~1×)`,
    `seq ${n(q.controlSeq)} (10 patches past a keyframe, as seq 10) / seq 10: stateAt median ${formatRatio(q.stateAtControlMedian)}, p95 ${formatRatio(q.stateAtControlP95)}; ` +
      `fork median ${formatRatio(q.forkControlMedian)}, p95 ${formatRatio(q.forkControlP95)}`,
    '',
    `Storage of a chat execution: one ${r.options.messageBytes}-byte message appended to the context per step (values only, keys and LMDB pages not counted):`,
    '',
    table(['steps', 'last snapshot', 'journal entries / bytes', 'keyframes / bytes', 'durastate stored', 'durastate as JSON', 'full snapshot per step (JSON)', 'full / stored', 'full / JSON'], storeRows),
    '',
    'stored: lmdb-js msgpack value bytes of the journal and keyframes databases, read back with getBinary. ' +
      'full snapshot per step: sum of JSON.stringify(stateAt(seq).snapshot).length for seq 0..steps, what a checkpointer writing the whole state at every step writes.',
    `chat keyframes at seq ${r.chatKeyframes.join(', ')}.`,
    ...(last ? ['', `At ${n(last.steps)} steps: full snapshot per step / durastate stored = ${formatRatio(last.fullSnapshotsJson / (last.journalBytes + last.keyframeBytes))}`] : []),
  ].join('\n');
}
