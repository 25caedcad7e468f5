import type { PromiseActorLogic } from 'xstate';
import { RetryableError, TerminalError } from '../errors.js';
import { backoffDelay, type Backoff } from './backoff.js';

/** How a durable effect is retried when it throws: its attempts and the backoff between them. */
export interface RetryPolicy extends Backoff {
  /** Attempts in all, the first included (1 = no retry). */
  attempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 3, initialDelay: 1_000, factor: 2, maxDelay: 60_000, jitter: 0.2 };

export type RetryDecision = { retry: false } | { retry: true; delay: number };

/**
 * What to do after attempt `attempt` threw `error`: a {@link TerminalError} is final; a
 * {@link RetryableError} with `retryAfter` waits exactly that long; anything else (and a bare
 * RetryableError) backs off exponentially with jitter, until the attempts run out.
 *
 * @example
 * ```ts
 * retryDecision(new Error('503'), 1, { ...DEFAULT_RETRY_POLICY, jitter: 0 }); // { retry: true, delay: 1000 }
 * ```
 */
export function retryDecision(error: unknown, attempt: number, policy: RetryPolicy, random: () => number = Math.random): RetryDecision {
  if (error instanceof TerminalError || attempt >= policy.attempts) return { retry: false };
  if (error instanceof RetryableError && error.retryAfter !== undefined) return { retry: true, delay: Math.max(0, error.retryAfter) };
  return { retry: true, delay: backoffDelay(policy, attempt, random) };
}

const policies = new WeakMap<object, Partial<RetryPolicy>>();

/**
 * Gives one effect its own retry policy (the rest comes from the runtime's default).
 *
 * @example
 * ```ts
 * setup({ actors: { charge: withRetry(fromPromise(chargeCard), { attempts: 5, initialDelay: 200 }) } })
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any promise logic, whatever its output, input and events
export function withRetry<T extends PromiseActorLogic<any, any, any>>(logic: T, policy: Partial<RetryPolicy>): T {
  policies.set(logic, policy);
  return logic;
}

/** The policy set on `logic` with {@link withRetry}, over the runtime's default. */
export function policyOf(logic: object, fallback: RetryPolicy): RetryPolicy {
  const own = policies.get(logic);
  return own ? { ...fallback, ...own } : fallback;
}
