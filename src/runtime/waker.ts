import type { DueTimer, Store } from '../store/Store.js';
import type { Clock } from './clock.js';

/** Longest a wake timer is armed for: real timers overflow past 2^31 ms, and the store may change meanwhile. */
const MAX_SLEEP_MS = 3_600_000;
/** Executions woken per batch (one claim transaction). */
const BATCH = 256;
/** Timer rows read per page of the table. */
const SCAN = 2_048;
/** Pages of due rows read per pass, at most, looking past rows of executions it may not wake (see `pass`). */
const MAX_PAGES = 64;
/** How soon to look again when every due timer belongs to an execution being woken. */
const RETRY_MS = 20;
/** How long an execution refused a wake (another's, blocked) is passed over before it is asked again (real ms). */
const REFUSED_MS = 10_000;

/**
 * Wakes executions that are not in memory (passivated, or interrupted and not yet recovered)
 * when one of their timers falls due, found through the store's timers table without loading
 * any actor. One clock timer at a time is armed, for the earliest due timer of an execution not
 * hosted here, so memory does not grow with the number of sleeping executions.
 */
export class Waker {
  private handle: unknown;
  private armedFor = Infinity;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  /** Where the scan of due rows goes on: the last row a pass examined (see `pass`). */
  private resumeAfter?: DueTimer;
  /** Executions refused a wake, until when they are passed over: their rows must not hide others'. */
  private readonly refused = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** Whether the execution is in memory here (its own timers are armed in its actor). */
    private readonly hosted: (id: string) => boolean,
    /** Loads the executions (restoring one fires its due timers): how many it loaded, which are not its to wake. */
    private readonly wake: (ids: string[]) => Promise<{ loaded: number; refused: string[] }>,
  ) {}

  /**
   * Looks at the timers table again: wakes the executions with due timers, and arms the clock
   * for the next one. Calls made while one runs are coalesced into one more run. The runtime
   * also calls it every second, for timers the table got from elsewhere (another process that
   * died, a wake that was refused and is due again).
   */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    this.running = run;
    // A simulated clock waits for this before it moves on, like for a write.
    this.clock.track?.(run);
    return run;
  }

  /** An execution left memory with a timer due at `dueAt`: make sure the clock is armed for it. */
  sleeping(dueAt: number): void {
    if (dueAt < this.armedFor) void this.check();
  }

  stop(): void {
    this.stopped = true;
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
  }

  private async pass(): Promise<void> {
    const now = this.clock.now();
    const real = Date.now();
    for (const [id, until] of this.refused) if (until <= real) this.refused.delete(id);
    // Rows of executions woken a moment ago stay until their transitions commit, and rows of
    // executions refused stay for good: read past them, page after page, so that no number of
    // them hides a due sleeper. A pass reads at most MAX_PAGES; the next one goes on from the
    // last row it examined, and the scan starts again from the earliest once it reached the end.
    const ids: string[] = [];
    let anyHosted = false;
    let cursor = this.resumeAfter;
    let end = false;
    for (let pages = 0; !end && ids.length < BATCH && pages < MAX_PAGES; pages++) {
      const page = await this.store.dueTimers(now, SCAN, 0, cursor);
      let examined = 0;
      for (; examined < page.length && ids.length < BATCH; examined++) {
        const t = page[examined] as DueTimer;
        if (this.hosted(t.id)) anyHosted = true;
        else if (!this.refused.has(t.id) && !ids.includes(t.id)) ids.push(t.id);
      }
      if (examined > 0) cursor = page[examined - 1];
      if (examined === page.length && page.length < SCAN) end = true;
    }
    this.resumeAfter = end ? undefined : cursor;
    const more = !end;
    const { loaded, refused } = ids.length ? await this.wake(ids).catch(() => ({ loaded: 0, refused: [] as string[] })) : { loaded: 0, refused: [] as string[] };
    for (const id of refused) this.refused.set(id, real + REFUSED_MS);
    if (this.stopped) return;
    if ((loaded > 0 || refused.length > 0) && more) {
      // More may be due: look again at once.
      this.again = true;
      return;
    }
    if (loaded === 0 && ids.length === 0 && anyHosted) {
      // Everything due is being woken: look again once those commits are in.
      setTimeout(() => void this.check(), RETRY_MS).unref();
    }
    // The earliest timer still ahead of an execution not hosted here (those due now and being
    // woken may still be in the table until their transitions commit: look past them).
    let next = Infinity;
    const ahead = await this.store.dueTimers(Number.MAX_SAFE_INTEGER, SCAN, now + 1);
    for (const t of ahead) {
      if (!this.hosted(t.id) && !this.refused.has(t.id)) {
        next = t.dueAt;
        break;
      }
    }
    // A full page of timers of executions in memory here: look again when the last of them is due.
    if (next === Infinity && ahead.length === SCAN) next = (ahead[ahead.length - 1] as { dueAt: number }).dueAt;
    this.arm(next);
  }

  private arm(at: number): void {
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.armedFor = at;
    if (at === Infinity || this.stopped) return;
    const ms = Math.min(MAX_SLEEP_MS, Math.max(0, at - this.clock.now()));
    this.handle = this.clock.setTimeout(() => {
      this.handle = undefined;
      this.armedFor = Infinity;
      void this.check();
    }, ms);
  }
}
