import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRuntime, EventNotAcceptedError, lmdbStore, NonJsonStateError, type EffectArgs } from '../src/index.js';
import { agentMachine } from './fixtures/agentMachine.js';
import { tempDir } from './helpers.js';

/**
 * Random interleavings of what restores an actor in the process (a refused send, a crash the
 * supervisor restarts) with what ends an invocation (leaving or re-entering its state, its
 * answer): whatever the order, an invocation's code runs at most once here, and its signal is
 * aborted exactly when the committed state no longer has it in flight.
 */

const FAST = { initialDelay: 1, factor: 2, maxDelay: 5, jitter: 0, maxRestarts: 1000, window: 60_000 };

type Step = 'NOTE' | 'STAMP' | 'HICCUP' | 'GIVE_UP' | 'RESUME' | 'AGAIN' | 'ANSWER';
const STEPS: Step[] = ['NOTE', 'STAMP', 'HICCUP', 'GIVE_UP', 'RESUME', 'AGAIN', 'ANSWER'];

interface Call {
  key: string;
  signal: AbortSignal;
  answer(text: string): void;
  answered: boolean;
}

/** The agent whose model calls are collected; every other HICCUP crashes (its restart's redelivery goes through). */
function agent(calls: Call[]) {
  return agentMachine(({ key, signal }: EffectArgs<unknown>) => {
    let answer!: (text: string) => void;
    const answered = new Promise<string>((resolve) => (answer = resolve));
    const call: Call = { key, signal, answered: false, answer: (text) => ((call.answered = true), answer(text)) };
    calls.push(call);
    return answered;
  }, (n) => n % 2 === 0);
}

const settle = () => new Promise((r) => setTimeout(r, 15));

describe('effects in flight across in-process restores (property)', () => {
  it('an invocation runs at most once here; its signal is aborted exactly when the committed state no longer has it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...STEPS), { minLength: 1, maxLength: 12 }), fc.boolean(), async (steps, together) => {
        const calls: Call[] = [];
        const dir = tempDir();
        const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [agent(calls)], supervisor: FAST, recover: false });
        try {
          const { id } = await rt.start('agent');
          await settle();
          const sends: Promise<unknown>[] = [];
          for (const step of steps) {
            if (step === 'ANSWER') {
              calls.filter((c) => !c.answered && !c.signal.aborted).at(-1)?.answer(`answer-${calls.length}`);
              await settle();
              continue;
            }
            const sent = rt.send(id, { type: step }).catch((err: unknown) => {
              // Refused as the machine says: not accepted in its state, or finished; STAMP is never JSON.
              if (err instanceof EventNotAcceptedError || (err as { code?: string }).code === 'EXECUTION_FINISHED') return;
              if (step === 'STAMP' && err instanceof NonJsonStateError) return;
              throw err;
            });
            // `together`: the sends of a run go out in one turn (a restore between an issued and a committed transition).
            if (together) sends.push(sent);
            else await sent;
          }
          await Promise.all(sends);
          await settle();

          const keys = calls.map((c) => c.key);
          expect(new Set(keys).size).toBe(keys.length);
          const info = await rt.get(id);
          const running = (info?.effects ?? []).filter((e) => e.status === 'running').map((e) => e.key);
          expect(running.length).toBeLessThanOrEqual(1);
          for (const key of running) expect(keys).toContain(key);
          for (const call of calls) {
            if (call.answered) continue;
            expect({ key: call.key, aborted: call.signal.aborted }).toEqual({ key: call.key, aborted: !running.includes(call.key) });
          }
        } finally {
          await rt.close();
          dir.remove();
        }
      }),
      { numRuns: 40 },
    );
  });
});
