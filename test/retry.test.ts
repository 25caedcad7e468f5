/**
 * Durable effects and their retries, in process, on a real LMDB store in a temporary folder and a
 * simulated clock. Every time asserted is the simulated clock's (`clock.now()` read inside the
 * effect, the journal's entry times), never real time.
 *
 * Failure classes: an unknown error and a bare `RetryableError` back off exponentially (jitter
 * 0 here, so the delays are exact), a `RetryableError` with `retryAfter` waits exactly that, a
 * `TerminalError` is not retried. When attempts run out the error reaches the invoke's
 * `onError` (or fails the execution when there is none) and is recorded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup, type AnyStateMachine } from 'xstate';
import {
  createRuntime,
  ExecutionCancelledError,
  ExecutionFailedError,
  lmdbStore,
  RetryableError,
  simulatedClock,
  TerminalError,
  withRetry,
  type EffectContext,
  type RetryPolicy,
  type Runtime,
  type SimulatedClock,
} from '../src/index.js';
import { DEFAULT_RETRY_POLICY, retryDecision } from '../src/runtime/retry.js';
import { committed } from './fixtures/timerSettle.js';
import { tempDir } from './helpers.js';

const T0 = Date.UTC(2026, 0, 1);
const s = (seconds: number): number => T0 + seconds * 1000;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function storePath(): string {
  const dir = tempDir('durastate-retry-');
  cleanups.push(dir.remove);
  return dir.path;
}

async function open(path: string, clock: SimulatedClock, machines: AnyStateMachine[], retry?: Partial<RetryPolicy>): Promise<Runtime> {
  const rt = await createRuntime({ store: lmdbStore({ path }), machines, clock, ...(retry ? { retry } : {}) });
  cleanups.push(() => rt.close());
  return rt;
}

/**
 * Waits (real time, polling) until `done()` holds: for work that runs on its own after a commit,
 * such as an effect attempt and the backoff it arms. A bail-out, not a measurement.
 */
async function until(done: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** One run of an effect's code, as the effect saw it. */
interface Call {
  key: string;
  attempt: number;
  /** `clock.now()` when the attempt began. */
  at: number;
}

/** The context a durable effect's code receives, typed. */
type EffectArgs<I> = { input: I; signal: AbortSignal } & EffectContext;

/**
 * Effect code that records every attempt and fails the first `failures` attempts with
 * `error(attempt)`; `failures: Infinity` never succeeds.
 */
function scripted(calls: Call[], clock: () => SimulatedClock, failures: number, error: (attempt: number) => unknown) {
  return fromPromise(async (args: { input: unknown }) => {
    const { key, attempt } = args as unknown as EffectArgs<unknown>;
    calls.push({ key, attempt, at: clock().now() });
    if (attempt <= failures) throw error(attempt);
    return `ok on attempt ${attempt}`;
  });
}

/**
 * `working` invokes `work`; its success ends in `done`, its final error is kept in context and
 * leads to `compensating`, which runs the `compensate` effect and ends in `compensated`.
 */
function compensatingWorkflow(id: string, work: ReturnType<typeof scripted>, compensations: string[]) {
  return setup({
    types: { context: {} as { result?: string; error?: string; errorName?: string; refund?: string } },
    actors: {
      work,
      compensate: fromPromise(async ({ input }: { input: { error: string } }) => {
        compensations.push(input.error);
        return 'refunded';
      }),
    },
  }).createMachine({
    id,
    context: {},
    initial: 'working',
    states: {
      working: {
        invoke: {
          src: 'work',
          onDone: { target: 'done', actions: assign({ result: ({ event }) => event.output as string }) },
          onError: {
            target: 'compensating',
            actions: assign({
              error: ({ event }) => (event.error as Error).message,
              errorName: ({ event }) => (event.error as Error).name,
            }),
          },
        },
      },
      compensating: {
        invoke: {
          src: 'compensate',
          input: ({ context }) => ({ error: context.error ?? '' }),
          onDone: { target: 'compensated', actions: assign({ refund: ({ event }) => event.output }) },
        },
      },
      done: { type: 'final' },
      compensated: { type: 'final' },
    },
    output: ({ context }) => context,
  });
}

/**
 * `withRetry(logic, policy)`, typed for promise logic with a typed output. withRetry's own
 * signature (`T extends PromiseActorLogic<unknown, never>`) rejects such logic at compile time
 * (see the report); it sets the policy on the object it is given and returns that object.
 */
function ownPolicy<T extends object>(logic: T, policy: Partial<RetryPolicy>): T {
  withRetry(logic as never, policy);
  return logic;
}

const exact: Partial<RetryPolicy> = { attempts: 3, initialDelay: 1000, factor: 2, maxDelay: 60_000, jitter: 0 };

describe('retries of durable effects, by failure class', () => {
  it('an unknown Error is retried with exponential backoff: attempts at +0, +1000, +3000, same key', async () => {
    const calls: Call[] = [];
    const clock = simulatedClock(s(0));
    const machine = compensatingWorkflow('unknown', scripted(calls, () => clock, 2, (n) => new Error(`boom ${n}`)), []);
    const rt = await open(storePath(), clock, [machine], exact);
    const { id } = await rt.start('unknown');

    // Attempt 1 fails; its failure is committed with the time of the next attempt, armed on the clock.
    await until(() => calls.length === 1 && clock.pending() === 1, 'attempt 1 and its backoff');
    const afterFirst = await rt.get(id);
    expect(afterFirst).toMatchObject({ status: 'running', value: 'working' });
    expect(afterFirst?.effects).toEqual([{ key: calls[0]!.key, status: 'pending', attempts: 1, retryAt: s(1), error: expect.objectContaining({ name: 'Error', message: 'boom 1' }) }]);

    await clock.advance(999);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    await until(() => calls.length === 2 && clock.pending() === 1, 'attempt 2 and its backoff');
    expect((await rt.get(id))?.effects).toMatchObject([{ status: 'pending', attempts: 2, retryAt: s(3), error: { message: 'boom 2' } }]);

    await clock.advance(1999);
    expect(calls).toHaveLength(2);
    await clock.advance(1);
    expect(await rt.wait(id)).toEqual({ result: 'ok on attempt 3' });

    expect(calls.map((c) => [c.attempt, c.at])).toEqual([
      [1, s(0)],
      [2, s(1)],
      [3, s(3)],
    ]);
    expect(new Set(calls.map((c) => c.key)).size).toBe(1);
    expect(calls[0]!.key).toEqual(expect.any(String));
    expect((await rt.get(id))?.effects).toMatchObject([{ key: calls[0]!.key, status: 'done', attempts: 3, output: 'ok on attempt 3' }]);
    // The result was delivered at the simulated time of the attempt that produced it.
    const history = await rt.history(id);
    expect(history.map((h) => [h.value, h.at.getTime()])).toEqual([
      ['working', s(0)],
      ['done', s(3)],
    ]);
  });

  it('a RetryableError with retryAfter waits exactly that long, whatever the backoff and jitter say', async () => {
    const calls: Call[] = [];
    const clock = simulatedClock(s(0));
    const machine = compensatingWorkflow('after', scripted(calls, () => clock, 1, () => new RetryableError('rate limited', { retryAfter: 2500 })), []);
    // The runtime default: 1 s initial delay with ±20% jitter; retryAfter overrides both.
    const rt = await open(storePath(), clock, [machine]);
    const { id } = await rt.start('after');
    await until(() => calls.length === 1 && clock.pending() === 1, 'attempt 1 and its wait');
    expect((await rt.get(id))?.effects).toMatchObject([{ status: 'pending', attempts: 1, retryAt: s(2.5), error: { name: 'RetryableError', message: 'rate limited' } }]);
    await clock.advance(2499);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(await rt.wait(id)).toEqual({ result: 'ok on attempt 2' });
    expect(calls.map((c) => [c.attempt, c.at])).toEqual([
      [1, s(0)],
      [2, s(2.5)],
    ]);
  });

  it('a bare RetryableError backs off like an unknown error', async () => {
    const calls: Call[] = [];
    const clock = simulatedClock(s(0));
    const machine = compensatingWorkflow('bare', scripted(calls, () => clock, 1, () => new RetryableError('try again')), []);
    const rt = await open(storePath(), clock, [machine], exact);
    const { id } = await rt.start('bare');
    await until(() => calls.length === 1 && clock.pending() === 1, 'attempt 1 and its backoff');
    await clock.advance(1000);
    expect(await rt.wait(id)).toEqual({ result: 'ok on attempt 2' });
    expect(calls.map((c) => c.at)).toEqual([s(0), s(1)]);
  });

  it('a TerminalError is not retried: it reaches onError at once and the machine compensates', async () => {
    const calls: Call[] = [];
    const compensations: string[] = [];
    const clock = simulatedClock(s(0));
    const machine = compensatingWorkflow('terminal', scripted(calls, () => clock, Infinity, () => new TerminalError('card declined')), compensations);
    const rt = await open(storePath(), clock, [machine], exact);
    const { id } = await rt.start('terminal');
    expect(await rt.wait(id)).toEqual({ error: 'card declined', errorName: 'TerminalError', refund: 'refunded' });
    expect(calls.map((c) => [c.attempt, c.at])).toEqual([[1, s(0)]]);
    expect(clock.pending()).toBe(0); // no backoff was armed
    expect(compensations).toEqual(['card declined']);
    const effects = (await rt.get(id))?.effects ?? [];
    expect(effects.find((e) => e.key === calls[0]!.key)).toMatchObject({ status: 'failed', attempts: 1, error: { name: 'TerminalError', message: 'card declined' } });
    expect(effects.map((e) => e.status).sort()).toEqual(['done', 'failed']);
    expect((await rt.history(id)).map((h) => h.value)).toEqual(['working', 'compensating', 'compensated']);
    // Nothing more happens later.
    await clock.advance(600_000);
    expect(calls).toHaveLength(1);
  });

  it('attempts exhausted: onError gets the last error, the effect is recorded failed with attempts = policy.attempts', async () => {
    const calls: Call[] = [];
    const compensations: string[] = [];
    const clock = simulatedClock(s(0));
    const machine = compensatingWorkflow('exhausted', scripted(calls, () => clock, Infinity, (n) => new Error(`boom ${n}`)), compensations);
    const rt = await open(storePath(), clock, [machine], exact);
    const { id } = await rt.start('exhausted');
    await until(() => calls.length === 1 && clock.pending() === 1, 'attempt 1');
    await clock.advance(1000);
    await until(() => calls.length === 2 && clock.pending() === 1, 'attempt 2');
    await clock.advance(2000);
    expect(await rt.wait(id)).toEqual({ error: 'boom 3', errorName: 'Error', refund: 'refunded' });
    expect(calls.map((c) => [c.attempt, c.at])).toEqual([
      [1, s(0)],
      [2, s(1)],
      [3, s(3)],
    ]);
    expect(new Set(calls.map((c) => c.key)).size).toBe(1);
    const record = (await rt.get(id))?.effects.find((e) => e.key === calls[0]!.key);
    expect(record).toMatchObject({ status: 'failed', attempts: exact.attempts, error: { name: 'Error', message: 'boom 3' } });
    expect(compensations).toEqual(['boom 3']);
    const history = await rt.history(id);
    expect(history.map((h) => [h.value, h.at.getTime()])).toEqual([
      ['working', s(0)],
      ['compensating', s(3)],
      ['compensated', s(3)],
    ]);
  });

  it('an effect without onError that fails finally fails the execution; wait rejects with ExecutionFailedError', async () => {
    const calls: Call[] = [];
    const clock = simulatedClock(s(0));
    const machine = setup({
      actors: { work: scripted(calls, () => clock, Infinity, (n) => new Error(`boom ${n}`)) },
    }).createMachine({
      id: 'unhandled',
      initial: 'working',
      states: { working: { invoke: { src: 'work', onDone: 'done' } }, done: { type: 'final' } },
    });
    const rt = await open(storePath(), clock, [machine], { ...exact, attempts: 2, initialDelay: 100 });
    const { id } = await rt.start('unhandled');
    await until(() => calls.length === 1 && clock.pending() === 1, 'attempt 1');
    await clock.advance(100);
    const err = await rt.wait(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionFailedError);
    expect((err as ExecutionFailedError).record).toMatchObject({ name: 'Error', message: 'boom 2' });
    const info = await rt.get(id);
    expect(info).toMatchObject({ status: 'failed', error: { message: 'boom 2' } });
    expect(info?.effects).toMatchObject([{ key: calls[0]!.key, status: 'failed', attempts: 2 }]);
    expect(calls.map((c) => [c.attempt, c.at])).toEqual([
      [1, s(0)],
      [2, s(0.1)],
    ]);
  });

  it('withRetry gives one effect its own policy over the runtime default; the others keep the default', async () => {
    const strictCalls: Call[] = [];
    const lenientCalls: Call[] = [];
    const clock = simulatedClock(s(0));
    const machine = setup({
      actors: {
        strict: ownPolicy(scripted(strictCalls, () => clock, Infinity, () => new Error('strict fails')), { attempts: 2, initialDelay: 200 }),
        lenient: scripted(lenientCalls, () => clock, 3, () => new Error('lenient fails')),
      },
    }).createMachine({
      id: 'policies',
      initial: 'strict',
      states: {
        strict: { invoke: { src: 'strict', onDone: 'lenient', onError: 'lenient' } },
        lenient: { invoke: { src: 'lenient', onDone: 'done' } },
        done: { type: 'final' },
      },
    });
    // Default: 5 attempts, 1 s, ×2, no jitter. The strict effect has 2 attempts, 200 ms apart.
    const rt = await open(storePath(), clock, [machine], { ...exact, attempts: 5 });
    const { id } = await rt.start('policies');
    await until(() => strictCalls.length === 1 && clock.pending() === 1, 'strict attempt 1');
    await clock.advance(200);
    await until(() => lenientCalls.length === 1 && clock.pending() === 1, 'lenient attempt 1');
    expect(strictCalls.map((c) => [c.attempt, c.at])).toEqual([
      [1, s(0)],
      [2, s(0.2)],
    ]);
    expect((await rt.get(id))?.effects.find((e) => e.key === strictCalls[0]!.key)).toMatchObject({ status: 'failed', attempts: 2 });
    await clock.advance(1000);
    await until(() => lenientCalls.length === 2 && clock.pending() === 1, 'lenient attempt 2');
    await clock.advance(2000);
    await until(() => lenientCalls.length === 3 && clock.pending() === 1, 'lenient attempt 3');
    await clock.advance(4000);
    await rt.wait(id);
    expect(lenientCalls.map((c) => [c.attempt, c.at])).toEqual([
      [1, s(0.2)],
      [2, s(1.2)],
      [3, s(3.2)],
      [4, s(7.2)],
    ]);
  });
});

describe('commit before effect, cancellation, restart', () => {
  it('effect code starts only once the transition that invoked it is committed', async () => {
    const clock = simulatedClock(s(0));
    const seen: Array<{ seq?: number; value?: unknown; status?: string; last?: string; effects?: string[] }> = [];
    let rt: Runtime | undefined;
    const machine = setup({
      types: { context: {} as { id: string }, input: {} as { id: string } },
      actors: {
        look: fromPromise(async ({ input }: { input: { id: string } }) => {
          // Read back from the store, as another process would see it.
          const info = await rt!.get(input.id);
          const history = await rt!.history(input.id);
          seen.push({ seq: info?.seq, value: info?.value, status: info?.status, last: (history.at(-1)?.event as { type: string } | undefined)?.type, effects: info?.effects.map((e) => `${e.status} ${e.attempts}`) });
          return info?.seq ?? -1;
        }),
      },
    }).createMachine({
      id: 'commitFirst',
      initial: 'first',
      context: ({ input }) => ({ id: input.id }),
      states: {
        // Invoked by transition 0 (start) ...
        first: { invoke: { src: 'look', input: ({ context }) => ({ id: context.id }), onDone: 'idle' } },
        idle: { on: { GO: 'second' } },
        // ... and by a transition caused by an external event.
        second: { invoke: { src: 'look', input: ({ context }) => ({ id: context.id }), onDone: 'done' } },
        done: { type: 'final' },
      },
    });
    rt = await open(storePath(), clock, [machine]);
    await rt.start('commitFirst', { id: 'cf', input: { id: 'cf' } });
    await until(async () => (await rt!.get('cf'))?.value === 'idle', 'the first effect to finish');
    await rt.send('cf', { type: 'GO' });
    await rt.wait('cf');
    // `get` reports the effect that is running as `running` (it said `pending`, 0 attempts).
    expect(seen).toEqual([
      { seq: 0, value: 'first', status: 'running', last: 'xstate.init', effects: ['running 0'] },
      { seq: 2, value: 'second', status: 'running', last: 'GO', effects: ['done 1', 'running 0'] },
    ]);
  });

  it('rt.cancel aborts an in-flight effect through its signal; nothing is recorded as done', async () => {
    const clock = simulatedClock(s(0));
    const calls: Call[] = [];
    const aborted: unknown[] = [];
    const machine = setup({
      actors: {
        slow: fromPromise(async (args: { input: unknown; signal: AbortSignal }) => {
          const { key, attempt } = args as unknown as EffectArgs<unknown>;
          calls.push({ key, attempt, at: clock.now() });
          return new Promise<string>((resolve, reject) => {
            args.signal.addEventListener('abort', () => {
              aborted.push(args.signal.reason);
              reject(new Error('aborted'));
            });
            // Would finish much later on the simulated clock, if not aborted.
            clock.setTimeout(() => resolve('finished'), 60_000);
          });
        }),
      },
    }).createMachine({
      id: 'slow',
      initial: 'working',
      states: { working: { invoke: { src: 'slow', onDone: 'done', onError: 'failed' } }, done: { type: 'final' }, failed: { type: 'final' } },
    });
    const rt = await open(storePath(), clock, [machine], exact);
    const { id } = await rt.start('slow');
    await until(() => calls.length === 1, 'the effect to start');
    expect(aborted).toEqual([]);
    await rt.cancel(id, 'user gave up');
    expect(aborted).toHaveLength(1);
    await expect(rt.wait(id)).rejects.toBeInstanceOf(ExecutionCancelledError);
    await clock.advance(120_000);
    await committed(rt);
    const info = await rt.get(id);
    expect(info).toMatchObject({ status: 'cancelled', value: 'working' });
    expect(info?.effects.filter((e) => e.status === 'done')).toEqual([]);
    expect(calls).toHaveLength(1);
    expect((await rt.history(id)).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init', 'durastate.cancel']);
  });

  it('rt.cancel during a backoff wait stops the retries', async () => {
    const calls: Call[] = [];
    const clock = simulatedClock(s(0));
    const machine = compensatingWorkflow('cancelBackoff', scripted(calls, () => clock, Infinity, (n) => new Error(`boom ${n}`)), []);
    const rt = await open(storePath(), clock, [machine], exact);
    const { id } = await rt.start('cancelBackoff');
    await until(() => calls.length === 1 && clock.pending() === 1, 'attempt 1 and its backoff');
    await rt.cancel(id);
    expect(clock.pending()).toBe(0); // the backoff timer was cleared by the abort
    await clock.advance(600_000);
    await committed(rt);
    expect(calls).toHaveLength(1);
    const info = await rt.get(id);
    expect(info?.status).toBe('cancelled');
    expect(info?.effects.filter((e) => e.status === 'done' || e.status === 'failed')).toEqual([]);
  });

  it('a backoff interrupted by a restart resumes where it stood: the next attempt number, the same key, the same due time', async () => {
    const calls: Call[] = [];
    let clock = simulatedClock(s(0));
    const machine = compensatingWorkflow('resume', scripted(calls, () => clock, 2, (n) => new Error(`boom ${n}`)), []);
    const path = storePath();
    const rt = await open(path, clock, [machine], exact);
    const { id } = await rt.start('resume');
    await until(() => calls.length === 1 && clock.pending() === 1, 'attempt 1 and its backoff');
    await clock.advance(400);
    await rt.close();

    // The next process starts at 0.6 s: attempt 2 is still due at 1 s.
    clock = simulatedClock(s(0.6));
    const rt2 = await open(path, clock, [machine], exact);
    await until(() => clock.pending() === 1, 'the backoff re-armed');
    await clock.advance(399);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    await until(() => calls.length === 2 && clock.pending() === 1, 'attempt 2 and its backoff');
    await rt2.close();

    // The next one starts at 10 s, after attempt 3 fell due (at 3 s): it runs at once.
    clock = simulatedClock(s(10));
    const rt3 = await open(path, clock, [machine], exact);
    await until(() => clock.pending() === 1, 'the overdue backoff re-armed');
    await clock.advance(0);
    expect(await rt3.wait(id)).toEqual({ result: 'ok on attempt 3' });
    expect(calls.map((c) => [c.attempt, c.at])).toEqual([
      [1, s(0)],
      [2, s(1)],
      [3, s(10)],
    ]);
    expect(new Set(calls.map((c) => c.key)).size).toBe(1);
  });
});

describe('retryDecision (pure)', () => {
  const policy: RetryPolicy = { attempts: 5, initialDelay: 1000, factor: 2, maxDelay: 60_000, jitter: 0 };
  const fixed = (r: number) => () => r;

  it('backs off exponentially from initialDelay by factor, capped at maxDelay', () => {
    expect([1, 2, 3, 4].map((n) => retryDecision(new Error('x'), n, policy))).toEqual([
      { retry: true, delay: 1000 },
      { retry: true, delay: 2000 },
      { retry: true, delay: 4000 },
      { retry: true, delay: 8000 },
    ]);
    expect(retryDecision(new Error('x'), 4, { ...policy, factor: 10, maxDelay: 5000 })).toEqual({ retry: true, delay: 5000 });
    // Thrown non-Errors are unknown errors too.
    expect(retryDecision('a string', 1, policy)).toEqual({ retry: true, delay: 1000 });
    expect(retryDecision(new RetryableError('bare'), 2, policy)).toEqual({ retry: true, delay: 2000 });
  });

  it('spreads each delay by up to ±jitter, from the random source', () => {
    const jittery = { ...policy, jitter: 0.2 };
    expect(retryDecision(new Error('x'), 2, jittery, fixed(0))).toEqual({ retry: true, delay: 1600 });
    expect(retryDecision(new Error('x'), 2, jittery, fixed(0.5))).toEqual({ retry: true, delay: 2000 });
    expect(retryDecision(new Error('x'), 2, jittery, fixed(0.75))).toEqual({ retry: true, delay: 2200 });
    expect(retryDecision(new Error('x'), 2, jittery, fixed(0.999_999))).toEqual({ retry: true, delay: 2400 });
    expect(retryDecision(new Error('x'), 1, { ...jittery, initialDelay: 3 }, fixed(0.6))).toEqual({ retry: true, delay: 3 }); // rounded
  });

  it('waits exactly retryAfter for a RetryableError that gives one (no jitter, no backoff)', () => {
    const jittery = { ...policy, jitter: 0.5 };
    expect(retryDecision(new RetryableError('429', { retryAfter: 2500 }), 3, jittery, fixed(0))).toEqual({ retry: true, delay: 2500 });
    expect(retryDecision(new RetryableError('429', { retryAfter: 0 }), 1, jittery, fixed(1))).toEqual({ retry: true, delay: 0 });
    expect(retryDecision(new RetryableError('429', { retryAfter: -5 }), 1, jittery)).toEqual({ retry: true, delay: 0 });
  });

  it('does not retry a TerminalError, nor anything once the attempts are used up', () => {
    expect(retryDecision(new TerminalError('no'), 1, policy)).toEqual({ retry: false });
    expect(retryDecision(new Error('x'), 5, policy)).toEqual({ retry: false });
    expect(retryDecision(new RetryableError('429', { retryAfter: 10 }), 5, policy)).toEqual({ retry: false });
    expect(retryDecision(new Error('x'), 1, { ...policy, attempts: 1 })).toEqual({ retry: false });
    expect(retryDecision(new Error('x'), 4, policy)).toMatchObject({ retry: true });
  });

  it('the default policy: 3 attempts, 1 s, ×2, ≤ 60 s, ±20%', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({ attempts: 3, initialDelay: 1000, factor: 2, maxDelay: 60_000, jitter: 0.2 });
    expect(retryDecision(new Error('x'), 1, DEFAULT_RETRY_POLICY, fixed(0.5))).toEqual({ retry: true, delay: 1000 });
    expect(retryDecision(new Error('x'), 3, DEFAULT_RETRY_POLICY, fixed(0.5))).toEqual({ retry: false });
  });

  it('no delay is longer than maxDelay, jitter included (as RetryPolicy.maxDelay documents)', () => {
    const capped = { ...policy, attempts: 100, jitter: 0.2 };
    for (const r of [0, 0.25, 0.5, 0.75, 0.999_999]) {
      for (const attempt of [7, 8, 20]) {
        const decision = retryDecision(new Error('x'), attempt, capped, fixed(r));
        expect(decision.retry && decision.delay, `attempt ${attempt}, random ${r}`).toBeLessThanOrEqual(capped.maxDelay);
      }
    }
  });
});
