/**
 * The durable effects whose code runs in this process for one execution, by idempotency key,
 * so that an in-process restore does not run an effect's code a second time.
 *
 * Two things restore an execution's actor in the process that runs it: a `send` refused because
 * its transition cannot be committed (the actor goes back to its last committed snapshot), and
 * the supervisor's restart after a crash. Either way XState starts the effects invoked in that
 * snapshot again, with the same keys. Without this table the code of an effect in flight (a
 * model call, a payment) would run again beside, or after the abort of, the run already under
 * way. With it the new actor joins that run and gets its outcome. The run's code sees a signal
 * of its own, aborted once no actor waits for the run any more, except while the host restores:
 * then the run waits for the restored actor, and is aborted if the restored state has no such
 * effect (see {@link EffectRuns.preserve}).
 *
 * @example
 * ```ts
 * const runs = new EffectRuns();
 * const output = await runs.join(key, xstateSignal, (signal) => callTheModel({ signal }));
 * ```
 */
export class EffectRuns {
  private readonly runs = new Map<string, Run>();
  private preserving = false;

  /**
   * The outcome of the run of `key`: the one in flight here, or a new one started with
   * `start(signal)`. The caller's `signal` aborting lets go of the run.
   */
  join(key: string, signal: AbortSignal, start: (signal: AbortSignal) => Promise<unknown>): Promise<unknown> {
    let run = this.runs.get(key);
    if (!run) {
      const controller = new AbortController();
      const fresh: Run = { controller, attached: 0, settled: false, outcome: start(controller.signal) };
      // Settling is observed here, so an aborted run nobody waits for is not an unhandled rejection.
      fresh.outcome.then(
        () => this.settled(key, fresh),
        () => this.settled(key, fresh),
      );
      this.runs.set(key, fresh);
      run = fresh;
    } else if (run.settled) {
      // Settled while the restored actor was on its way to it: its outcome is this actor's.
      this.runs.delete(key);
      return run.outcome;
    }
    const joined = run;
    joined.attached++;
    signal.addEventListener('abort', () => this.detach(key, joined, signal.reason), { once: true });
    return joined.outcome;
  }

  /**
   * Runs `restore` (the actor stopped and restored in the process) keeping the runs its stop
   * lets go of; afterwards aborts those the restored state does not have (`has(key)` false).
   */
  preserve(restore: () => void, has: (key: string) => boolean): void {
    this.preserving = true;
    try {
      restore();
    } finally {
      this.preserving = false;
    }
    for (const [key, run] of this.runs) {
      if (run.attached === 0 && !has(key)) this.end(key, run, new Error('the effect is no longer in the restored state'));
    }
  }

  /** Forgets the run of `key`, whose outcome is recorded (a restored actor found it in the store). */
  forget(key: string): void {
    const run = this.runs.get(key);
    if (run && run.attached === 0) this.end(key, run, new Error('the effect is recorded'));
  }

  /** Aborts every run: the execution is over, or leaves this process. */
  abortAll(reason: unknown): void {
    for (const [key, run] of this.runs) this.end(key, run, reason);
  }

  /** How many runs are in flight or waiting for a restored actor (tests). */
  get size(): number {
    return this.runs.size;
  }

  private detach(key: string, run: Run, reason: unknown): void {
    run.attached--;
    if (run.attached > 0 || run.settled) return;
    // Stopped for a restore: the restored actor joins it (or `preserve` ends it).
    if (this.preserving) return;
    this.end(key, run, reason);
  }

  private settled(key: string, run: Run): void {
    run.settled = true;
    // Kept while no actor waits for it: a restored actor on its way to it takes the outcome.
    if (run.attached > 0 && this.runs.get(key) === run) this.runs.delete(key);
  }

  private end(key: string, run: Run, reason: unknown): void {
    if (this.runs.get(key) === run) this.runs.delete(key);
    if (!run.settled) run.controller.abort(reason);
  }
}

interface Run {
  controller: AbortController;
  outcome: Promise<unknown>;
  /** Actors waiting for the outcome. */
  attached: number;
  settled: boolean;
}
