/**
 * Issue 7's scale suite: how fast a store full of interrupted executions is back, and how much
 * memory a host needs for executions that only wait. Each measurement runs in a child process
 * (`dist/bench/scaleChild.js`) on its own LMDB folder, so its resident memory is its own.
 *
 * - recovery: N executions with an effect in flight, their process gone; a new runtime opens
 *   the store (`recover: true`): time until all N are hosted again (their effects restarted).
 * - passivation: N executions waiting on a timer, their process gone; a new runtime claims them
 *   without loading them (memory then, next to a process with none), then the timers fall due
 *   over a window (which starts once populating and claiming are done) and the waker loads each
 *   one from the timers table, it finishes, and it leaves memory: time from the claims until all
 *   have finished (the window's wait included), peak and final memory.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatMs, table, tempDir } from './helpers.js';

export interface ScaleOptions {
  /** Running executions recovered at once. */
  recovered: number;
  /** Waiting executions held, one measurement per count. */
  waiting: number[];
  /** Timers fall due over this window after populating (ms). */
  dueWindowMs: number;
}

export const defaultScaleOptions: ScaleOptions = { recovered: 10_000, waiting: [1_000, 10_000, 100_000], dueWindowMs: 15_000 };

interface RecoverLine {
  backMs: number;
  /** The longest the event loop was held at once during recovery. */
  maxLoopDelayMs: number;
  hosted: number;
  running: number;
  waiting: number;
  baselineMb: number;
  rssBackMb: number;
  wokenMs: number;
  /** Epoch ms when every waiting execution had finished. */
  doneAt: number;
  completed: number;
  peakMb: number;
  rssAfterMb: number;
  heapBaselineMb: number;
  heapBackMb: number;
  heapAfterMb: number;
}

export interface ScaleResult {
  recovery: { n: number; populateMs: number; line: RecoverLine; lagMs: number };
  passivation: { n: number; populateMs: number; line: RecoverLine; lagMs: number }[];
}

const child = fileURLToPath(new URL('./scaleChild.js', import.meta.url));

function run(args: string[]): string {
  const out = execFileSync(process.execPath, [child, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return out.trim().split('\n').at(-1) ?? '';
}

function measure(running: number, waiting: number, dueWindowMs: number): { n: number; populateMs: number; line: RecoverLine; lagMs: number } {
  const dir = tempDir('durastate-scale-');
  // The timers fall due only once populating (~4k executions/s) and the recovering claims are
  // done, so that memory is read while all of them sleep.
  const dueIn = 10_000 + Math.ceil(waiting * 0.5);
  try {
    const populated = JSON.parse(run(['populate', dir.path, String(running), String(waiting), String(dueIn), String(dueWindowMs)])) as { ms: number; startedAt: number };
    const line = JSON.parse(run(['recover', dir.path])) as RecoverLine;
    // How far the wakes trailed the due times: from the last timer falling due to all finished.
    const lagMs = line.doneAt - (populated.startedAt + dueIn + dueWindowMs);
    return { n: running + waiting, populateMs: populated.ms, line, lagMs };
  } finally {
    dir.remove();
  }
}

export async function runScale(options: ScaleOptions, log: (line: string) => void = console.log): Promise<ScaleResult> {
  log(`recovery: ${options.recovered} running executions, their process gone`);
  const recovery = measure(options.recovered, 0, options.dueWindowMs);
  const passivation: ScaleResult['passivation'] = [];
  for (const n of options.waiting) {
    log(`passivation: ${n} waiting executions, timers due over ${options.dueWindowMs / 1000} s, ${((10_000 + n * 0.5) / 1000).toFixed(0)} s after populating starts`);
    passivation.push(measure(0, n, options.dueWindowMs));
  }
  return { recovery, passivation };
}

export function formatScale(r: ScaleResult): string {
  const rec = r.recovery;
  const lines = [
    `Recovery of ${rec.n.toLocaleString('en')} interrupted running executions: back (all hosted, effects restarted) in **${formatMs(rec.line.backMs)}** ` +
      `(target < 1 s: ${rec.line.backMs < 1000 ? 'met' : 'MISSED'}); ${rec.line.hosted.toLocaleString('en')} hosted; the event loop held at most ${formatMs(rec.line.maxLoopDelayMs)} at once; ` +
      `resident memory ${rec.line.rssBackMb.toFixed(0)} MB (${rec.line.baselineMb.toFixed(0)} MB before).`,
    '',
    table(
      ['waiting executions', 'claimed in', 'heap before → claimed → after', 'resident before → claimed', 'all timers fired and finished in', 'last due → all finished', 'resident peak → after'],
      r.passivation.map((p) => [
        p.n.toLocaleString('en'),
        formatMs(p.line.backMs),
        `${p.line.heapBaselineMb.toFixed(1)} → ${p.line.heapBackMb.toFixed(1)} → ${p.line.heapAfterMb.toFixed(1)} MB`,
        `${p.line.baselineMb.toFixed(0)} → ${p.line.rssBackMb.toFixed(0)} MB`,
        `${formatMs(p.line.wokenMs)} (${p.line.completed.toLocaleString('en')} done)`,
        formatMs(p.lagMs),
        `${p.line.peakMb.toFixed(0)} → ${p.line.rssAfterMb.toFixed(0)} MB`,
      ]),
    ),
  ];
  const [first, last] = [r.passivation[0], r.passivation.at(-1)];
  if (first && last && first !== last) {
    lines.push(
      '',
      `Once claimed, ${last.n.toLocaleString('en')} vs ${first.n.toLocaleString('en')} waiting executions: JavaScript heap ${(last.line.heapBackMb / first.line.heapBackMb).toFixed(2)}×, ` +
        `resident ${(last.line.rssBackMb / first.line.rssBackMb).toFixed(2)}× (flat = 1×; resident memory also counts the LMDB pages the recovery read, which the OS can drop).`,
    );
  }
  return lines.join('\n');
}
