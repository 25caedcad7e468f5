/**
 * The supervisor's restart decisions as a pure RxJS operator, on virtual time (TestScheduler):
 * no XState, no store. Lifecycle streams are scripted marbles; every time asserted is a frame.
 */
import { merge, from, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { TerminalError } from '../src/errors.js';
import {
  DEFAULT_SUPERVISOR_POLICY,
  restartDelay,
  supervise,
  type ActorLifecycle,
  type SupervisorDecision,
  type SupervisorPolicy,
} from '../src/supervisor/index.js';

const exact: SupervisorPolicy = { ...DEFAULT_SUPERVISOR_POLICY, jitter: 0 };
const boom = new Error('boom');

const crashed = (id: string, error: unknown = boom): ActorLifecycle => ({ type: 'crashed', id, at: 0, error });
const started = (id: string): ActorLifecycle => ({ type: 'started', id, at: 0 });
const stopped = (id: string): ActorLifecycle => ({ type: 'stopped', id, at: 0 });
const restart = (id: string, attempt: number, delay: number, error: unknown = boom): SupervisorDecision =>
  ({ type: 'restart', id, attempt, delay, error });
const escalate = (id: string, attempts: number, reason: 'terminal' | 'intensity', error: unknown = boom): SupervisorDecision =>
  ({ type: 'escalate', id, attempts, error, reason });

function virtual(body: (helpers: Parameters<Parameters<TestScheduler['run']>[0]>[0], scheduler: TestScheduler) => void): void {
  const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  scheduler.run((helpers) => body(helpers, scheduler));
}

describe('supervise', () => {
  it('restarts an id that crashes twice then runs, after 100 then 200 ms', () => {
    virtual(({ cold, expectObservable }, scheduler) => {
      // crash @0, restarted @100, crash @150, restarted @350, then runs.
      const source = cold<ActorLifecycle>('c 99ms s 49ms c 199ms s', { c: crashed('a'), s: started('a') });
      expectObservable(source.pipe(supervise(exact, { scheduler }))).toBe('100ms r 249ms q', {
        r: restart('a', 1, 100),
        q: restart('a', 2, 200),
      });
    });
  });

  it("escalates an id that always crashes once it exceeds maxRestarts (reason 'intensity')", () => {
    virtual(({ cold, expectObservable }, scheduler) => {
      // Five restarts (100, 200, 400, 800, 1600 ms), each crashing 50-100 ms after it ran; the sixth crash escalates.
      const source = cold<ActorLifecycle>('c 149ms c 249ms c 499ms c 899ms c 1699ms c', { c: crashed('a') });
      expectObservable(source.pipe(supervise(exact, { scheduler }))).toBe('100ms 1 249ms 2 449ms 3 899ms 4 1699ms 5 99ms e', {
        1: restart('a', 1, 100),
        2: restart('a', 2, 200),
        3: restart('a', 3, 400),
        4: restart('a', 4, 800),
        5: restart('a', 5, 1600),
        e: escalate('a', 6, 'intensity'),
      });
    });
  });

  it("escalates a TerminalError at once, with no restart (reason 'terminal')", () => {
    const fatal = new TerminalError('card declined');
    virtual(({ cold, expectObservable }, scheduler) => {
      const source = cold<ActorLifecycle>('10ms c', { c: crashed('a', fatal) });
      expectObservable(source.pipe(supervise(exact, { scheduler }))).toBe('10ms e', { e: escalate('a', 1, 'terminal', fatal) });
    });
  });

  it('a TerminalError after restarts escalates at once and counts the earlier crashes', () => {
    const fatal = new TerminalError('gone');
    virtual(({ cold, expectObservable }, scheduler) => {
      const source = cold<ActorLifecycle>('c 149ms t', { c: crashed('a'), t: crashed('a', fatal) });
      expectObservable(source.pipe(supervise(exact, { scheduler }))).toBe('100ms r 49ms e', {
        r: restart('a', 1, 100),
        e: escalate('a', 2, 'terminal', fatal),
      });
    });
  });

  it('decides for interleaved ids independently: neither delays the other', () => {
    virtual(({ cold, expectObservable }, scheduler) => {
      // a: crash @0 -> restart @100; crash @120 -> restart @320.
      // b: crash @50 -> restart @150; crash @160 -> restart @360.
      const source = cold<ActorLifecycle>('a 49ms b 69ms a 39ms b', { a: crashed('a'), b: crashed('b') });
      expectObservable(source.pipe(supervise(exact, { scheduler }))).toBe('100ms 1 49ms 2 169ms 3 39ms 4', {
        1: restart('a', 1, 100),
        2: restart('b', 1, 100),
        3: restart('a', 2, 200),
        4: restart('b', 2, 200),
      });
    });
  });

  it('never escalates crashes spread out longer than the window', () => {
    const policy: SupervisorPolicy = { ...exact, initialDelay: 10, maxRestarts: 2, window: 100 };
    virtual(({ cold, expectObservable }, scheduler) => {
      // Seven crashes 150 ms apart (more than maxRestarts in all): each one is alone in its window.
      const source = cold<ActorLifecycle>('c 149ms c 149ms c 149ms c 149ms c 149ms c 149ms c', { c: crashed('a') });
      expectObservable(source.pipe(supervise(policy, { scheduler }))).toBe(
        '10ms r 149ms r 149ms r 149ms r 149ms r 149ms r 149ms r',
        { r: restart('a', 1, 10) },
      );
    });
  });

  it('lets old crashes leave the window: the backoff shrinks back after a quiet period', () => {
    const policy: SupervisorPolicy = { ...exact, initialDelay: 10, maxRestarts: 2, window: 100 };
    virtual(({ cold, expectObservable }, scheduler) => {
      // crash @0 (n=1, r@10), @20 (n=2, r@40), quiet, @150 (the first two left the window: n=1, r@160).
      const source = cold<ActorLifecycle>('c 19ms c 129ms c', { c: crashed('a') });
      expectObservable(source.pipe(supervise(policy, { scheduler }))).toBe('10ms 1 29ms 2 119ms 1', {
        1: restart('a', 1, 10),
        2: restart('a', 2, 20),
      });
    });
  });

  it("'stopped' ends the group: it cancels a pending restart and a later crash starts fresh", () => {
    virtual(({ cold, expectObservable }, scheduler) => {
      // crash @0 -> r@100; crash @150 (n=2, pending until 350); stopped @160 cancels it;
      // crash @170 is a fresh id history: n=1 -> r@270.
      const source = cold<ActorLifecycle>('c 149ms c 9ms s 9ms c', { c: crashed('a'), s: stopped('a') });
      expectObservable(source.pipe(supervise(exact, { scheduler }))).toBe('100ms r 169ms r', { r: restart('a', 1, 100) });
    });
  });

  it('ignores a crash of the same id reported while its restart is pending', () => {
    virtual(({ cold, expectObservable }, scheduler) => {
      // crash @0 -> restart pending until 100; the duplicate @50 adds neither a restart nor a count;
      // the crash @150 is the second one: n=2 -> r@350.
      const source = cold<ActorLifecycle>('c 49ms d 99ms c', { c: crashed('a'), d: crashed('a', new Error('again')) });
      expectObservable(source.pipe(supervise(exact, { scheduler }))).toBe('100ms r 249ms q', {
        r: restart('a', 1, 100),
        q: restart('a', 2, 200),
      });
    });
  });

  it('clears the count after an escalation, so a manual retry gets a full budget', () => {
    const policy: SupervisorPolicy = { ...exact, initialDelay: 10, maxRestarts: 1 };
    virtual(({ cold, expectObservable }, scheduler) => {
      // crash @0 -> r@10; crash @20 -> escalate; retried by hand, crash @30 -> n=1 again, r@40.
      const source = cold<ActorLifecycle>('c 19ms c 9ms c', { c: crashed('a') });
      expectObservable(source.pipe(supervise(policy, { scheduler }))).toBe('10ms r 9ms e 19ms r', {
        r: restart('a', 1, 10),
        e: escalate('a', 2, 'intensity'),
      });
    });
  });

  it('applies jitter from the injected random and never exceeds maxDelay', () => {
    const policy: SupervisorPolicy = { ...exact, initialDelay: 100, maxDelay: 120, jitter: 0.5 };
    const draws = [0, 1, 0.5];
    const random = (): number => draws.shift() ?? 0.5;
    virtual(({ cold, expectObservable }, scheduler) => {
      // @0: base 100, draw 0 -> 50 (r@50). @60: base min(120, 200) = 120, draw 1 -> 180, capped 120 (r@180).
      // @200: base 120, draw 0.5 -> 120 (r@320).
      const source = cold<ActorLifecycle>('c 59ms c 139ms c', { c: crashed('a') });
      expectObservable(source.pipe(supervise(policy, { scheduler, random }))).toBe('50ms 1 129ms 2 139ms 3', {
        1: restart('a', 1, 50),
        2: restart('a', 2, 120),
        3: restart('a', 3, 120),
      });
    });
    for (let attempt = 1; attempt <= 20; attempt++) {
      for (const r of [0, 0.25, 0.5, 0.75, 0.999999]) {
        const delay = restartDelay({ ...DEFAULT_SUPERVISOR_POLICY, jitter: 0.9 }, attempt, () => r);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(DEFAULT_SUPERVISOR_POLICY.maxDelay);
      }
    }
  });

  it('takes the policy of each id from policyFor', () => {
    const fast: SupervisorPolicy = { ...exact, initialDelay: 5 };
    virtual(({ cold, expectObservable }, scheduler) => {
      const source = cold<ActorLifecycle>('(ab)', { a: crashed('a'), b: crashed('b') });
      const policyFor = (id: string): SupervisorPolicy => (id === 'b' ? fast : exact);
      expectObservable(source.pipe(supervise(exact, { scheduler, policyFor }))).toBe('5ms b 94ms a', {
        a: restart('a', 1, 100),
        b: restart('b', 1, 5),
      });
    });
  });

  it('leaves 999 of 1,000 running ids untouched when one crashes', () => {
    virtual(({ cold, expectObservable }, scheduler) => {
      const ids = Array.from({ length: 1_000 }, (_, i) => `exec-${i}`);
      const source: Observable<ActorLifecycle> = merge(
        from(ids.map(started)),
        cold<ActorLifecycle>('10ms c 9ms s', { c: crashed('exec-500'), s: started('exec-500') }),
      );
      expectObservable(source.pipe(supervise(exact, { scheduler }))).toBe('110ms r', { r: restart('exec-500', 1, 100) });
    });
  });
});
