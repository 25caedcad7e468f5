import { fromPromise, type ActorSystem, type AnyActorLogic, type AnyActorRef, type PromiseActorLogic } from 'xstate';

type AnyActorSystem = ActorSystem<any>;
import { NonJsonStateError, TerminalError, toErrorRecord, type ErrorRecord } from '../errors.js';
import { checkJson } from '../journal/diff.js';
import type { EffectRecord, Json } from '../store/Store.js';
import { sleepOn, type Clock } from './clock.js';
import type { EffectRuns } from './effectRuns.js';
import { policyOf, retryDecision, type RetryPolicy } from './retry.js';

/** What a durable effect's code receives, besides XState's own `{ input, signal, self, system, emit }`. */
export interface EffectContext {
  /** Stable for this invocation across retries, crashes and recoveries: use it as an idempotency key. */
  key: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/** Where an effect stands when its code is (re)started. */
export interface EffectTicket {
  key: string;
  record?: EffectRecord;
}

/** The hosted execution, as the effects it runs see it. */
export interface EffectHost {
  readonly clock: Clock;
  readonly retryPolicy: RetryPolicy;
  /**
   * Called synchronously when XState starts the effect's actor. Resolves once the transition
   * that invoked it is durable (commit before effect), with the record of earlier attempts.
   */
  invokeEffect(childId: string): Promise<EffectTicket>;
  /** Commits an effect's progress; resolves once durable. */
  recordEffect(childId: string, record: EffectRecord): Promise<void>;
  onEffectEvent?(event: EffectEvent): void;
  /** The effects whose code runs here, shared by the actors an in-process restore makes (see EffectRuns). */
  readonly effectRuns: EffectRuns;
}

export type EffectEvent =
  | { type: 'effect.started'; key: string; attempt: number }
  | { type: 'effect.completed'; key: string; attempt: number }
  | { type: 'effect.retrying'; key: string; attempt: number; delay: number; error: ErrorRecord }
  | { type: 'effect.failed'; key: string; attempt: number; error: ErrorRecord };

/** What a durable effect's code receives: XState's promise-actor arguments plus {@link EffectContext}. */
export interface EffectArgs<TInput> extends EffectContext {
  input: TInput;
  /**
   * Aborted once a committed transition no longer has this invocation (its state left or
   * re-entered), or when the execution ends or leaves the process; not by a restore in the
   * process, whose actor joins the run instead of starting the code again.
   */
  signal: AbortSignal;
  /**
   * The actor that started the run: after a restore in the process (a refused send, a crash
   * restart) it is stopped, and what is sent through it (or `system`, or XState's `emit`) is
   * dropped. The outcome reaches the restored actor.
   */
  self: AnyActorRef;
  system: AnyActorSystem;
}

/**
 * `fromPromise` with the durable effect's arguments typed: the same logic (every promise actor
 * registered in `setup({ actors })` is a durable effect either way), but `key` and `attempt`
 * type-check.
 *
 * @example
 * ```ts
 * setup({ actors: { charge: fromEffect(async ({ input, key }: EffectArgs<Order>) => pay(input, { idempotencyKey: key })) } })
 * ```
 */
export function fromEffect<TOutput, TInput = unknown>(fn: (args: EffectArgs<TInput>) => PromiseLike<TOutput>): PromiseActorLogic<TOutput, TInput> {
  return fromPromise<TOutput, TInput>(fn as never);
}

const hostsBySystem = new WeakMap<AnyActorSystem, EffectHost>();

/** Routes the effects of an actor system to the execution that hosts it. */
export function bindEffectHost(system: AnyActorSystem, host: EffectHost): void {
  hostsBySystem.set(system, host);
}

type PromiseCreator = (args: { input: unknown; signal: AbortSignal; self: AnyActorRef; system: AnyActorSystem; emit: unknown } & EffectContext) => PromiseLike<unknown>;

/**
 * Whether `logic` is XState promise logic (`fromPromise`), told by how it behaves: other logic
 * (callbacks, observables, machines) does not finish on a promise-resolve event.
 */
export function isPromiseLogic(logic: AnyActorLogic): boolean {
  const config = (logic as { config?: unknown }).config;
  if (typeof config !== 'function' || 'root' in logic) return false;
  try {
    const marker = {};
    const state = { status: 'active', output: undefined, error: undefined, input: undefined };
    const next = logic.transition(state as never, { type: 'xstate.promise.resolve', data: marker } as never, {} as never) as { status?: string; output?: unknown };
    return next?.status === 'done' && next.output === marker;
  } catch {
    return false;
  }
}

/**
 * Wraps promise logic as a durable effect. Outside durastate (a plain `createActor`) it behaves
 * like the original. Inside, its code starts only after the invoking transition is committed,
 * receives `key` and `attempt`, is retried by policy, and its result (or final error) is
 * committed before XState sees it; a recorded result is delivered again without running the
 * code.
 */
export function durableEffect(logic: AnyActorLogic, defaultPolicy: RetryPolicy): AnyActorLogic {
  const original = (logic as unknown as { config: PromiseCreator }).config;
  const wrapped = fromPromise(async (args: { input: unknown; signal: AbortSignal; self: AnyActorRef; system: AnyActorSystem; emit: unknown }) => {
    const host = hostsBySystem.get(args.system);
    if (!host) return original({ ...args, key: args.self.id, attempt: 1 });
    return runEffect(host, original, args, policyOf(logic, host.retryPolicy ?? defaultPolicy));
  });
  return wrapped as unknown as AnyActorLogic;
}

async function runEffect(
  host: EffectHost,
  original: PromiseCreator,
  args: { input: unknown; signal: AbortSignal; self: AnyActorRef; system: AnyActorSystem; emit: unknown },
  policy: RetryPolicy,
): Promise<unknown> {
  const path = effectPath(args.self);
  const { key, record } = await host.invokeEffect(path);
  // Stopped while waiting for the invoking commit (cancelled, rolled back): never run.
  if (args.signal.aborted) throw args.signal.reason;
  if (record?.status === 'done') return record.output;
  if (record?.status === 'failed') throw revive(record.error);
  // An earlier actor of this execution may have it in flight (an in-process restore): join it.
  return host.effectRuns.join(key, (signal) => attempts(host, original, { ...args, signal }, policy, path, key, record));
}

/** The attempts of one effect invocation, from where its record says it got to. */
async function attempts(
  host: EffectHost,
  original: PromiseCreator,
  args: { input: unknown; signal: AbortSignal; self: AnyActorRef; system: AnyActorSystem; emit: unknown },
  policy: RetryPolicy,
  path: string,
  key: string,
  record: EffectRecord | undefined,
): Promise<unknown> {
  let attempt = (record?.attempts ?? 0) + 1;
  if (record?.retryAt !== undefined) await sleepOn(host.clock, Math.max(0, record.retryAt - host.clock.now()), args.signal);
  for (;;) {
    if (args.signal.aborted) throw args.signal.reason;
    host.onEffectEvent?.({ type: 'effect.started', key, attempt });
    let output: unknown;
    try {
      output = await original({ ...args, key, attempt });
      if (output === undefined) output = null;
      try {
        checkJson(output, '/output', false);
      } catch (err) {
        throw new TerminalError(`effect ${key} returned data that is not JSON: ${(err as NonJsonStateError).message}`);
      }
    } catch (err) {
      if (args.signal.aborted) throw err;
      const error = toErrorRecord(err);
      const decision = retryDecision(err, attempt, policy);
      if (!decision.retry) {
        await host.recordEffect(path, { key, status: 'failed', attempts: attempt, error });
        host.onEffectEvent?.({ type: 'effect.failed', key, attempt, error });
        throw err;
      }
      const retryAt = host.clock.now() + decision.delay;
      await host.recordEffect(path, { key, status: 'pending', attempts: attempt, retryAt, error });
      host.onEffectEvent?.({ type: 'effect.retrying', key, attempt, delay: decision.delay, error });
      // Until the recorded due time, as a restarted process would wait.
      await sleepOn(host.clock, Math.max(0, retryAt - host.clock.now()), args.signal);
      attempt++;
      continue;
    }
    await host.recordEffect(path, { key, status: 'done', attempts: attempt, output: output as Json });
    host.onEffectEvent?.({ type: 'effect.completed', key, attempt });
    return output;
  }
}

/**
 * The effect's actor path below the root: child ids joined by `/` (`fetch` for an effect the
 * root invoked, `payment/charge` for one a child machine `payment` invoked). Stable across
 * processes, unlike session ids.
 */
function effectPath(self: AnyActorRef): string {
  const ids: string[] = [];
  let at: AnyActorRef | undefined = self;
  while (at && (at as { _parent?: AnyActorRef })._parent) {
    ids.unshift(at.id);
    at = (at as { _parent?: AnyActorRef })._parent;
  }
  return ids.join('/');
}

/** The recorded error as an Error again, for `onError` after a recovery. */
function revive(record: ErrorRecord | undefined): Error {
  const err = new Error(record?.message ?? 'effect failed');
  err.name = record?.name ?? 'Error';
  if (record?.stack) err.stack = record.stack;
  if (record?.code) (err as Error & { code?: string }).code = record.code;
  return err;
}
