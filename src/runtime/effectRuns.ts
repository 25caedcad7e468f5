/**
 * The durable effects whose code runs in this process for one execution, by idempotency key,
 * so that an in-process restore does not run an effect's code a second time.
 *
 * Two things restore an execution's actor in the process that runs it: a `send` refused because
 * its transition cannot be committed (the actor goes back to its last committed snapshot), and
 * the supervisor's restart after a crash. Either way XState starts the effects invoked in that
 * snapshot again, with the same keys. Without this table the code of an effect in flight (a
 * model call, a payment) would run again beside, or after the abort of, the run already under
 * way. With it the new actor joins that run and gets its outcome.
 *
 * A run's code sees a signal of the run's own, not XState's (which the restore aborts). It is
 * aborted when a committed transition no longer has the invocation (the machine left the state:
 * {@link EffectRuns.release}), when a restore lands in a state without it
 * ({@link EffectRuns.keepOnly}), and when the execution ends or leaves this process
 * ({@link EffectRuns.abortAll}). Tying the abort to commits rather than to XState's stop keeps
 * "commit before effect": a transition that is refused does not abort anything.
 *
 * @example
 * ```ts
 * const runs = new EffectRuns();
 * const output = await runs.join(key, (signal) => callTheModel({ signal }));
 * ```
 */
export class EffectRuns {
  private readonly runs = new Map<string, Run>();

  /** The outcome of the run of `key`: the one in flight here, or a new one started with `start(signal)`. */
  join(key: string, start: (signal: AbortSignal) => Promise<unknown>): Promise<unknown> {
    const known = this.runs.get(key);
    if (known) return known.outcome;
    const controller = new AbortController();
    const run: Run = { controller, settled: false, outcome: start(controller.signal) };
    // Observed here too, so an aborted run nobody waits for is not an unhandled rejection. A
    // settled run stays until a committed transition no longer has it (release), a restore lands
    // without it (keepOnly) or the execution ends (abortAll): a restored actor that read its
    // ticket before the outcome was recorded joins it, whatever the order of the store's promises.
    const settle = (): void => {
      run.settled = true;
    };
    run.outcome.then(settle, settle);
    this.runs.set(key, run);
    return run.outcome;
  }

  /** Ends the run of `key` (aborting it if unsettled): a committed transition no longer has it. */
  release(key: string, reason: unknown): void {
    const run = this.runs.get(key);
    if (run) this.end(key, run, reason);
  }

  /** After a restore: ends the runs the restored state does not have (`has(key)` false). */
  keepOnly(has: (key: string) => boolean, reason: unknown): void {
    for (const [key, run] of this.runs) if (!has(key)) this.end(key, run, reason);
  }

  /** Aborts every run: the execution is over, or leaves this process. */
  abortAll(reason: unknown): void {
    this.keepOnly(() => false, reason);
  }

  /** How many runs the table holds, settled ones included (tests). */
  get size(): number {
    return this.runs.size;
  }

  private end(key: string, run: Run, reason: unknown): void {
    if (this.runs.get(key) === run) this.runs.delete(key);
    if (!run.settled) run.controller.abort(reason);
  }
}

interface Run {
  controller: AbortController;
  outcome: Promise<unknown>;
  settled: boolean;
}
