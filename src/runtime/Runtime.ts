import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  EventNotAcceptedError,
  ExecutionBlockedError,
  ExecutionCancelledError,
  ExecutionExistsError,
  ExecutionFailedError,
  ExecutionFinishedError,
  ExecutionLockedError,
  ExecutionNotFoundError,
  InvalidArgumentError,
  InvalidEventError,
  NonJsonStateError,
  RuntimeClosedError,
  SendTimeoutError,
  DurastateError,
  toErrorRecord,
  ExecutionHasForksError,
  type ErrorCode,
  type ErrorRecord,
} from '../errors.js';
import { chainOf } from '../timeline/chain.js';
import { readHistory } from '../timeline/history.js';
import { descendantsOf, lineageOf } from '../timeline/lineage.js';
import { pointAt, seqOf, stateAtOf } from '../timeline/stateAt.js';
import type { PatchOperation } from '../store/Store.js';
import type { DeleteOptions, ExecutionPoint, ForkHandle, ForkOptions, Lineage, PointOptions, RewindOptions, RewindResult, StateAt } from '../timeline/types.js';
import { checkRewind, materialise, prepareFork, prepareRewind } from './timelineOps.js';
import { checkJson, diffSnapshots } from '../journal/diff.js';
import { DEFAULT_KEYFRAME_EVERY } from '../journal/keyframePolicy.js';
import { rebuildLatest, rebuildSnapshot, rebuildWithKeyframe } from '../journal/rebuild.js';
import { lmdbStore } from '../store/lmdbStore.js';
import {
  ACTIVE_STATUSES,
  EXECUTION_STATUSES,
  isFinished,
  type ExecutionMeta,
  type ExecutionStatus,
  type InboxEntry,
  type Json,
  type TransitionWrite,
  type Page,
  type RewindWrite,
  type Store,
  type ClaimResult,
} from '../store/Store.js';
import { acceptedEvents, acceptedEventsAt } from './acceptedEvents.js';
import { AwaitingRestart, HostedExecution, type HostContext } from './HostedExecution.js';
import { Ownership } from './ownership.js';
import { Waker } from './waker.js';
import { MachineRegistry } from './registry.js';
import { asapScheduler, Observable, observeOn, share, Subject, type Subscription } from 'rxjs';
import { DEFAULT_SUPERVISOR_POLICY, supervise, type ActorLifecycle, type SupervisorDecision } from '../supervisor/index.js';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import type { RuntimeEvent } from '../progress/events.js';
import { progressOf, type Progress } from '../progress/progress.js';
import { createHostedRegistry, type HostedExecutionRow, type HostedRegistry } from '../progress/registry.js';
import { systemClock } from './clock.js';
import { DEFAULT_RETRY_POLICY } from './retry.js';
import {
  type CleanupOptions,
  type EffectInfo,
  type ExecutionHandle,
  type ExecutionInfo,
  type ExecutionSummary,
  type HistoryEntry,
  type HistoryOptions,
  type ListOptions,
  type RuntimeOptions,
  type SendOptions,
  type SendResult,
  type StartOptions,
  type Stats,
} from './types.js';

/**
 * Executions claimed per transaction (and listed per page) by recovery: a claim transaction is
 * synchronous (a test-and-set across processes), so its size bounds how long it holds the loop.
 */
const RECOVERY_BATCH = 1_000;
/** Executions restored between two turns of the event loop. */
const RESTORE_SLICE = 125;

/** The next turn of the event loop: recovery serves other work between its steps. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** How long a settled inbox entry waits for its sender to collect it. */
const INBOX_KEEP_MS = 3_600_000;
/** How often a runtime sweeps uncollected inbox entries. */
const INBOX_SWEEP_MS = 60_000;

/**
 * Opens a store (LMDB in `./.durastate` by default), registers the machines and, unless
 * `recover: false`, restores and continues every interrupted execution no live process owns.
 *
 * @example
 * ```ts
 * const rt = await createRuntime({ machines: [orderMachine] });
 * const { id } = await rt.start('order', { input: { sku: 'A1' } });
 * await rt.send(id, { type: 'PAY' });   // resolves once the transition is committed
 * console.log(await rt.wait(id));       // the machine's output
 * await rt.close();
 * ```
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const registry = new MachineRegistry(options.machines ?? []);
  const store = options.store ?? lmdbStore();
  await store.open();
  const ownership = await Ownership.start(store, options.leaseMs ?? 30_000);
  const runtime = new Runtime(store, registry, ownership, options);
  if (options.recover ?? true) {
    try {
      await runtime.recover();
    } catch (err) {
      await runtime.close();
      throw err;
    }
  }
  return runtime;
}

/** A durastate runtime: hosts executions of registered machines on a store. */
export class Runtime {
  private readonly hosts = new Map<string, HostedExecution>();
  private readonly loading = new Map<string, Promise<HostedExecution>>();
  private readonly ctx: HostContext;
  private closed = false;
  private markClosed!: () => void;
  /** Resolves when `close` is called, to release `wait`ers. */
  private readonly closing = new Promise<void>((resolve) => (this.markClosed = resolve));
  private readonly pollMs: number;
  private readonly inboxPollMs: number;
  private readonly inboxTimer: NodeJS.Timeout;
  /** How long a waiting execution stays in memory unused before it is passivated (Infinity: never). */
  private readonly passivateAfterMs: number;
  private readonly passivationTimer?: NodeJS.Timeout;
  /** Wakes executions not in memory when their timers fall due. */
  private readonly waker: Waker;
  /** Whether this runtime takes over interrupted executions (`recover`), also when their timers fall due. */
  private readonly recovering: boolean;
  private readonly wakerTimer: NodeJS.Timeout;
  private inboxPolling?: Promise<void>;
  private inboxCounter = 0;
  private lastSweep = Date.now();
  /** Inbox consumption in progress, per execution. */
  private readonly consuming = new Map<string, Promise<void>>();
  /** Keyed sends in flight in this process, so a concurrent resend waits for the first. */
  private readonly keyed = new Map<string, Promise<SendResult>>();
  private readonly events = new Subject<RuntimeEvent>();
  private readonly lifecycles = new Subject<ActorLifecycle>();
  private readonly supervision: Subscription;
  private readonly registryChanges = new Map<string, HostedExecutionRow | null>();
  private registryFlush?: { cancel(): void };
  private registryHeld = 0;
  /** `progress$` subscribers by execution. */
  private readonly transitionListeners = new Map<string, Set<(e: Extract<RuntimeEvent, { type: 'transition' }>) => void>>();

  /**
   * Everything that happens in this runtime, as typed events (see {@link RuntimeEvent}).
   * Delivered asynchronously: a slow subscriber does not hold up the transitions it observes.
   *
   * @example
   * ```ts
   * rt.events$.pipe(filter((e) => e.type === 'failed')).subscribe((e) => alert(e.id));
   * ```
   */
  readonly events$: Observable<RuntimeEvent> = this.events.pipe(observeOn(asapScheduler), share());

  /** The executions this runtime hosts, live, as an `@xstate/store` (rows and counts by status). */
  readonly registry: HostedRegistry = createHostedRegistry();

  /** @internal use {@link createRuntime} */
  constructor(
    readonly store: Store,
    private readonly machines: MachineRegistry,
    private readonly ownership: Ownership,
    options: RuntimeOptions,
  ) {
    this.pollMs = options.pollMs ?? 100;
    this.inboxPollMs = options.inboxPollMs ?? 25;
    this.ctx = {
      store,
      clock: options.clock ?? systemClock,
      ownerId: ownership.id,
      keyframeEvery: options.keyframeEvery ?? DEFAULT_KEYFRAME_EVERY,
      retryPolicy: { ...DEFAULT_RETRY_POLICY, ...options.retry },
      onFinished: (host) => {
        if (this.hosts.get(host.id) === host) this.hosts.delete(host.id);
        this.hostedChanged(host.id, null);
        this.lifecycles.next({ type: 'stopped', id: host.id, at: this.ctx.clock.now() });
      },
      onEffectEvent: (id, event) => {
        if (this.events.observed) this.events.next({ ...event, id, at: this.ctx.clock.now() });
      },
      onCommitted: (host, write, cause) => this.committed(host, write, cause),
      onCrash: (host, error) => {
        const at = this.ctx.clock.now();
        this.events.next({ type: 'crashed', id: host.id, error: toErrorRecord(error), at });
        // Decided outside XState's processing of the event that crashed it.
        queueMicrotask(() => this.lifecycles.next({ type: 'crashed', id: host.id, at, error }));
      },
      // `decide` carries out decisions for hosted executions only.
      supervises: (host) => this.hosts.get(host.id) === host,
    };
    const base = { ...DEFAULT_SUPERVISOR_POLICY, ...options.supervisor };
    const perMachine = options.supervisors ?? {};
    this.supervision = this.lifecycles
      .pipe(
        supervise(base, {
          policyFor: (id) => {
            const machine = this.hosts.get(id)?.entry.id;
            const own = machine ? perMachine[machine] : undefined;
            return own ? { ...base, ...own } : base;
          },
        }),
      )
      .subscribe((decision) => this.decide(decision));
    this.inboxTimer = setInterval(() => void this.pollInbox(), this.inboxPollMs);
    this.inboxTimer.unref();
    this.passivateAfterMs = options.passivateAfterMs ?? 60_000;
    this.recovering = options.recover ?? true;
    if (this.passivateAfterMs !== Infinity) {
      this.passivationTimer = setInterval(() => this.passivateIdle(), Math.max(10, Math.min(this.passivateAfterMs, 1_000)));
      this.passivationTimer.unref();
    }
    this.waker = new Waker(store, this.ctx.clock, (id) => this.hosts.has(id) || this.loading.has(id), (ids) => this.wakeMany(ids));
    this.wakerTimer = setInterval(() => void this.waker.check(), 1_000);
    this.wakerTimer.unref();
  }

  /** The events of a committed transition, for `events$`. */
  private announce(write: TransitionWrite, transition: RuntimeEvent & { type: 'transition' }, cause: { type: string }): void {
    const { id, at } = transition;
    const { entry } = write;
    this.events.next(transition);
    for (const t of write.timers?.remove ?? []) {
      const event = (t.event as { type?: string }).type ?? '';
      if (event === cause.type) this.events.next({ type: 'timer.fired', id, timer: t.id, event, at });
    }
    for (const t of write.timers?.add ?? []) {
      this.events.next({ type: 'timer.armed', id, timer: t.id, event: (t.event as { type?: string }).type ?? '', dueAt: t.dueAt, at });
    }
    if (entry.status === 'completed') this.events.next({ type: 'completed', id, output: write.meta?.output ?? null, at });
    else if (entry.status === 'failed') this.events.next({ type: 'failed', id, error: write.meta?.error ?? { name: 'Error', message: 'failed' }, at });
    else if (entry.status === 'cancelled') this.events.next({ type: 'cancelled', id, at });
  }

  /** What a committed transition tells the observers: events, the live registry. */
  private committed(host: HostedExecution, write: TransitionWrite, cause: { type: string }): void {
    const { id } = host;
    const { entry } = write;
    const at = entry.at;
    const listeners = this.transitionListeners.get(id);
    // Built only for someone listening: this runs for every transition.
    if (listeners || this.events.observed) {
      const transition = { type: 'transition' as const, id, seq: entry.seq, event: cause.type, value: entry.value, status: entry.status, at };
      // events$ first, as before its events were built only for a listener.
      if (this.events.observed) this.announce(write, transition, cause);
      if (listeners) queueMicrotask(() => listeners.forEach((listener) => listener(transition)));
    }
    this.hostedChanged(id, isFinished(entry.status) ? null : { id, machine: host.entry.id, status: entry.status, value: entry.value, seq: entry.seq, updatedAt: at });
  }

  /** Queues a change of the live registry; the changes of one turn are applied together. */
  private hostedChanged(id: string, row: HostedExecutionRow | null): void {
    this.registryChanges.set(id, row);
    this.flushRegistrySoon();
  }

  /**
   * Applies the registry's pending changes on the next turn, or, with many executions hosted,
   * up to 100 ms later (a millisecond per 100 hosted): every update copies the whole table (an
   * `@xstate/store` context is replaced, not mutated), and with 10,000 hosted an update per turn
   * would copy 10,000 rows for each transition.
   */
  private flushRegistrySoon(): void {
    if (this.registryFlush || this.registryHeld || this.closed || this.registryChanges.size === 0) return;
    const flush = (): void => {
      this.registryFlush = undefined;
      this.applyRegistry();
    };
    const delay = Math.min(100, Math.floor(this.hosts.size / 100));
    if (delay === 0) {
      const immediate = setImmediate(flush);
      this.registryFlush = { cancel: () => clearImmediate(immediate) };
    } else {
      const timer = setTimeout(flush, delay);
      this.registryFlush = { cancel: () => clearTimeout(timer) };
    }
  }

  /** Applies the registry's pending changes now. */
  private applyRegistry(): void {
    if (this.registryChanges.size === 0) return;
    const changes = [...this.registryChanges];
    this.registryChanges.clear();
    this.registry.trigger.apply({ changes });
  }

  /**
   * Holds the registry's updates while `work` runs (a batch of wakes, or a whole recovery, which
   * applies them itself once a second), then applies them at once: each update copies the table,
   * and a batch serving the event loop between slices would otherwise copy it after each slice.
   */
  private async holdingRegistry<T>(work: () => Promise<T>): Promise<T> {
    this.registryHeld++;
    try {
      return await work();
    } finally {
      this.registryHeld--;
      this.flushRegistrySoon();
    }
  }

  /**
   * The progress of an execution, after its committed transitions: `{ id, seq, value, status,
   * done, total, percent, updatedAt }` (see {@link Progress}). A subscriber first gets where the
   * execution stands now; the stream completes when it ends. Transitions that come faster than
   * they can be read back are coalesced: the latest is always reported, seqs only increase. For
   * an execution another process runs, the journal is followed (every `pollMs`).
   *
   * @example
   * ```ts
   * rt.progress$(id).subscribe((p) => bar.update(p.percent));
   * ```
   */
  progress$(id: string): Observable<Progress> {
    return new Observable<Progress>((subscriber) => {
      let last = -1;
      let stopped = false;
      let busy = false;
      const machineOf = (machineId: string): AnyStateMachine | undefined => {
        try {
          return this.machines.get(machineId).machine;
        } catch {
          return undefined;
        }
      };
      // A read asked for while one is in flight is done after it, so the latest commit is
      // always reported (transitions that come faster than the reads are coalesced).
      let again = false;
      const emitFromStore = async (): Promise<void> => {
        if (stopped) return;
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        try {
          const meta = await this.store.getMeta(id);
          if (!meta) {
            subscriber.error(new ExecutionNotFoundError(id));
            return;
          }
          if (meta.seq > last) {
            const machine = machineOf(meta.machineId);
            const snapshot = await rebuildSnapshot(this.store, id, meta.seq);
            if (machine && snapshot) {
              const resolved = machine.resolveState({ value: (snapshot as { value: never }).value, context: (snapshot as { context: never }).context });
              last = meta.seq;
              subscriber.next(progressOf(machine, resolved as AnyMachineSnapshot, { id, seq: meta.seq, status: meta.status, updatedAt: new Date(meta.updatedAt) }));
            }
          }
          if (isFinished(meta.status)) subscriber.complete();
        } catch (err) {
          if (!(err instanceof RuntimeClosedError)) subscriber.error(err);
        } finally {
          busy = false;
        }
        if (again && !stopped) {
          again = false;
          await emitFromStore();
        }
      };
      void emitFromStore();
      // Committed transitions of executions hosted here arrive as events; others are polled.
      const onTransition = (e: Extract<RuntimeEvent, { type: 'transition' }>): void => {
        if (e.seq <= last) return;
        const host = this.hosts.get(id);
        // Hosted here and not moved on since: the live snapshot is the committed one.
        if (host && !host.finished && host.meta.seq === e.seq && !busy) {
          last = e.seq;
          subscriber.next(progressOf(host.entry.machine, host.snapshot(), { id, seq: e.seq, status: e.status, updatedAt: new Date(e.at) }));
          return;
        }
        void emitFromStore();
      };
      // Per execution, not through events$: a progress$ per execution must not cost every
      // subscriber every other execution's events.
      let listeners = this.transitionListeners.get(id);
      if (!listeners) this.transitionListeners.set(id, (listeners = new Set()));
      listeners.add(onTransition);
      const poll = setInterval(() => {
        if (!this.hosts.has(id)) void emitFromStore();
      }, this.pollMs);
      poll.unref();
      return () => {
        stopped = true;
        listeners.delete(onTransition);
        if (listeners.size === 0) this.transitionListeners.delete(id);
        clearInterval(poll);
      };
    });
  }

  /** Carries out a supervisor decision for an execution still hosted here. */
  private decide(decision: SupervisorDecision): void {
    const host = this.hosts.get(decision.id);
    if (!host || host.finished) return;
    try {
      if (decision.type === 'restart') {
        this.events.next({ type: 'restarted', id: decision.id, attempt: decision.attempt, delay: decision.delay, at: this.ctx.clock.now() });
        host.restartAfterCrash();
      } else {
        host.escalate(decision.error, decision.attempts);
      }
    } catch (err) {
      // One execution's restart going wrong must not end supervision of the others.
      host.escalate(err, decision.type === 'restart' ? decision.attempt : decision.attempts);
    }
  }

  /**
   * Restarts a failed execution from its last good snapshot (the "retry failed execution"
   * button): it is running or waiting again, its history goes on, and the failure stays in it.
   *
   * @example
   * ```ts
   * await rt.retry(id);
   * ```
   */
  async retry(id: string): Promise<void> {
    this.assertOpen();
    const meta = await this.store.getMeta(id);
    if (!meta) throw new ExecutionNotFoundError(id);
    if (meta.status !== 'failed') throw new InvalidArgumentError(`Execution "${id}" is ${meta.status}; only a failed execution can be retried`);
    const blocked = this.machines.blocked(meta);
    if (blocked) throw new ExecutionBlockedError(id, blocked.message);
    const claim = await this.ownership.claim(id, meta.owner, { reopen: true });
    if (!claim.ok) {
      if (claim.reason === 'owned') throw new ExecutionLockedError(id, claim.owner);
      throw new ExecutionNotFoundError(id);
    }
    // The failed transition kept the last good snapshot, unless XState's own error snapshot was
    // recorded (an execution failed without a supervisor): then the one before it.
    let seq = claim.meta.seq;
    let rebuilt = await rebuildWithKeyframe(this.store, id, seq);
    if ((rebuilt?.snapshot as { status?: string } | undefined)?.status === 'error' && seq > 0) rebuilt = await rebuildWithKeyframe(this.store, id, --seq);
    if (!rebuilt) throw new ExecutionNotFoundError(id);
    const host = new HostedExecution(this.ctx, this.machines.get(meta.machineId), id);
    const { error: _error, ...rest } = claim.meta;
    host.restore({ ...rest, seq: claim.meta.seq }, rebuilt.snapshot, claim.version, rebuilt.keyframe);
    this.hosts.set(id, host);
    await host.resume({ type: 'durastate.retry' });
    this.events.next({ type: 'restarted', id, attempt: 0, delay: 0, at: this.ctx.clock.now() });
  }

  /** This process's owner id, as recorded on the executions it runs. */
  get ownerId(): string {
    return this.ownership.id;
  }

  /** Starts an execution of a registered machine; resolves once its first snapshot is durable. */
  async start(machineId: string, options: StartOptions = {}): Promise<ExecutionHandle> {
    this.assertOpen();
    const entry = this.machines.get(machineId);
    const id = options.id ?? randomUUID();
    validateId(id);
    const host = new HostedExecution(this.ctx, entry, id);
    await this.launch(host, () => host.create(options.input, options.detach ?? false));
    if (options.detach) this.unhost(host);
    this.events.next({ type: 'started', id, machine: entry.id, at: this.ctx.clock.now() });
    return { id };
  }

  /**
   * Stops hosting an execution without writing anything (a dormant one only written, one
   * released for a delete or rewind, one passivated): it stays as it is in the store.
   */
  private unhost(host: HostedExecution): void {
    if (this.hosts.get(host.id) !== host) return;
    host.stop();
    this.hosts.delete(host.id);
    this.hostedChanged(host.id, null);
  }

  /** Hosts a new execution once `begin` has committed its first transition. */
  private async launch(host: HostedExecution, begin: () => Promise<void>): Promise<void> {
    const { id } = host;
    if (this.hosts.has(id) || this.loading.has(id)) throw new ExecutionExistsError(id);
    // Until its first transition is committed the execution is not ours to write to (the id may
    // exist in the store): a concurrent send waits for the start through `loading`.
    const starting = this.trackLoading(
      id,
      begin().then(() => {
        if (!host.finished) this.hosts.set(id, host);
        return host;
      }),
    );
    try {
      await starting;
    } catch (err) {
      host.stop();
      throw err;
    }
  }

  /**
   * Makes `promise` the loading of `id` until it settles: sends and wakes wait on it instead of
   * loading the id again. A later loading of the same id is left in place.
   */
  private trackLoading(id: string, promise: Promise<HostedExecution>): Promise<HostedExecution> {
    const own: Promise<HostedExecution> = promise.finally(() => {
      if (this.loading.get(id) === own) this.loading.delete(id);
    });
    this.loading.set(id, own);
    return own;
  }

  /**
   * Sends an event; resolves once the transition it causes is committed. For an execution this
   * process runs, that commit is the acknowledgement. For one run by another live process, the
   * event goes to its inbox in one commit, and the call resolves once the owner has committed
   * the transition that consumed it (or takes the execution over if the owner dies meanwhile).
   * Rejects, with nothing changed, when the event is malformed, not accepted in the current
   * state, or its transition produces state that is not JSON.
   */
  send(id: string, event: { type: string; [key: string]: unknown }, given?: SendOptions): Promise<SendResult> {
    const options = given ?? {}; // also for a `null` from JavaScript: errors reach the caller as rejections
    const hosted = this.hosts.get(id);
    if (!hosted || options.key !== undefined || this.closed) return this.sendChecked(id, event, options);
    // The hot path (hosted here, no key): no async layers between the commit and the caller.
    try {
      validateEvent(event);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.deliverNow(hosted, event).then(undefined, (err: unknown) => this.unlessLockedAway(id, event, options, err));
  }

  private async sendChecked(id: string, event: { type: string; [key: string]: unknown }, options: SendOptions): Promise<SendResult> {
    this.assertOpen();
    validateEvent(event);
    if (options.key !== undefined && (typeof options.key !== 'string' || options.key.length === 0 || options.key.length > 512)) {
      throw new InvalidArgumentError('A send key must be a non-empty string of at most 512 characters');
    }
    const hosted = this.hosts.get(id);
    if (!hosted && !this.loading.has(id)) {
      const meta = await this.store.getMeta(id);
      if (!meta) throw new ExecutionNotFoundError(id);
      if (isFinished(meta.status)) throw new ExecutionFinishedError(id, meta.status);
      if (meta.owner && meta.owner !== this.ownerId && !this.machines.blocked(meta) && (await this.ownership.liveOwner(meta.owner))) {
        return this.sendThroughInbox(id, event as unknown as Json, options.key, options.timeoutMs);
      }
    }
    try {
      return await this.deliverTo(hosted ?? (await this.acquire(id)), event, options.key);
    } catch (err) {
      return this.unlessLockedAway(id, event, options, err);
    }
  }

  /**
   * Another process claimed the execution, between the look at its owner and our claim, or
   * from under the host here (its lease lapsed): it is that owner's now, and the event goes
   * through its inbox (nothing was applied here). Any other error is the caller's.
   */
  private unlessLockedAway(id: string, event: { type: string }, options: SendOptions, err: unknown): Promise<SendResult> {
    if (err instanceof ExecutionLockedError && !this.hosts.has(id)) return this.sendThroughInbox(id, event as unknown as Json, options.key, options.timeoutMs);
    return Promise.reject(err);
  }

  /** Delivers to a hosted execution, applying an idempotency key at most once. */
  private deliverTo(host: HostedExecution, event: { type: string }, key?: string, inbox?: InboxEntry): Promise<SendResult> {
    if (key === undefined) return this.deliverNow(host, event, undefined, inbox);
    return this.deliverKeyed(host, event, key, inbox);
  }

  private async deliverKeyed(host: HostedExecution, event: { type: string }, key: string, inbox?: InboxEntry): Promise<SendResult> {
    const slot = `${host.id}\u0000${key}`;
    const earlier = this.keyed.get(slot);
    if (earlier) return earlier.then((r) => ({ seq: r.seq, duplicate: true }));
    const applied = await this.store.sendKeySeq(host.id, key);
    const concurrent = this.keyed.get(slot);
    if (concurrent) return concurrent.then((r) => ({ seq: r.seq, duplicate: true }));
    if (applied !== undefined) return { seq: applied, duplicate: true };
    const sending = this.deliverNow(host, event, key, inbox);
    this.keyed.set(slot, sending);
    return sending.finally(() => this.keyed.delete(slot));
  }

  /** Not `async`: a send's hot path, one promise reaction from the commit to the caller. */
  private deliverNow(given: HostedExecution, event: { type: string }, sendKey?: string, inbox?: InboxEntry): Promise<SendResult> {
    // Passivated while the send looked its key up: load it again.
    if (given.passivated) return this.acquire(given.id).then((host) => this.deliverNow(host, event, sendKey, inbox));
    const host = given;
    // Crashed and waiting for the supervisor: delivered once it has decided, in the order sent.
    const restarting = host.restarting;
    if (restarting) {
      return restarting.then(() => {
        if (this.closed) throw new RuntimeClosedError();
        const current = this.hosts.get(host.id);
        // Stopped here but not over (rewound, released): sent again the way a new send goes,
        // which waits for the execution's loading. Keyed and inbox sends keep to this host.
        if (!current && host.finished && !isFinished(host.meta.status) && sendKey === undefined && !inbox) {
          return this.sendChecked(host.id, event as { type: string; [key: string]: unknown }, {});
        }
        return this.deliverNow(current ?? host, event, sendKey, inbox);
      });
    }
    if (host.finished) return Promise.reject(new ExecutionFinishedError(host.id, host.meta.status));
    let seq: number | undefined;
    try {
      seq = host.deliver(event, sendKey === undefined && !inbox ? undefined : { ...(sendKey !== undefined ? { sendKey } : {}), ...(inbox ? { inbox } : {}) });
    } catch (err) {
      // The event crashed the actor: the caller learns the supervisor's outcome.
      if (err instanceof AwaitingRestart) return err.outcome.then((restarted) => ({ seq: restarted, duplicate: false }));
      return Promise.reject(err);
    }
    if (seq === undefined) return Promise.reject(new EventNotAcceptedError(host.id, event.type, host.meta.value));
    const { status, error } = host.meta;
    // The event crashed an actor no supervisor decides for (a load working through its inbox):
    // the execution failed with it, and the sender learns that, not a seq.
    if (status === 'failed' && error) return host.commit.then(() => Promise.reject(new ExecutionFailedError(host.id, error)));
    const result: SendResult = { seq, duplicate: false };
    return host.commit.then(() => result);
  }

  /** The sender's side of the inbox: append, then wait for the owner's result. */
  private async sendThroughInbox(id: string, event: Json, key: string | undefined, timeoutMs: number | undefined): Promise<SendResult> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    const n = `${String(Date.now()).padStart(15, '0')}.${this.ownerId}.${String(++this.inboxCounter).padStart(10, '0')}`;
    await this.store.appendInbox(id, { n, event, at: this.ctx.clock.now(), ...(key !== undefined ? { key } : {}) });
    for (;;) {
      this.assertOpen();
      const entry = await this.store.getInboxEntry(id, n);
      if (!entry) throw new ExecutionNotFoundError(id);
      if (entry.result) {
        await this.store.removeInbox(id, n);
        if ('error' in entry.result) throw errorFromRecord(id, entry.result.error);
        return { seq: entry.result.seq, duplicate: entry.result.duplicate ?? false };
      }
      if (!this.hosts.has(id)) {
        const meta = await this.store.getMeta(id);
        if (!meta) throw new ExecutionNotFoundError(id);
        // The owner died before consuming it: take the execution over; the inbox is drained here.
        if (!isFinished(meta.status) && !(await this.ownership.liveOwner(meta.owner))) await this.acquire(id).catch(() => undefined);
      }
      if (Date.now() >= deadline) throw new SendTimeoutError(id, timeoutMs as number);
      await sleep(this.inboxPollMs, undefined, { ref: false });
    }
  }

  /** The owner's side of the inbox: apply events other processes sent to executions run here. */
  private pollInbox(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.inboxPolling ??= this.drainInbox()
      .catch(() => {
        // A failed poll (store closing, a lost claim) is retried at the next tick.
      })
      .finally(() => (this.inboxPolling = undefined));
    return this.inboxPolling;
  }

  private async drainInbox(): Promise<void> {
    // Settled entries whose senders died before collecting them: kept an hour, then swept.
    if (Date.now() - this.lastSweep > INBOX_SWEEP_MS) {
      this.lastSweep = Date.now();
      await this.store.sweepInbox(this.ctx.clock.now() - INBOX_KEEP_MS);
    }
    const pending = await this.store.pendingInbox();
    if (pending.length === 0) return;
    const ids = [...new Set(pending.map((p) => p.id))];
    for (const id of ids) {
      if (this.closed) return;
      let host = this.hosts.get(id);
      if (!host) {
        const meta = await this.store.getMeta(id);
        if (!meta) continue;
        if (isFinished(meta.status)) {
          for (const { entry } of pending.filter((p) => p.id === id)) {
            await this.store.settleInbox(id, { ...entry, result: { error: toErrorRecord(new ExecutionFinishedError(id, meta.status)) } });
          }
          continue;
        }
        if (this.machines.blocked(meta)) continue;
        if (meta.owner !== this.ownerId && (await this.ownership.liveOwner(meta.owner))) continue;
        // Loading it drains its inbox.
        host = await this.acquire(id).catch(() => undefined);
        continue;
      }
      await this.consumeInbox(host);
    }
  }

  /**
   * Applies an execution's pending inbox entries in order, one consumer at a time per execution
   * (the poller and a takeover may both ask), each entry re-read so none is applied twice.
   */
  private consumeInbox(host: HostedExecution): Promise<void> {
    const previous = this.consuming.get(host.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      for (const { entry: listed } of await this.store.pendingInbox(host.id)) {
        const entry = await this.store.getInboxEntry(host.id, listed.n);
        if (!entry || entry.result) continue;
        try {
          const event = entry.event as { type: string };
          validateEvent(event);
          const result = await this.deliverTo(host, event, entry.key, entry);
          if (result.duplicate) await this.store.settleInbox(host.id, { ...entry, result }, host.storeVersion);
        } catch (err) {
          if (err instanceof ExecutionLockedError) return; // no longer ours: the new owner drains it
          await this.store.settleInbox(host.id, { ...entry, result: { error: toErrorRecord(err) } }, host.storeVersion);
        }
      }
    });
    const settled = next.catch(() => {}).finally(() => {
      if (this.consuming.get(host.id) === settled) this.consuming.delete(host.id);
    });
    this.consuming.set(host.id, settled);
    return next;
  }

  /** The execution as committed in the store (also when another process runs it). */
  async get(id: string): Promise<ExecutionInfo | undefined> {
    const meta = await this.store.getMeta(id);
    if (!meta) return undefined;
    const snapshot = (await rebuildSnapshot(this.store, id, meta.seq)) as { context?: Json } | undefined;
    const context = snapshot?.context ?? null;
    const summary = this.summary(meta);
    let accepts: string[] = [];
    if (!isFinished(meta.status) && !summary.blocked) {
      const host = this.hosts.get(id);
      accepts = host && !host.finished ? acceptedEvents(host.snapshot()) : acceptedEventsAt(this.machines.get(meta.machineId).machine, meta.value, context);
    }
    const input = await this.inputOf(meta);
    const timers = (meta.timers ?? []).map((t) => ({ id: t.id, event: t.event, dueAt: new Date(t.dueAt) })).sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
    const effects: EffectInfo[] = await this.store.listEffects(id);
    for (const inFlight of Object.values(meta.effects ?? {})) {
      if (!effects.some((e) => e.key === inFlight.key)) effects.push({ key: inFlight.key, status: 'running', attempts: 0 });
    }
    return { ...summary, context, ...(input !== undefined ? { input } : {}), accepts, timers, effects };
  }

  /** The input an execution started with: journalled with transition 0 (its root ancestor's, for a fork). */
  private async inputOf(meta: ExecutionMeta): Promise<Json | undefined> {
    let [init] = await this.store.readJournal(meta.id, { from: 0, to: 0 });
    if (!init && meta.parent) {
      const chain = await chainOf(this.store, meta.id).catch(() => undefined);
      const root = chain?.segments[0];
      if (root) [init] = await this.store.readJournal(root.id, { from: 0, to: 0 });
    }
    return (init?.event as { input?: Json } | undefined)?.input;
  }

  /**
   * The transitions of an execution, oldest first (or newest first with `reverse`), paged by seq,
   * read from the journal without loading the actor. A fork's history goes on through its
   * parent before its fork point: those entries name the ancestor (`from`), the fork point is
   * marked (`forkPoint`).
   *
   * @example
   * ```ts
   * for (const t of await rt.history(id, { limit: 20 })) console.log(t.seq, t.event, t.value);
   * ```
   */
  async history(id: string, range: HistoryOptions = {}): Promise<HistoryEntry[]> {
    return readHistory(this.store, await chainOf(this.store, id), range);
  }

  /**
   * The execution as it was right after a transition: `{ seq }`, or `{ at }` for the last
   * transition at or before that time. Rebuilt from the nearest keyframe and the patches after
   * it, so it costs the same at seq 10 as at seq 100,000; a fork's points before its fork point
   * are its ancestors'.
   *
   * @example
   * ```ts
   * const { context, timers } = await rt.stateAt(id, { at: new Date('2026-12-01T12:00Z') });
   * ```
   */
  async stateAt(id: string, point: PointOptions): Promise<StateAt> {
    const chain = await chainOf(this.store, id);
    return stateAtOf(id, await pointAt(this.store, chain, await seqOf(this.store, chain, point)));
  }

  /**
   * The RFC 6902 patch from one point of history to another: two seqs of one execution (a
   * fork's include its parent's), or two points of any executions (a fork and its parent).
   *
   * @example
   * ```ts
   * await rt.diff(id, 3, 7);                                 // [{ op: 'replace', path: '/context/n', value: 7 }, …]
   * await rt.diff({ id: parent, seq: 9 }, { id: fork, seq: 9 });
   * ```
   */
  async diff(id: string, seqA: number, seqB: number): Promise<PatchOperation[]>;
  async diff(a: ExecutionPoint, b: ExecutionPoint): Promise<PatchOperation[]>;
  async diff(a: string | ExecutionPoint, b: number | ExecutionPoint, c?: number): Promise<PatchOperation[]> {
    const from = typeof a === 'string' ? { id: a, seq: b as number } : a;
    const to = typeof a === 'string' ? { id: a, seq: c as number } : (b as ExecutionPoint);
    if (typeof from !== 'object' || typeof to !== 'object' || from === null || to === null) throw new InvalidArgumentError('diff takes (id, seqA, seqB) or two { id, seq } points');
    const [x, y] = await Promise.all([from, to].map(async (p) => (await pointAt(this.store, await chainOf(this.store, p.id), p.seq)).snapshot));
    return diffSnapshots(x, y);
  }

  /**
   * Forks an execution at a point of its history into a new execution, which shares the
   * history up to there (referenced, not copied) and goes on with its own. `update` edits the
   * snapshot first (an object merged into the context, or a function of the snapshot); the
   * result must be a state of the machine, or the fork is refused with `InvalidUpdateError`
   * and nothing is written. Timers pending at the point are re-armed with the time they had
   * left; effects in flight there run again with the fork's own keys, or with
   * `effects: 'reuse'` get the parent's recorded results where there are some.
   *
   * @example
   * ```ts
   * const { id: fork } = await rt.fork(id, { seq: 12, update: { model: 'larger' } });
   * await rt.wait(fork);
   * ```
   */
  async fork(id: string, options: ForkOptions): Promise<ForkHandle> {
    this.assertOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('fork needs { seq } or { at }');
    const chain = await chainOf(this.store, id);
    const seq = await seqOf(this.store, chain, options);
    const blocked = this.machines.blocked(chain.meta);
    if (blocked) throw new ExecutionBlockedError(id, blocked.message);
    const entry = this.machines.get(chain.meta.machineId);
    const forkId = options.id ?? randomUUID();
    validateId(forkId);
    const plan = await prepareFork(this.store, entry, chain, seq, options, this.ctx.clock.now());
    this.assertOpen();
    const parent = { id, seq };
    const host = new HostedExecution(this.ctx, entry, forkId);
    const start = options.start ?? true;
    await this.launch(host, () => host.fork(plan.base, plan.snapshot, parent, plan.timers, plan.reuse, !start));
    if (!start) this.unhost(host);
    this.events.next({ type: 'forked', id: forkId, machine: entry.id, parent, at: this.ctx.clock.now() });
    return { id: forkId, parent };
  }

  /**
   * Continues an execution from an earlier point of its own history. What followed that point
   * is kept, as a new execution forked at it (cancelled if this one was still active); forks
   * made after the point first get their own copy of the history they share.
   *
   * @example
   * ```ts
   * const { branch } = await rt.rewind(id, { seq: 12 });
   * ```
   */
  async rewind(id: string, options: RewindOptions): Promise<RewindResult> {
    this.assertOpen();
    const seq = options?.seq;
    const branchId = options?.branchId ?? `${id}~${randomUUID().slice(0, 8)}`;
    validateId(branchId);
    if ((await this.store.getMeta(branchId)) || this.hosts.has(branchId)) throw new ExecutionExistsError(branchId);
    let chain = await chainOf(this.store, id);
    const blocked = this.machines.blocked(chain.meta);
    if (blocked) throw new ExecutionBlockedError(id, blocked.message);
    await checkRewind(this.store, chain, seq);
    const wasHosted = this.hosts.has(id);
    await this.release(id, chain.meta);
    let plan: RewindWrite;
    const now = this.ctx.clock.now();
    try {
      const claim = await this.ownership.claim(id, chain.meta.owner, { reopen: 'any' });
      if (!claim.ok) {
        if (claim.reason === 'owned') throw new ExecutionLockedError(id, claim.owner);
        throw new ExecutionNotFoundError(id);
      }
      // Forks of the history about to move keep theirs, copied.
      for (const fork of await this.store.listForks(id)) if (fork.seq > seq) await materialise(this.store, fork.id);
      chain = await chainOf(this.store, id);
      plan = await prepareRewind(this.store, chain, claim.meta, seq, { branchId, owner: this.ownerId, version: claim.version, now });
      await this.store.rewind(plan);
    } catch (err) {
      // Nothing was rewound: the execution goes on here as it was.
      if (wasHosted) await this.acquire(id).catch(() => undefined);
      throw err;
    }
    this.events.next({ type: 'rewound', id, seq, branch: branchId, at: now });
    if (!isFinished(plan.write.meta.status)) await this.acquire(id);
    return { branch: branchId, seq: seq + 1 };
  }

  /**
   * An execution's family: its ancestors with their fork points, and the tree of its forks.
   *
   * @example
   * ```ts
   * const { ancestors, tree } = await rt.lineage(id);
   * ```
   */
  async lineage(id: string): Promise<Lineage> {
    const meta = await this.store.getMeta(id);
    if (!meta) throw new ExecutionNotFoundError(id);
    return lineageOf(this.store, meta);
  }

  /** Executions, newest id order or by status (oldest in that status first), paged. */
  async list(options: ListOptions = {}): Promise<Page<ExecutionSummary>> {
    if (options.status && !EXECUTION_STATUSES.includes(options.status)) {
      throw new InvalidArgumentError(`Unknown status "${options.status}" (one of ${EXECUTION_STATUSES.join(', ')})`);
    }
    const page = await this.store.list(options);
    return { items: page.items.map((m) => this.summary(m)), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  async stats(): Promise<Stats> {
    const byStatus = await this.store.countByStatus();
    const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
    return { total, byStatus, hosted: this.hosts.size };
  }

  /**
   * Resolves with the output once the execution completes; rejects with
   * {@link ExecutionFailedError} or {@link ExecutionCancelledError}. Works for executions run by
   * another process too (by watching the store). `T` types the output (not checked).
   *
   * @example
   * ```ts
   * const { outcome } = await rt.wait<ResearchOutput>(id);
   * ```
   */
  async wait<T = Json | undefined>(id: string): Promise<T> {
    for (;;) {
      this.assertOpen();
      const host = this.hosts.get(id);
      if (host) {
        await Promise.race([host.settled, this.closing]);
        this.assertOpen();
        // fall through to read the committed outcome from the store
      }
      const meta = await this.store.getMeta(id);
      if (!meta) throw new ExecutionNotFoundError(id);
      if (meta.status === 'completed') return meta.output as T;
      if (meta.status === 'failed') throw new ExecutionFailedError(id, meta.error ?? { name: 'Error', message: 'unknown' });
      if (meta.status === 'cancelled') throw new ExecutionCancelledError(id, meta.cancelReason ?? meta.error?.message);
      if (!this.hosts.has(id)) await sleep(this.pollMs, undefined, { ref: false });
    }
  }

  /** Stops an execution durably: status `cancelled`; its in-flight work gets its abort signal. */
  async cancel(id: string, reason?: string): Promise<void> {
    this.assertOpen();
    const host = await this.acquire(id);
    if (host.finished) throw new ExecutionFinishedError(id, host.meta.status);
    await host.cancel(reason);
  }

  /**
   * Removes an execution and its history. A running one is stopped first. One that has forks is
   * refused (`ExecutionHasForksError`) unless `forks` says to delete them too or to give them
   * their own copy of the history they share ("materialise") first.
   */
  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    this.assertOpen();
    const meta = await this.store.getMeta(id);
    if (!meta) throw new ExecutionNotFoundError(id);
    const mode = options.forks ?? 'refuse';
    if (mode !== 'refuse' && mode !== 'delete' && mode !== 'materialise') throw new InvalidArgumentError(`delete's forks option is 'refuse', 'delete' or 'materialise', got ${JSON.stringify(mode)}`);
    const forks = await this.store.listForks(id);
    if (forks.length && mode === 'refuse') throw new ExecutionHasForksError(id, forks.map((f) => f.id));
    if (forks.length === 0 || mode === 'materialise') {
      await this.release(id, meta);
      for (const fork of forks) await materialise(this.store, fork.id);
      await this.store.delete([id]);
      return;
    }
    // Deepest first, and none until all can go: a tree is never left with a fork missing its history.
    const doomed = [...(await descendantsOf(this.store, id)), id];
    const metas = (await Promise.all(doomed.map((d) => this.store.getMeta(d)))).filter((m): m is ExecutionMeta => m !== undefined);
    for (const m of metas) await this.assertReleasable(m);
    for (const m of metas) await this.release(m.id, m);
    await this.store.delete(metas.map((m) => m.id));
  }

  /** Refuses when another live process runs the execution. */
  private async assertReleasable(meta: ExecutionMeta): Promise<void> {
    if (this.hosts.has(meta.id) || isFinished(meta.status) || meta.owner === this.ownerId) return;
    const owner = await this.ownership.liveOwner(meta.owner);
    if (owner) throw new ExecutionLockedError(meta.id, owner);
  }

  /** Stops hosting an execution here (nothing written), or refuses when another live process runs it. */
  private async release(id: string, meta: ExecutionMeta): Promise<void> {
    const host = this.hosts.get(id);
    if (!host) return this.assertReleasable(meta);
    this.unhost(host);
    await host.commit.catch(() => {});
  }

  /** Removes finished executions (or those of `status`) that entered their status before the cut-off. */
  async cleanup(options: CleanupOptions): Promise<{ deleted: number; kept: number }> {
    this.assertOpen();
    const cutoff = options.olderThan instanceof Date ? options.olderThan.getTime() : this.ctx.clock.now() - options.olderThan;
    if (!Number.isFinite(cutoff)) throw new InvalidArgumentError('cleanup needs olderThan: a Date or an age in ms');
    const statuses: readonly ExecutionStatus[] =
      options.status === undefined ? ['completed', 'failed', 'cancelled'] : typeof options.status === 'string' ? [options.status] : options.status;
    let deleted = 0;
    let kept = 0;
    // An execution whose forks remain keeps their history: it goes in a later round, once they
    // are gone, or stays.
    for (let progress = true; progress; ) {
      progress = false;
      kept = 0;
      for (const status of statuses) {
        let after: ExecutionMeta | undefined;
        for (;;) {
          const metas = await this.store.listSince(status, cutoff, 1000, after);
          after = metas[metas.length - 1];
          if (!after) break;
          const doomed: string[] = [];
          for (const m of metas) {
            if (this.hosts.has(m.id)) continue;
            if ((await this.store.listForks(m.id)).length) kept++;
            else doomed.push(m.id);
          }
          if (doomed.length) await this.store.delete(doomed);
          deleted += doomed.length;
          if (doomed.length) progress = true;
        }
      }
    }
    return { deleted, kept };
  }

  /**
   * Takes over the interrupted executions (owner gone) that this runtime can run, in batches
   * claimed in one transaction each: the `running` ones are restored and continue; the
   * `waiting` ones are claimed and stay in the store, passivated, until an event or a due timer
   * loads them (they are loaded too when passivation is off). Called by `createRuntime` unless `recover: false`; call again to take over executions
   * whose owner's lease has since expired. Resolves with how many were restored.
   *
   * @example
   * ```ts
   * setInterval(() => void rt.recover(), 10_000); // a host that also picks up after dead peers
   * ```
   */
  async recover(): Promise<number> {
    // The registry is applied once per second of a recovery, not per page: each apply copies the
    // whole table, and pages come every 100 ms or so.
    return this.holdingRegistry(() => this.recoverPages());
  }

  private async recoverPages(): Promise<number> {
    let restored = 0;
    let applied = performance.now();
    for (const status of ACTIVE_STATUSES) {
      // Waiting executions are only claimed when passivation is on: they stay in the store until
      // an event or a due timer loads them.
      const load = status === 'running' || this.passivateAfterMs === Infinity;
      let cursor: string | undefined;
      do {
        this.assertOpen();
        const page = await this.store.list({ status, limit: RECOVERY_BATCH, merged: false, ...(cursor ? { cursor } : {}) });
        cursor = page.cursor;
        // The store's reads and claims resolve at once: without these turns a page, its claim
        // and its first restores would hold the loop together.
        await nextTurn();
        this.assertOpen();
        const candidates = page.items.filter((m) => !this.hosts.has(m.id) && !this.loading.has(m.id) && !this.machines.blocked(m));
        restored += load ? await this.restoreBatch(candidates) : await this.claimPassivated(candidates);
        if (performance.now() - applied > 1_000) {
          applied = performance.now();
          this.applyRegistry();
        }
        await nextTurn();
      } while (cursor);
    }
    await this.waker.check();
    return restored;
  }

  /**
   * Claims a batch in one transaction and restores what it got; a concurrent send to one of
   * them waits for its restore (through `loading`). Executions another live process owns, or
   * that cannot be restored, are left: one must not keep the others from running.
   */
  private restoreBatch(metas: readonly ExecutionMeta[], event: 'recovered' | 'woken' = 'recovered'): Promise<number> {
    if (metas.length === 0) return Promise.resolve(0);
    return this.holdingRegistry(() => this.restoreClaimedBatch(metas, event));
  }

  private async restoreClaimedBatch(metas: readonly ExecutionMeta[], event: 'recovered' | 'woken'): Promise<number> {
    const pending = metas.map((meta) => {
      let settle!: { resolve(host: HostedExecution): void; reject(err: unknown): void };
      const promise = new Promise<HostedExecution>((resolve, reject) => (settle = { resolve, reject }));
      // A rejection is the waiting send's to handle, if any.
      this.trackLoading(meta.id, promise).catch(() => {});
      return { meta, settle };
    });
    let claims: ClaimResult[];
    let inbox: Set<string>;
    try {
      claims = await this.ownership.claimMany(metas);
      // One look at the inbox for the batch, not one per execution.
      inbox = new Set((await this.store.pendingInbox()).map((p) => p.id));
    } catch (err) {
      for (const p of pending) p.settle.reject(err);
      throw err;
    }
    let restored = 0;
    // Restored a slice at a time, the event loop served between slices: a large recovery must
    // not hold up the executions already running, nor the process's other work.
    for (let from = 0; from < pending.length; from += RESTORE_SLICE) {
      await nextTurn();
      restored += await this.restoreSlice(pending.slice(from, from + RESTORE_SLICE), claims.slice(from, from + RESTORE_SLICE), inbox, event);
    }
    this.assertOpen();
    return restored;
  }

  /** Restores claimed executions together; settles each one's `loading` promise. */
  private async restoreSlice(
    pending: readonly { meta: ExecutionMeta; settle: { resolve(host: HostedExecution): void; reject(err: unknown): void } }[],
    claims: readonly ClaimResult[],
    inbox: ReadonlySet<string>,
    event: 'recovered' | 'woken',
  ): Promise<number> {
    let restored = 0;
    await Promise.all(
      pending.map(async ({ meta, settle }, i) => {
        try {
          const host = await this.restoreClaimed(meta.id, claims[i] as ClaimResult, inbox.has(meta.id));
          settle.resolve(host);
          restored++;
          if (!this.events.observed) return;
          if (event === 'recovered') this.events.next({ type: 'recovered', id: meta.id, machine: meta.machineId, seq: host.meta.seq, at: this.ctx.clock.now() });
          else this.events.next({ type: 'woken', id: meta.id, at: this.ctx.clock.now() });
        } catch (err) {
          settle.reject(err);
        }
      }),
    );
    return restored;
  }

  /** Claims waiting executions without loading them (recovery with passivation): they are this runtime's to wake. */
  private async claimPassivated(metas: readonly ExecutionMeta[]): Promise<number> {
    if (metas.length === 0) return 0;
    const claims = await this.ownership.claimMany(metas);
    let claimed = 0;
    for (const [i, claim] of claims.entries()) {
      if (!claim.ok) continue;
      claimed++;
      // The claimed row may be older than its journal (see Store.claimMany): read the last seq
      // only for someone listening.
      if (!this.events.observed) continue;
      const meta = metas[i] as ExecutionMeta;
      const [last] = await this.store.readJournal(meta.id, { reverse: true, limit: 1 });
      this.events.next({ type: 'recovered', id: meta.id, machine: meta.machineId, seq: last?.seq ?? claim.meta.seq, at: this.ctx.clock.now() });
    }
    return claimed;
  }

  /**
   * Unloads the executions that have waited unused for `passivateAfterMs` (nothing is written:
   * they stay in the store, owned by this runtime); an event or a due timer loads them again.
   * Runs on its own every second or so; resolves with how many it unloaded.
   */
  passivateIdle(now = Date.now()): number {
    if (this.closed) return 0;
    let unloaded = 0;
    let earliest = Infinity;
    for (const [id, host] of this.hosts) {
      if (now - host.lastActive < this.passivateAfterMs || !host.passivatable() || this.consuming.has(id)) continue;
      for (const t of host.pendingTimers()) earliest = Math.min(earliest, t.dueAt);
      host.passivated = true;
      this.unhost(host);
      this.lifecycles.next({ type: 'stopped', id, at: this.ctx.clock.now() });
      this.events.next({ type: 'passivated', id, at: this.ctx.clock.now() });
      unloaded++;
    }
    if (earliest !== Infinity) this.waker.sleeping(earliest);
    return unloaded;
  }

  /**
   * Loads executions not in memory whose timers fell due, claimed in one transaction; resolves
   * with how many it loaded and the ids that are not this runtime's to wake (another live
   * process owns them, their machine is not registered here, or they finished).
   */
  private async wakeMany(ids: readonly string[]): Promise<{ loaded: number; refused: string[] }> {
    if (this.closed) return { loaded: 0, refused: [] };
    const metas: ExecutionMeta[] = [];
    const refused: string[] = [];
    for (const id of ids) {
      if (this.hosts.has(id) || this.loading.has(id)) continue;
      const meta = await this.store.getMeta(id);
      if (!meta || isFinished(meta.status) || this.machines.blocked(meta)) {
        refused.push(id);
        continue;
      }
      if (meta.owner !== this.ownerId) {
        // Another's: only a recovering runtime takes over executions whose owner is gone.
        if (!this.recovering || (meta.owner && (await this.ownership.liveOwner(meta.owner)))) {
          refused.push(id);
          continue;
        }
      }
      metas.push(meta);
    }
    // A send may have started loading one of them while we read: it is that send's now.
    const free = metas.filter((m) => !this.hosts.has(m.id) && !this.loading.has(m.id));
    const loaded = await this.restoreBatch(free, 'woken');
    return { loaded, refused };
  }

  /** Stops hosting (executions stay running/waiting in the store for the next runtime), closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.markClosed();
    clearInterval(this.inboxTimer);
    clearInterval(this.passivationTimer);
    clearInterval(this.wakerTimer);
    this.waker.stop();
    await this.inboxPolling;
    await Promise.allSettled([...this.loading.values()]);
    const hosts = [...this.hosts.values()];
    this.hosts.clear();
    for (const host of hosts) {
      host.stop(new RuntimeClosedError());
      this.registryChanges.set(host.id, null);
    }
    this.registryFlush?.cancel();
    this.registryFlush = undefined;
    this.registry.trigger.apply({ changes: [...this.registryChanges] });
    this.registryChanges.clear();
    this.supervision.unsubscribe();
    this.events.complete();
    await Promise.allSettled(hosts.map((h) => h.commit));
    await this.ownership.stop();
    await this.store.close();
  }

  private summary(meta: ExecutionMeta): ExecutionSummary {
    const blocked = isFinished(meta.status) ? undefined : this.machines.blocked(meta);
    return {
      id: meta.id,
      machine: meta.machineId,
      machineVersion: meta.machineVersion,
      status: meta.status,
      seq: meta.seq,
      value: meta.value,
      createdAt: new Date(meta.createdAt),
      updatedAt: new Date(meta.updatedAt),
      ...(meta.output !== undefined ? { output: meta.output } : {}),
      ...(meta.error ? { error: meta.error } : {}),
      ...(meta.cancelReason ? { cancelReason: meta.cancelReason } : {}),
      ...(meta.parent ? { parent: meta.parent } : {}),
      ...(meta.owner ? { owner: meta.owner } : {}),
      ...(blocked ? { blocked } : {}),
    };
  }

  /** The hosted execution `id`, loading and claiming it from the store when needed. */
  private acquire(id: string): Promise<HostedExecution> {
    const hosted = this.hosts.get(id);
    if (hosted) return Promise.resolve(hosted);
    return this.loading.get(id) ?? this.trackLoading(id, this.load(id));
  }

  private async load(id: string): Promise<HostedExecution> {
    const meta = await this.store.getMeta(id);
    if (!meta) throw new ExecutionNotFoundError(id);
    if (isFinished(meta.status)) throw new ExecutionFinishedError(id, meta.status);
    const blocked = this.machines.blocked(meta);
    if (blocked) throw new ExecutionBlockedError(id, blocked.message);
    return this.restoreClaimed(id, await this.ownership.claim(id, meta.owner));
  }

  /** Restores an execution this runtime has just claimed, and hosts it unless it finished at once. */
  private async restoreClaimed(id: string, claim: ClaimResult, inbox = true): Promise<HostedExecution> {
    if (!claim.ok) {
      if (claim.reason === 'missing') throw new ExecutionNotFoundError(id);
      if (claim.reason === 'finished') throw new ExecutionFinishedError(id, claim.meta.status);
      throw new ExecutionLockedError(id, claim.owner);
    }
    // The last transition from the journal (a claimed row may be older: see Store.claimMany).
    const rebuilt = await rebuildLatest(this.store, id);
    if (rebuilt === undefined) throw new ExecutionNotFoundError(id);
    this.assertOpen();
    const { last } = rebuilt;
    const meta = last.seq > claim.meta.seq ? { ...claim.meta, seq: last.seq, value: last.value, updatedAt: last.at } : claim.meta;
    const host = new HostedExecution(this.ctx, this.machines.get(meta.machineId), id);
    host.restore(meta, rebuilt.snapshot, claim.version, rebuilt.keyframe);
    // Events other processes sent before this one took over come first, in their order: until
    // they are applied, sends to this id wait on `loading` instead of finding the host.
    if (inbox) await this.consumeInbox(host).catch(() => undefined);
    if (!host.finished) {
      this.hosts.set(id, host);
      const m = host.meta;
      this.hostedChanged(id, { id, machine: m.machineId, status: m.status, value: m.value, seq: m.seq, updatedAt: m.updatedAt });
    }
    return host;
  }

  private assertOpen(): void {
    if (this.closed) throw new RuntimeClosedError();
  }
}

function validateId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 512) {
    throw new InvalidArgumentError(`An execution id must be a non-empty string of at most 512 characters, got ${JSON.stringify(id)}`);
  }
}

function validateEvent(event: unknown): void {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new InvalidEventError(`An event must be an object with a string "type", got ${JSON.stringify(event) ?? String(event)}`);
  }
  const type = (event as { type?: unknown }).type;
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidEventError(`An event must have a non-empty string "type", got ${JSON.stringify(type) ?? String(type)}`);
  }
  if (type.startsWith('xstate.') || type.startsWith('durastate.')) {
    throw new InvalidEventError(`Event type "${type}" is reserved for internal events`);
  }
  try {
    checkJson(event, '/event', false);
  } catch (err) {
    if (err instanceof NonJsonStateError) throw new InvalidEventError(`An event must be JSON data: ${err.path} is ${err.what}`);
    throw err;
  }
}

/** A refusal recorded by another process, as the error class it was there. */
function errorFromRecord(id: string, record: ErrorRecord): DurastateError {
  switch (record.code) {
    case 'EVENT_NOT_ACCEPTED': {
      const err = new EventNotAcceptedError(id, '', undefined);
      err.message = record.message;
      return err;
    }
    case 'EXECUTION_FINISHED':
      return Object.assign(new ExecutionFinishedError(id, ''), { message: record.message });
    default:
      return new DurastateError((record.code ?? 'EXECUTION_FAILED') as ErrorCode, record.message);
  }
}
