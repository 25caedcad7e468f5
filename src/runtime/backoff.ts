/** Exponential backoff with jitter, shared by effect retries and supervisor restarts. */
export interface Backoff {
  /** Delay before the second attempt, in ms. */
  initialDelay: number;
  /** Each further delay is the previous one times this. */
  factor: number;
  /** No delay is longer than this, in ms. */
  maxDelay: number;
  /** Spread each delay by up to this fraction either way (0.2 = ±20%), so retries do not stampede. */
  jitter: number;
}

/**
 * The delay after attempt `attempt` (1-based): `initialDelay · factor^(attempt-1)`, spread by
 * the jitter, never above `maxDelay`.
 *
 * @example
 * ```ts
 * backoffDelay({ initialDelay: 100, factor: 2, maxDelay: 1_000, jitter: 0 }, 3); // 400
 * ```
 */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxDelay, backoff.initialDelay * backoff.factor ** (attempt - 1));
  const spread = backoff.jitter === 0 ? 0 : base * backoff.jitter * (2 * random() - 1);
  return Math.min(backoff.maxDelay, Math.max(0, Math.round(base + spread)));
}
