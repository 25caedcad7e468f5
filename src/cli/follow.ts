import cliProgress from 'cli-progress';
import { firstValueFrom, filter, tap } from 'rxjs';
import type { Progress } from '../progress/progress.js';
import type { Runtime } from '../runtime/Runtime.js';
import { isFinished } from '../store/Store.js';
import { short, type GlobalOptions } from './io.js';

/** Renders progress: bars on a terminal, one line per step otherwise, one JSON object per line with `--json`. */
export class ProgressView {
  private readonly bars?: cliProgress.MultiBar;
  private readonly rows = new Map<string, cliProgress.SingleBar>();

  /** `quiet`: nothing with `--json` (the command prints one JSON document at the end instead of a stream). */
  constructor(
    private readonly opts: GlobalOptions,
    private readonly quiet = false,
  ) {
    if (!opts.json && process.stdout.isTTY) {
      this.bars = new cliProgress.MultiBar(
        { format: ' {bar} {percentage}% | {id} | {status} {state}', hideCursor: true, clearOnComplete: false, stopOnComplete: false, autopadding: true },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  update(p: Progress): void {
    if (this.opts.json) {
      if (!this.quiet) console.log(JSON.stringify(p));
      return;
    }
    const payload = { id: p.id, status: p.status, state: short(p.value, 40) };
    if (!this.bars) {
      console.log(`${p.id}  ${String(Math.round(p.percent)).padStart(3)}%  seq ${p.seq}  ${p.status}  ${short(p.value, 60)}`);
      return;
    }
    const bar = this.rows.get(p.id);
    const percent = Math.round(p.percent);
    if (bar) bar.update(percent, payload);
    else this.rows.set(p.id, this.bars.create(100, percent, payload));
  }

  stop(): void {
    this.bars?.stop();
  }
}

/**
 * Shows an execution's progress until it is finished, or (with `untilWaiting`) until only an
 * event or a timer can move it. Resolves with the last progress seen.
 */
export async function follow(rt: Runtime, id: string, view: ProgressView, untilWaiting: boolean): Promise<Progress> {
  return firstValueFrom(
    rt.progress$(id).pipe(
      tap((p) => view.update(p)),
      filter((p) => isFinished(p.status) || (untilWaiting && p.status === 'waiting')),
    ),
  );
}
