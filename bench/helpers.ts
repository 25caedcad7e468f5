/**
 * Shared helpers for durastate's benchmarks: timing, percentiles, temporary LMDB folders,
 * alternating rounds, tables and a description of the machine the figures came from.
 *
 * A benchmark is not a test: nothing here asserts a time. Every suite runs its contenders in
 * one process on the same workload, alternating them round by round (A, B, C, A, B, C, …) so
 * that drift (JIT warm-up, page cache, a noisy neighbour) hits all of them alike, and reports
 * the median (and best) of the rounds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// ---------------------------------------------------------------------------------------------
// Timing

/** Milliseconds since an arbitrary origin, sub-microsecond resolution. */
export function now(): number {
  return performance.now();
}

/** Runs `fn` and returns its result with the elapsed milliseconds. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; result: T }> {
  const start = now();
  const result = await fn();
  return { ms: now() - start, result };
}

/** Lets pending I/O callbacks and timers run (one macrotask turn). */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

let gcFn: (() => void) | undefined | null = null;

/**
 * A full garbage collection between measurements when the engine allows it (so one contender
 * does not pay for another's garbage). Works without `--expose-gc` on the command line.
 */
export function collectGarbage(): void {
  if (gcFn === null) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = undefined;
    }
  }
  gcFn?.();
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** The `p`-th percentile (0..100) of already sorted samples, nearest-rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export interface Summary {
  n: number;
  min: number;
  median: number;
  mean: number;
  p90: number;
  p99: number;
  max: number;
}

/** Order statistics of a sample (in the sample's unit). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    median: percentile(sorted, 50),
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

export function median(samples: readonly number[]): number {
  return summarize(samples).median;
}

// ---------------------------------------------------------------------------------------------
// Alternating rounds

/** One throughput measurement: `ops` operations in `ms` milliseconds. */
export interface RoundResult {
  ops: number;
  ms: number;
  /** Storage commits (LMDB write transactions) the round took, when known. */
  commits?: number;
}

/** A contender in an alternating comparison. */
export interface Contender {
  name: string;
  /** Unit of `ops` for the table ("transitions", "puts"). */
  unit: string;
  setup?(): Promise<void> | void;
  /** One measured round. Only what happens inside counts. */
  round(): Promise<RoundResult> | RoundResult;
  teardown?(): Promise<void> | void;
}

export interface ThroughputResult {
  name: string;
  unit: string;
  /** ops/s of every measured round, in order. */
  rates: number[];
  median: number;
  best: number;
  worst: number;
  /**
   * Median CPU time of the whole process (all threads: main, GC, lmdb-js writer) per op, in µs.
   * Less sensitive than wall time to other processes competing for the CPUs.
   */
  cpuPerOp: number;
  /** Median operations per storage commit, when the contender counts commits. */
  opsPerCommit?: number;
}

/**
 * Runs `warmup` unmeasured rounds then `rounds` measured rounds of every contender, alternating
 * A, B, C, A, B, C…, with a garbage collection before each round.
 */
export async function alternate(contenders: readonly Contender[], options: { rounds: number; warmup?: number; log?: (line: string) => void }): Promise<ThroughputResult[]> {
  const rates = contenders.map(() => [] as number[]);
  const cpu = contenders.map(() => [] as number[]);
  const perCommit = contenders.map(() => [] as number[]);
  for (const c of contenders) await c.setup?.();
  try {
    const total = (options.warmup ?? 1) + options.rounds;
    for (let r = 0; r < total; r++) {
      const measured = r >= (options.warmup ?? 1);
      const line: string[] = [];
      for (const [i, c] of contenders.entries()) {
        collectGarbage();
        await yieldTurn();
        const cpu0 = process.cpuUsage();
        const { ops, ms, commits } = await c.round();
        const used = process.cpuUsage(cpu0);
        const rate = (ops * 1000) / ms;
        if (measured) {
          rates[i]?.push(rate);
          cpu[i]?.push((used.user + used.system) / ops);
          if (commits) perCommit[i]?.push(ops / commits);
        }
        line.push(`${c.name} ${formatRate(rate)}/s`);
      }
      options.log?.(`  ${measured ? `round ${r - (options.warmup ?? 1) + 1}` : 'warm-up'}: ${line.join(' | ')}`);
    }
  } finally {
    for (const c of [...contenders].reverse()) await c.teardown?.();
  }
  return contenders.map((c, i) => {
    const rs = rates[i] ?? [];
    const pc = perCommit[i] ?? [];
    return {
      name: c.name,
      unit: c.unit,
      rates: rs,
      median: median(rs),
      best: Math.max(...rs),
      worst: Math.min(...rs),
      cpuPerOp: median(cpu[i] ?? []),
      ...(pc.length ? { opsPerCommit: median(pc) } : {}),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Temporary folders

/** A fresh folder under the OS temp dir, and a function that removes it. */
export function tempDir(prefix = 'durastate-bench-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Bytes used by the files of a folder (apparent size, not recursive into subfolders' subfolders). */
export function folderBytes(path: string): number {
  let total = 0;
  for (const name of readdirSync(path)) {
    const s = statSync(join(path, name));
    total += s.isDirectory() ? folderBytes(join(path, name)) : s.size;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** 12345.6 → "12.3k", 1234567 → "1.23M". */
export function formatRate(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)}k`;
  return n.toFixed(0);
}

/** Milliseconds with a sensible precision: 0.0123 → "12.3 µs", 0.42 → "0.420 ms". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0.1) return `${(ms * 1000).toFixed(1)} µs`;
  if (ms < 10) return `${ms.toFixed(3)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return String(r);
  return r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

export function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/**
 * A plain-text table (also valid Markdown). Numbers should be formatted by the caller; columns
 * whose cells look numeric are right-aligned.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+]?[\d.,]+/.test(r[i] ?? '') || (r[i] ?? '') === ''));
  const cell = (s: string, i: number) => (numeric[i] ? s.padStart(widths[i] ?? 0) : s.padEnd(widths[i] ?? 0));
  const line = (cells: readonly string[]) => `| ${headers.map((_, i) => cell(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Machine description

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  tmpdir: string;
  filesystem: string;
  lmdb: string;
  xstate: string;
}

function safe(fn: () => string, fallback = '?'): string {
  try {
    return fn().trim();
  } catch {
    return fallback;
  }
}

/** Where the figures come from: CPUs, memory, Node, kernel, the temp folder's filesystem, library versions. */
export function machineInfo(versions: { lmdb: string; xstate: string }): MachineInfo {
  const dir = tmpdir();
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? '?',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
    tmpdir: dir,
    filesystem: safe(() => execFileSync('df', ['-T', dir], { encoding: 'utf8' }).split('\n')[1]?.split(/\s+/)[1] ?? '?'),
    lmdb: versions.lmdb,
    xstate: versions.xstate,
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cpus} CPU (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}, ${m.tmpdir} on ${m.filesystem}, lmdb ${m.lmdb}, xstate ${m.xstate}`;
}

/**
 * The 1-minute load average, and a warning when other processes keep the CPUs busy (the
 * figures of such a run are not representative; rerun on a quiet machine).
 */
export function loadNote(): { load1: number; busy: boolean; text: string } {
  const load1 = loadavg()[0] ?? 0;
  const busy = load1 > 0.5 * availableParallelism();
  return { load1, busy, text: `load average ${load1.toFixed(2)}${busy ? ' — WARNING: the machine is busy, figures are not representative' : ''}` };
}

/** The commit the figures were measured on, and whether `src/` had uncommitted changes. */
export function sourceRevision(cwd = process.cwd()): string {
  const head = safe(() => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const dirty = safe(() => execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), '');
  const changed = dirty.split('\n').filter(Boolean).length;
  return `commit ${head}${changed ? ` + ${changed} uncommitted change(s) in src/` : ''}`;
}

/** LMDB's id of the last committed write transaction of an environment (counts commits). */
export function lmdbTxnId(env: { getStats(): unknown }): number {
  return (env.getStats() as { lastTxnId?: number }).lastTxnId ?? 0;
}
