/**
 * A retry backoff cut by SIGKILL resumes where it stood. A real child process
 * (dist/test/fixtures/effectsWorker.js, mode `backoff`) runs one durable effect, `call`, that
 * fails on attempts 1 and 2 and succeeds on attempt 3; the worker runs on a simulated clock whose
 * start time the test chooses for every process, and moves it on command (`ADVANCE`), so the
 * test decides exactly when "now" is in each process without sleeping.
 *
 * Each process is SIGKILLed while the effect waits out its backoff (the failed attempt recorded
 * as `pending` with its `retryAt`), and the next one is started at a random time before or
 * after that `retryAt`. The next attempt must be attempt n+1 (never attempt 1 again), with the
 * same key, begun exactly at the recorded `retryAt` (or at once when the new process starts past
 * it), not after a backoff recomputed from scratch; the record is left as it was by recovery;
 * the final output equals an unkilled run's. Two kinds of failure: RetryableError with
 * `retryAfter` (the delay is exact), and a plain Error backed off by the effect's own policy
 * (`withRetry`, ±50% jitter: a recomputed delay would differ from the recorded one).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createRuntime, lmdbStore, type EffectInfo, type EffectRecord, type Json } from '../src/index.js';
import { Child, prng, crashSuite, type RunDir } from './fixtures/crashChild.js';
import { BACKOFF_FAILURES, BACKOFF_POLICY, backoffMachine, RETRY_AFTER_MS, type BackoffKind } from './fixtures/effectsMachines.js';

const SEED = Number(process.env.CRASH_SEED ?? 20250312);
const RUNS = 6;
const T0 = Date.UTC(2030, 0, 1);

const suite = crashSuite('effectsWorker', 'durastate-backoff-crash-');
const newRunDir = (): RunDir => suite.runDir();

interface WorkerState {
  status: string;
  value: Json;
  seq: number;
  effects: EffectRecord[];
  now: number;
  /** Timers armed on the worker's simulated clock. */
  timers: number;
}

/** One backoff worker process and its line protocol. */
class Worker {
  readonly child: Child;
  now = 0;
  private constructor(child: Child) {
    this.child = child;
  }

  static async start(run: { db: string; log: string }, clockStart: number, id: string, kind: BackoffKind): Promise<Worker> {
    const worker = new Worker(new Child(suite.worker(), ['backoff', run.db, run.log, String(clockStart), id, kind]));
    const ready = await worker.child.waitForLine((l) => l.startsWith('READY '), 'READY');
    worker.now = Number(ready.slice('READY '.length));
    expect(worker.now, 'the simulated clock starts where the test said').toBe(clockStart);
    return worker;
  }

  /** Sends a command; resolves with the first line starting with `answer` printed after it. */
  private async ask(command: string, answer: string): Promise<string> {
    const from = this.child.lines.length;
    this.child.send(command);
    return this.child.waitForLine((l) => l.startsWith(answer) && this.child.lines.indexOf(l, from) >= from, `${answer} after ${command}`);
  }

  async state(): Promise<WorkerState> {
    const line = await this.ask('STATE', 'STATE ');
    return JSON.parse(line.slice('STATE '.length)) as WorkerState;
  }

  async advance(ms: number): Promise<void> {
    const line = await this.ask(`ADVANCE ${ms}`, 'ADVANCED ');
    this.now = Number(line.slice('ADVANCED '.length));
  }

  /** The attempts this process began: `RUN <key> <attempt> <now>`. */
  runs(): Array<{ key: string; attempt: number; at: number }> {
    return this.child.lines
      .filter((l) => l.startsWith('RUN '))
      .map((l) => {
        const [, key, attempt, at] = l.split(' ') as [string, string, string, string];
        return { key, attempt: Number(attempt), at: Number(at) };
      });
  }

  /** Polls until the effect's record satisfies `done` (the worker commits it asynchronously). */
  async record(done: (r: EffectRecord | undefined) => boolean, what: string): Promise<EffectRecord | undefined> {
    for (let polls = 0; polls < 2000; polls++) {
      const state = await this.state();
      const record = state.effects[0];
      expect(state.effects.length, 'one effect').toBeLessThanOrEqual(1);
      if (done(record)) return record;
      await sleep(2);
    }
    throw new Error(`the effect never got to ${what}: ${JSON.stringify(await this.state())}; stderr: ${this.child.stderr}`);
  }

  /**
   * Waits until the effect's backoff timer is armed on the simulated clock. The record becomes
   * visible (committed) before the runtime gets the flush and arms the timer; moving the clock
   * in between would leave the timer behind.
   */
  async armed(): Promise<void> {
    for (let polls = 0; polls < 2000; polls++) {
      if ((await this.state()).timers > 0) return;
      await sleep(2);
    }
    throw new Error(`no backoff timer armed: ${JSON.stringify(await this.state())}`);
  }

  async kill(): Promise<void> {
    expect((await this.child.kill()).signal).toBe('SIGKILL');
  }
}

/** The `start`/`end` lines of the side-effect log, with the process (boot) each came from. */
function readLog(path: string): Array<{ what: 'start' | 'end'; key: string; attempt: number; rest: string[]; proc: number }> {
  const out: Array<{ what: 'start' | 'end'; key: string; attempt: number; rest: string[]; proc: number }> = [];
  let proc = -1;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const [what, key, attempt, ...rest] = line.split(' ') as [string, string, string, ...string[]];
    if (what === 'boot') {
      proc++;
      continue;
    }
    if (what !== 'start' && what !== 'end') throw new Error(`malformed log line ${line}`);
    out.push({ what, key, attempt: Number(attempt), rest, proc });
  }
  return out;
}

/** The retry time a failed attempt may have recorded at `failedAt`. */
function expectRetryAt(record: EffectRecord, kind: BackoffKind, failedAt: number, where: string): void {
  expect(record.status, where).toBe('pending');
  const delay = record.retryAt! - failedAt;
  if (kind === 'retryAfter') {
    expect(delay, `${where}: RetryableError retryAfter`).toBe(RETRY_AFTER_MS);
    expect(record.error?.name, where).toBe('RetryableError');
  } else {
    const base = BACKOFF_POLICY.initialDelay * BACKOFF_POLICY.factor ** (record.attempts - 1);
    expect(delay, `${where}: policy backoff after attempt ${record.attempts}`).toBeGreaterThanOrEqual(base * (1 - BACKOFF_POLICY.jitter));
    expect(delay, `${where}: policy backoff after attempt ${record.attempts}`).toBeLessThanOrEqual(base * (1 + BACKOFF_POLICY.jitter));
    expect(record.error?.message, where).toBe('503 service unavailable');
  }
}

async function storeRecord(path: string, id: string): Promise<{ record: EffectRecord | undefined; status: string | undefined }> {
  const store = lmdbStore({ path });
  await store.open();
  try {
    const [record, ...more] = await store.listEffects(id);
    expect(more).toEqual([]);
    return { record, status: (await store.getMeta(id))?.status };
  } finally {
    await store.close();
  }
}

async function readFinal(path: string, id: string): Promise<{ output: Json | undefined; history: string[]; record: EffectInfo | undefined }> {
  const rt = await createRuntime({ store: lmdbStore({ path }), machines: [backoffMachine], recover: false });
  try {
    const info = await rt.get(id);
    expect(info?.status).toBe('completed');
    const history = await rt.history(id);
    expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i));
    return { output: await rt.wait(id), history: history.map((h) => (h.event as { type: string }).type), record: info!.effects[0] };
  } finally {
    await rt.close();
  }
}

describe('a backoff cut by SIGKILL', () => {
  it('resumes at the recorded retryAt with the next attempt and the same key, whenever the next process starts', async () => {
    // The unkilled run, one process from start to end.
    const controlRun = newRunDir();
    const control = await Worker.start(controlRun, T0, 'bo-control', 'policy');
    for (let attempt = 1; attempt <= BACKOFF_FAILURES; attempt++) {
      const record = await control.record((r) => r?.attempts === attempt, `attempt ${attempt} failed`);
      await control.armed();
      await control.advance(record!.retryAt! - control.now);
    }
    await control.child.waitForLine((l) => l.startsWith('COMPLETED '), 'COMPLETED');
    control.child.proc.stdin!.end();
    expect(await control.child.closed).toEqual({ code: 0, signal: null });
    const unkilled = await readFinal(controlRun.db, 'bo-control');
    expect(unkilled.output).toEqual({ result: `paid:${BACKOFF_FAILURES + 1}` });
    expect(unkilled.record).toMatchObject({ status: 'done', attempts: BACKOFF_FAILURES + 1 });

    const rand = prng(SEED);
    let kills = 0;
    let restartsBeforeDue = 0;
    let restartsPastDue = 0;
    for (let run = 0; run < RUNS; run++) {
      const kind: BackoffKind = run % 2 === 0 ? 'retryAfter' : 'policy';
      const id = `bo-${run}`;
      const dir = newRunDir();
      const key = `${id}/call@0`;
      const where = (s: string) => `seed ${SEED}, run ${run} (${kind}): ${s}`;

      // Process 1: attempt 1 fails at T0; its backoff starts; part of it elapses; SIGKILL.
      let worker = await Worker.start(dir, T0, id, kind);
      let record = (await worker.record((r) => r?.attempts === 1, 'attempt 1 failed'))!;
      expect(record, where('after attempt 1')).toMatchObject({ key, attempts: 1 });
      expectRetryAt(record, kind, T0, where('attempt 1'));
      expect(worker.runs(), where('process 1')).toEqual([{ key, attempt: 1, at: T0 }]);
      let startedAt = T0;

      for (let attempt = 2; attempt <= BACKOFF_FAILURES + 1; attempt++) {
        // Part of the backoff elapses in the process that is about to die.
        await worker.armed();
        const wait = record.retryAt! - worker.now;
        const part = Math.floor(rand() * wait);
        if (part > 0) await worker.advance(part);
        expect((await worker.state()).effects, where(`attempt ${attempt} not due yet`)).toEqual([record]);
        expect(worker.runs().filter((r) => r.attempt === attempt), where(`attempt ${attempt} before its time`)).toEqual([]);
        await worker.kill();
        kills++;
        expect(await storeRecord(dir.db, id), where(`store after the kill before attempt ${attempt}`)).toEqual({ record, status: 'running' });

        // Sometimes a process dies before the backoff is over, again: the record still rules.
        const restarts = rand() < 0.4 ? 2 : 1;
        for (let r = 1; r <= restarts; r++) {
          const beforeDue = r < restarts || rand() < 0.5;
          // Time goes on between processes: a new one starts between the last one's time and
          // the retry time, or at / after the retry time.
          const clockStart = beforeDue ? worker.now + Math.floor(rand() * (record.retryAt! - worker.now)) : record.retryAt! + Math.floor(rand() * 100_000);
          worker = await Worker.start(dir, clockStart, id, kind);
          // Recovery leaves the record as it was and does not run the effect before its time.
          const state = await worker.state();
          expect(state.status, where(`restarted at ${clockStart}`)).toBe('running');
          expect(state.effects, where(`record after recovery at ${clockStart}`)).toEqual([record]);
          expect(worker.runs(), where(`restarted at ${clockStart}, nothing ran before the clock moved`)).toEqual([]);
          if (r < restarts) {
            await worker.kill();
            kills++;
            continue;
          }
          await worker.armed();
          if (beforeDue) {
            restartsBeforeDue++;
            await worker.advance(record.retryAt! - clockStart - 1);
            expect((await worker.state()).effects, where(`attempt ${attempt}, 1 ms before retryAt`)).toEqual([record]);
            expect(worker.runs(), where(`attempt ${attempt}, 1 ms before retryAt`)).toEqual([]);
            await worker.advance(1);
          } else {
            restartsPastDue++;
            await worker.advance(0); // already due: fires at once
          }
          // The attempt begins as the timer fires (before ADVANCED is printed); the wait is a margin.
          await worker.child.waitForLine((l) => l.startsWith('RUN '), `attempt ${attempt}`, 5_000).catch(() => undefined);
          startedAt = Math.max(record.retryAt!, clockStart);
          // The next attempt, not attempt 1 again; the same key; at the recorded time.
          expect(worker.runs()[0], where(`first attempt after the restart`)).toEqual({ key, attempt, at: startedAt });
        }
        if (attempt <= BACKOFF_FAILURES) {
          record = (await worker.record((r) => r?.attempts === attempt, `attempt ${attempt} failed`))!;
          expect(record, where(`after attempt ${attempt}`)).toMatchObject({ key, status: 'pending', attempts: attempt });
          expectRetryAt(record, kind, startedAt, where(`attempt ${attempt}`));
        }
      }
      await worker.child.waitForLine((l) => l.startsWith('COMPLETED '), 'COMPLETED');
      worker.child.proc.stdin!.end();
      expect(await worker.child.closed, where('last process closes cleanly')).toEqual({ code: 0, signal: null });

      // The side-effect log: attempts 1, 2, 3, once each, one key, each in a later process.
      const log = readLog(dir.log);
      const starts = log.filter((l) => l.what === 'start');
      expect(starts.map((s) => [s.key, s.attempt]), where('attempts in the log')).toEqual([
        [key, 1],
        [key, 2],
        [key, 3],
      ]);
      expect(starts[1]!.proc, where('attempt 2 ran in a later process')).toBeGreaterThan(starts[0]!.proc);
      expect(starts[2]!.proc, where('attempt 3 ran in a later process')).toBeGreaterThan(starts[1]!.proc);
      expect(log.filter((l) => l.what === 'end').map((e) => [e.attempt, e.rest[0]]), where('outcomes')).toEqual([
        [1, 'fail'],
        [2, 'fail'],
        [3, 'ok'],
      ]);
      const final = await readFinal(dir.db, id);
      expect(final.output, where('output')).toEqual(unkilled.output);
      expect(final.record, where('final record')).toEqual({ key, status: 'done', attempts: BACKOFF_FAILURES + 1, output: `paid:${BACKOFF_FAILURES + 1}` });
      expect(final.history.filter((t) => t !== 'durastate.restore'), where('history')).toEqual(unkilled.history);
    }
    if (process.env.CRASH_DEBUG) console.log(`backoff crash test: ${kills} kills during a backoff, restarts before due ${restartsBeforeDue}, past due ${restartsPastDue}`);
    expect(kills).toBeGreaterThanOrEqual(RUNS * BACKOFF_FAILURES);
  }, 120_000);
});
