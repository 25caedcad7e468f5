/**
 * Workflow time. The runtime reads the time and arms every timer (delayed events, retry
 * backoffs) through a clock, so tests replace real time with a simulated one instead of
 * sleeping.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /**
   * Told of every write the runtime starts, so a simulated clock can wait for the commits that
   * the timers it fires cause before it moves on. Real clocks leave it out.
   */
  track?(write: Promise<unknown>): void;
}

/** Real time: `Date.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A clock that moves only when told to. */
export interface SimulatedClock extends Clock {
  /** Moves time forward by `ms`, firing every timer that falls due, in due order. */
  advance(ms: number): Promise<void>;
  /** Moves time forward to `at` (epoch ms). */
  advanceTo(at: number): Promise<void>;
  /** Timers armed and not yet fired. */
  pending(): number;
}

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A simulated clock for tests: `advance(ms)` fires due timers in due order (ties in the order
 * they were armed), letting promises settle between them so that work a timer starts can arm
 * further timers that also fall due.
 *
 * @example
 * ```ts
 * const clock = simulatedClock(Date.UTC(2026, 0, 1));
 * const rt = await createRuntime({ clock, machines: [reminder] });
 * await rt.start('reminder');
 * await clock.advance(5_000); // the `after: 5000` transition fires now, no sleeping
 * ```
 */
export function simulatedClock(start = 0): SimulatedClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, Timer>();
  const writes = new Set<Promise<unknown>>();
  const turns = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  const settle = async (): Promise<void> => {
    // A fired timer's transition commits asynchronously, and its effects may write and arm
    // more timers: wait until no write the runtime started is outstanding.
    await turns();
    while (writes.size > 0) {
      await Promise.allSettled([...writes]);
      await turns();
    }
  };
  const clock: SimulatedClock = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { id, at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    pending: () => timers.size,
    track(write) {
      writes.add(write);
      const done = (): void => void writes.delete(write);
      write.then(done, done);
    },
    async advanceTo(at) {
      await settle();
      for (;;) {
        let due: Timer | undefined;
        for (const t of timers.values()) if (t.at <= at && (!due || t.at < due.at || (t.at === due.at && t.id < due.id))) due = t;
        if (!due) break;
        timers.delete(due.id);
        now = Math.max(now, due.at);
        due.fn();
        await settle();
      }
      now = Math.max(now, at);
      await settle();
    },
    advance(ms) {
      return clock.advanceTo(now + ms);
    },
  };
  return clock;
}

/** Resolves after `ms` on `clock`; rejects with the signal's reason if it aborts first. */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
