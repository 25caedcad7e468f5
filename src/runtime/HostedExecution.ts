import { createActor, type AnyActor, type AnyActorRef, type AnyMachineSnapshot } from 'xstate';
import { EventNotAcceptedError, ExecutionExistsError, ExecutionFailedError, ExecutionFinishedError, NonJsonStateError, toErrorRecord, type ErrorRecord } from '../errors.js';
import { cloneJson } from '../journal/cloneJson.js';
import { checkJson, diffSnapshots } from '../journal/diff.js';
import { KEYFRAME_MIN_BYTES, nextKeyframeState, patchBytes, shouldKeyframe } from '../journal/keyframePolicy.js';
import {
  isFinished,
  type EffectRecord,
  type ExecutionMeta,
  type ExecutionStatus,
  type InboxEntry,
  type JournalEntry,
  type Json,
  type KeyframeState,
  type PatchOperation,
  type Store,
  type TimerRecord,
  type TransitionWrite,
} from '../store/Store.js';
import type { Clock } from './clock.js';
import { EffectRuns } from './effectRuns.js';
import { bindEffectHost, type EffectEvent, type EffectHost, type EffectTicket } from './effects.js';
import type { MachineEntry } from './registry.js';
import type { RetryPolicy } from './retry.js';
import { SnapshotPersister } from './persisted.js';
import { statusOf } from './status.js';
import { NO_PENDING_TIMERS, NO_TIMER_SOURCES, NO_TIMERS, pendingTimers, rearmTimers, sameTimers } from './timers.js';

export interface HostContext {
  store: Store;
  clock: Clock;
  ownerId: string;
  keyframeEvery: number;
  retryPolicy: RetryPolicy;
  onEffectEvent?(id: string, event: EffectEvent): void;
  /** Called when the actor crashes (XState status 'error'); without it a crash fails the execution. */
  onCrash?(host: HostedExecution, error: unknown): void;
  /**
   * Whether a crash of this host will be decided on (restarted or failed): only a host the
   * runtime hosts. A crash before (a start not yet committed, a load working through its inbox)
   * fails the execution at once, as nothing would decide.
   */
  supervises?(host: HostedExecution): boolean;
  /** Called once a transition is committed, with what it wrote and its cause. */
  onCommitted?(host: HostedExecution, write: TransitionWrite, cause: { type: string }): void;
  /** Called once the execution's final transition is committed (or its host gave up). */
  onFinished(host: HostedExecution): void;
}

type Settled = { status: ExecutionStatus; output?: Json; error?: ErrorRecord };

/**
 * One execution hosted in this process: its live XState actor and the write path that commits
 * every transition of it before anything the transition causes is allowed to happen.
 *
 * Transitions are observed where XState applies them (see `observe`), each with its causing
 * event; each becomes one journal entry, written as one transaction. Writes are issued
 * synchronously in transition order and share LMDB commits with other executions' writes.
 */
export class HostedExecution implements EffectHost {
  private actor!: AnyActor;
  /** Delayed events pending as last written. */
  private timers: ReadonlyMap<string, TimerRecord> = NO_TIMERS;
  /** XState's scheduled-event object behind each timer: a new object under a known id is a restart. */
  private timerSources: ReadonlyMap<string, object> = NO_TIMER_SOURCES;
  /** Set when the root took a transition in the event being processed (the snapshot may be the same object). */
  private transitioned = false;
  /** Effects XState started in the transition being processed, waiting for its commit (allocated when one starts). */
  private invoked?: Map<string, (ticket: EffectTicket) => void>;
  /** What the next write also carries: the inbox entry or idempotency key being applied. */
  private attach?: { inbox?: InboxEntry; sendKey?: string };
  meta!: ExecutionMeta;
  /** The last persisted snapshot written (JSON, frozen, sharing branches with the live actor). */
  private prev?: Json;
  private lastSnapshot?: AnyMachineSnapshot;
  /**
   * The store version of the execution (see TransitionWrite): random at creation, so that writes
   * of this host can never match a row that another incarnation of the id created; bumped by
   * each claim.
   */
  private version = 2 + Math.floor(Math.random() * 2 ** 48);
  /** The next record writes even if nothing changed (a retry's transition out of `failed`). */
  private forced = false;
  /** The next transition writes a keyframe whatever the policy says (see `resume`). */
  private keyframeNext = false;
  /** Set until the execution's first transition (`create`, `fork`) is issued: it creates the row. */
  private unwritten = false;
  /** Set for a fork created without being run here: the effects it starts never get their tickets. */
  private dormant = false;
  /** A fork's parent results to deliver to the effects it restarts, by child path (`effects: 'reuse'`). */
  private reuse?: ReadonlyMap<string, EffectRecord>;
  /** Set while the actor is down after a crash, until the supervisor restarts it or gives up. */
  private crashed?: { error: unknown; event: { type: string } };
  /** The `send` whose event crashed the actor: delivered again on restart, its caller waiting. */
  private episode?: Episode;
  /** Writes held back while one call's transitions are processed (see `hold`). */
  private held?: (() => void)[];
  /** Transition 0's write: `create` resolves with it, not with later writes. */
  private created?: Promise<void>;
  /** When the next keyframe is due. */
  private keyframe: KeyframeState = { seq: 0, bytes: 0, patchBytes: 0 };
  /** Resolves when the last issued write is durable. */
  commit: Promise<void> = RESOLVED;
  private creating = false;
  private restoring = false;
  private stopping = false;
  /** Set while `send` delivers an event synchronously, so a failure can go back to the caller. */
  private delivering = false;
  private fault?: unknown;
  private childCheckQueued = false;
  /** The event the root actor is processing (XState reports errors without it). */
  private processing?: { type: string };
  /** How it ended, once it has: `settled` is made only for a caller who waits (most never do). */
  private outcome?: Settled;
  private settledPromise?: Promise<Settled>;
  private settledResolve?: (s: Settled) => void;
  finished = false;
  /** Set when passivation unloaded it (not finished: a send holding it loads it again). */
  passivated = false;
  /** Real time of the last transition or delivery: passivation unloads executions idle long enough. */
  lastActive = Date.now();
  /** Writes issued and not yet settled. */
  private inFlightWrites = 0;
  /** Made with the first effect (most executions restored in a recovery never need it). */
  private runs?: EffectRuns;
  /** Set while a restart delivers the crashing event again (which settles the episode itself). */
  private redelivering = false;
  /** See `restarting`. */
  private crashDealt?: Promise<void>;
  private crashDealtResolve?: () => void;
  private readonly persister: SnapshotPersister;

  constructor(
    private readonly ctx: HostContext,
    readonly entry: MachineEntry,
    readonly id: string,
  ) {
    this.persister = new SnapshotPersister(entry.machine);
  }

  /**
   * Starts a new execution; resolves once transition 0 is durable. A `dormant` one is only
   * written, with no owner, for any runtime that recovers it to run: its effects never start here.
   */
  async create(input: unknown, dormant = false): Promise<void> {
    this.dormant = dormant;
    this.meta = this.newMeta(-1);
    // The input is journalled with transition 0 (XState's init event carries it), not kept in
    // the meta that every transition rewrites.
    if (input !== undefined) checkJson(input, '/input', false);
    this.unwritten = true;
    this.creating = true;
    this.spawn({ input });
    const saved = this.hold();
    try {
      this.actor.start();
    } finally {
      this.creating = false;
    }
    this.releaseFirst(saved);
    await this.created;
    await this.commit;
  }

  /**
   * Starts a fork: a new execution that continues from `snapshot` (its parent's at `parent.seq`,
   * perhaps edited; `base` is the parent's as it was) with its own transition `parent.seq + 1`,
   * written with a keyframe. `timers` are re-armed with their due times as given; effects in
   * flight in the snapshot start again with this execution's own keys, and get the result in
   * `reuse` for their child path instead of running, where there is one. Rejects, writing
   * nothing, when XState cannot continue from the snapshot.
   */
  async fork(
    base: Json,
    snapshot: Json,
    parent: { id: string; seq: number },
    timers: readonly TimerRecord[],
    reuse: ReadonlyMap<string, EffectRecord>,
    dormant = false,
  ): Promise<void> {
    // Dormant: created only, with no owner, to run when recovered; its effects must not start here.
    this.dormant = dormant;
    const now = this.ctx.clock.now();
    this.meta = { ...this.newMeta(parent.seq), parent };
    this.prev = base; // the fork's first patch is from its parent's snapshot
    this.unwritten = true;
    this.reuse = reuse;
    this.creating = true;
    this.restoring = true;
    const saved = this.hold();
    try {
      this.spawn({ snapshot: snapshot as never });
      this.actor.start();
      this.timerSources = rearmTimers(this.actor, timers, now);
      this.restoring = false;
      const started = this.actor.getSnapshot() as AnyMachineSnapshot;
      if (started.status === 'error') throw started.error;
      this.forced = true;
      this.record({ type: 'durastate.fork', parent } as { type: string }, started, true);
    } catch (err) {
      this.fault ??= err;
    } finally {
      this.creating = false;
      this.restoring = false;
    }
    this.releaseFirst(saved);
    await this.created;
    await this.commit;
  }

  /**
   * The end of `create` and `fork`: the transitions held while the actor started are issued
   * together, or, if one of them could not be committed, none is, the actor stops and the fault
   * is thrown. Synchronous: the callers await the commits themselves, so that they resolve on
   * the same turn as before this was shared (memory-vs-LMDB runs compare clock readings).
   */
  private releaseFirst(saved: ReturnType<HostedExecution['hold']>): void {
    if (this.fault) {
      const fault = this.fault;
      this.drop(saved);
      if (this.actor) this.stopActor();
      throw fault;
    }
    this.release();
  }

  /** The row of an execution about to write its first transition, `seq + 1`; no owner when dormant. */
  private newMeta(seq: number): ExecutionMeta {
    const now = this.ctx.clock.now();
    return {
      id: this.id,
      machineId: this.entry.id,
      machineVersion: this.entry.version,
      status: 'waiting',
      statusSince: now,
      seq,
      value: null,
      createdAt: now,
      updatedAt: now,
      ...(this.dormant ? {} : { owner: this.ctx.ownerId }),
    };
  }

  /** Continues a stored execution from its snapshot at `meta.seq`, with its timers re-armed. */
  restore(meta: ExecutionMeta, snapshot: Json, version: number, keyframe: KeyframeState): void {
    this.meta = { ...meta, owner: this.ctx.ownerId };
    this.version = version;
    this.keyframe = keyframe;
    this.timers = meta.timers?.length ? new Map(meta.timers.map((t) => [t.id, t])) : NO_TIMERS;
    this.timerSources = NO_TIMER_SOURCES;
    this.invoked = undefined;
    // XState mutates the snapshot it restores from: keep our own copy as the diff baseline.
    this.prev = cloneJson(snapshot);
    this.restoring = true;
    this.spawn({ snapshot: snapshot as never });
    try {
      this.actor.start();
      // Delayed events are not in XState's persisted snapshot: schedule them again.
      this.timerSources = rearmTimers(this.actor, meta.timers ?? [], this.ctx.clock.now());
    } finally {
      this.restoring = false;
    }
    // Restarted children may have changed something, or started effects that need keys.
    this.record({ type: 'durastate.restore' }, this.actor.getSnapshot() as AnyMachineSnapshot, true);
  }

  /** The live machine snapshot (for `can`, accepted events). */
  snapshot(): AnyMachineSnapshot {
    return this.actor.getSnapshot() as AnyMachineSnapshot;
  }

  /**
   * Delivers an event synchronously. Returns the seq of the transition it caused, or undefined
   * when the current state does not accept it; throws (leaving the actor at its last committed
   * snapshot) when the transition cannot be committed. `attach` is written with the transition.
   */
  deliver(event: { type: string }, attach?: { inbox?: InboxEntry; sendKey?: string }): number | undefined {
    const before = this.meta.seq;
    this.delivering = true;
    this.attach = attach;
    const saved = this.hold();
    try {
      this.actor.send(event);
    } finally {
      this.delivering = false;
      this.attach = undefined;
    }
    if (this.fault) {
      const fault = this.fault;
      this.drop(saved);
      this.rollback();
      throw fault;
    }
    if (this.crashed && this.episode) {
      // The transitions of this call are not written; the restart delivers the event again.
      this.drop(saved);
      throw new AwaitingRestart(this.episode.outcome);
    }
    this.release();
    return this.meta.seq !== before ? this.meta.seq : undefined;
  }

  /** Writes a transition caused by `cause` from the restored state (a retry leaving `failed`). */
  resume(cause: { type: string }): Promise<void> {
    this.forced = true;
    // The snapshot resumed from may be older than the journal's last (a retry skips XState's
    // error snapshot): later patches must not rest on the entry in between.
    this.keyframeNext = true;
    this.record(cause, this.actor.getSnapshot() as AnyMachineSnapshot, true);
    return this.commit;
  }

  /**
   * While the actor has crashed and the supervisor has not decided yet: resolves once it has
   * (restarted or failed) or the host stopped. A send meanwhile waits for it instead of meeting
   * the crashed actor, which would refuse every event.
   */
  get restarting(): Promise<void> | undefined {
    if (!this.crashed || this.finished) return undefined;
    this.crashDealt ??= new Promise<void>((resolve) => (this.crashDealtResolve = resolve));
    return this.crashDealt;
  }

  /** Refuses the crashing send with `error` once the writes issued so far are settled. */
  private rejectOnceWritten(episode: Episode, error: unknown): void {
    this.commit.then(
      () => episode.reject(error),
      () => episode.reject(error),
    );
  }

  private endEpisode(error: unknown): void {
    const episode = this.episode;
    this.episode = undefined;
    episode?.reject(error);
  }

  private crashDealtWith(): void {
    const resolve = this.crashDealtResolve;
    this.crashDealt = this.crashDealtResolve = undefined;
    resolve?.();
  }

  /** The supervisor's restart: from the last committed snapshot, the crashing event delivered again. */
  restartAfterCrash(): void {
    if (!this.crashed || this.finished) return;
    try {
      this.restartNow();
    } finally {
      // Crashed again on the way: the sends waiting look again and wait for the next decision.
      this.crashDealtWith();
    }
  }

  private restartNow(): void {
    this.crashed = undefined;
    this.restoreLastCommitted();
    const episode = this.episode;
    if (!episode) return;
    let seq: number | undefined;
    this.redelivering = true;
    try {
      seq = this.deliver(episode.event, episode.attach);
    } catch (err) {
      if (err instanceof AwaitingRestart) return; // crashed again: the supervisor decides again
      this.episode = undefined;
      episode.reject(err);
      return;
    } finally {
      this.redelivering = false;
    }
    this.episode = undefined;
    if (seq === undefined) episode.reject(new EventNotAcceptedError(this.id, episode.event.type, this.meta.value));
    else this.commit.then(() => episode.resolve(seq), episode.reject);
  }

  /** The supervisor's escalation: the execution fails with the error recorded, at its last committed snapshot. */
  escalate(error: unknown, attempts: number): void {
    if (this.finished) return;
    const crash = this.crashed;
    const episode = this.episode;
    this.crashed = undefined;
    this.episode = undefined;
    const cause = episode?.event ?? crash?.event ?? { type: 'xstate.error' };
    const record: ErrorRecord = { ...toErrorRecord(error), state: this.meta.value, event: cause.type, attempts };
    try {
      this.stopActor();
      this.writeTerminal(cause, 'failed', record);
    } finally {
      this.crashDealtWith();
    }
    if (episode) this.rejectOnceWritten(episode, new ExecutionFailedError(this.id, record));
  }

  /**
   * Holds back the writes of the transitions one call causes (an event can cause several: a
   * child answering synchronously, an eventless chain of sends), so that they are issued all
   * together, or not at all when one of them cannot be committed: a rejected `send` or `start`
   * has changed nothing.
   */
  private hold(): { meta: ExecutionMeta; prev: Json | undefined; timers: ReadonlyMap<string, TimerRecord>; timerSources: ReadonlyMap<string, object>; keyframe: KeyframeState } {
    this.held = [];
    return { meta: this.meta, prev: this.prev, timers: this.timers, timerSources: this.timerSources, keyframe: this.keyframe };
  }

  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const emit of held) emit();
  }

  private drop(saved: ReturnType<HostedExecution['hold']>): void {
    this.held = undefined;
    this.meta = saved.meta;
    this.prev = saved.prev;
    this.timers = saved.timers;
    this.timerSources = saved.timerSources;
    this.keyframe = saved.keyframe;
  }

  // EffectHost: how the durable effects of this execution reach the store.

  get clock(): Clock {
    return this.ctx.clock;
  }

  get retryPolicy(): RetryPolicy {
    return this.ctx.retryPolicy;
  }

  invokeEffect(childId: string): Promise<EffectTicket> {
    const known = this.meta.effects?.[childId];
    if (this.restoring && known) {
      // Restarted by a restore: the same invocation, the same key; the store says how far it got.
      // A rollback restores what was issued, which may not be committed yet: commit before effect
      // (a write that fails stops the host, and this ticket never comes).
      const issued = this.commit;
      return issued.then(
        () => this.ctx.store.getEffect(this.id, known.key).then((record) => ({ key: known.key, ...(record ? { record } : {}) })),
        () => new Promise<EffectTicket>(() => {}),
      );
    }
    return new Promise((resolve) => (this.invoked ??= new Map()).set(childId, resolve));
  }

  recordEffect(_childId: string, record: EffectRecord): Promise<void> {
    const written = this.ctx.store.putEffect(this.id, record, this.version);
    this.ctx.clock.track?.(written);
    // A record that cannot be written is the host's failure, not the effect's: it must not
    // reach the machine's onError (a payment that went through must not be compensated).
    // The host stops, and the effect's promise never settles.
    return written.catch((err: unknown) => {
      this.onCommitFailed(err);
      return new Promise<void>(() => {});
    });
  }

  get effectRuns(): EffectRuns {
    this.runs ??= new EffectRuns();
    return this.runs;
  }

  onEffectEvent(event: EffectEvent): void {
    this.ctx.onEffectEvent?.(this.id, event);
  }

  /** The store version this host writes at (see TransitionWrite): fences its other writes too. */
  get storeVersion(): number {
    return this.version;
  }

  /**
   * Whether the execution can leave memory now without anything lost: waiting (only an event or
   * a timer can move it), no effect in flight, nothing being written, not crashed.
   */
  passivatable(): boolean {
    return (
      !this.finished &&
      !this.crashed &&
      !this.held &&
      this.inFlightWrites === 0 &&
      !this.invoked?.size &&
      this.meta.status === 'waiting' &&
      Object.keys(this.meta.effects ?? {}).length === 0
    );
  }

  /** Timers pending now, as last committed. */
  pendingTimers(): TimerRecord[] {
    return [...this.timers.values()];
  }

  /** Stops the actor without writing anything (runtime closing, execution deleted). */
  stop(reason?: unknown): void {
    if (this.actor) this.stopActor();
    this.runs?.abortAll(new Error(`execution ${this.id} stopped here`));
    // The send whose event crashed the actor, if the supervisor had not decided yet: never applied.
    this.endEpisode(reason ?? new ExecutionFinishedError(this.id, this.meta?.status ?? 'waiting'));
    this.crashDealtWith();
    if (!this.finished) {
      this.finished = true;
      this.settle({ status: this.meta?.status ?? 'waiting' });
    }
  }

  /** Ends the execution as cancelled, durably. */
  cancel(reason: string | undefined): Promise<void> {
    this.stopActor();
    this.writeTerminal({ type: 'durastate.cancel', ...(reason ? { reason } : {}) }, 'cancelled', undefined, reason);
    return this.commit;
  }

  /** A new actor of the machine, observed, its effects routed here, its errors caught. */
  private spawn(options: { input?: unknown; snapshot?: never }): void {
    this.actor = createActor(this.entry.machine, { ...options, clock: this.ctx.clock });
    this.observe(this.actor);
    bindEffectHost(this.actor.system, this);
    this.watchErrors();
  }

  private watchErrors(): void {
    // An actor in status 'error' without an error observer throws an uncaught exception that
    // would take the process down. XState reports the error to observers only (no inspected
    // snapshot), so the failure is recorded from here, caused by the event being processed.
    this.actor.subscribe({
      error: (error: unknown) => {
        if (this.stopping || this.finished) return;
        if (this.creating || this.restoring || !this.ctx.onCrash || this.ctx.supervises?.(this) === false) {
          this.record(this.processing ?? { type: 'xstate.error' }, this.actor.getSnapshot() as AnyMachineSnapshot);
          return;
        }
        // A crash: nothing of it is written. The supervisor decides whether the execution is
        // restarted from its last committed snapshot (the event that crashed it delivered again)
        // or fails. An event from `send` is kept for that, and its caller waits for the outcome.
        this.crashed = { error, event: this.processing ?? { type: 'xstate.error' } };
        if (this.delivering && !this.episode) this.episode = newEpisode(this.processing ?? { type: 'xstate.error' }, this.attach);
        this.ctx.onCrash(this, error);
      },
    });
  }

  private stopActor(): void {
    this.stopping = true;
    try {
      this.actor.stop();
    } finally {
      this.stopping = false;
    }
  }

  /**
   * Hooks the two places every transition passes, instead of XState's `inspect` (which builds
   * an inspection event for every event, microstep and action: several times the cost of the
   * transition itself). Both are internal to XState 5 (`system._relay`, through which every event
   * between actors and from outside goes; `Actor.update`, called once per macrostep with the
   * new snapshot and its causing event); the tests pin their behaviour.
   */
  private observe(actor: AnyActor): void {
    const system = actor.system as unknown as { _relay(source: unknown, target: AnyActorRef, event: { type: string }): void };
    const relay = system._relay;
    system._relay = (source, target, event) => {
      if (target === actor) this.processing = event;
      relay(source, target, event);
      if (target !== actor) this.childChanged(target, event);
    };
    const root = actor as unknown as { update(snapshot: AnyMachineSnapshot, event: { type: string }): void };
    const update = root.update.bind(actor);
    root.update = (snapshot, event) => {
      update(snapshot, event);
      if (this.stopping || this.finished || this.actor !== actor) return;
      // XState returns the same snapshot object for a transition that changes neither value nor
      // context (an action-only transition, a cancelled timer): still a transition to record.
      if (snapshot === this.lastSnapshot && event.type !== 'xstate.init') this.transitioned = canSafely(snapshot, event);
      this.record(event, snapshot);
    };
  }

  /** A child processed an event: if the root does not transition in the same turn, persist the child's change. */
  private childChanged(child: AnyActorRef, event: { type: string }): void {
    if (this.childCheckQueued || this.stopping || this.finished) return;
    this.childCheckQueued = true;
    const cause = { type: 'xstate.child', child: child.id, event: event.type };
    queueMicrotask(() => {
      this.childCheckQueued = false;
      if (!this.stopping && !this.finished && !this.fault) this.record(cause, this.actor.getSnapshot() as AnyMachineSnapshot, true);
    });
  }

  private record(cause: { type: string }, snapshot: AnyMachineSnapshot, childOnly = false): void {
    // Crashed: nothing is written until the supervisor decides (a child of the crashed actor
    // finishing meanwhile must not write its error snapshot as a failure).
    if (this.fault || this.crashed) return;
    const transitioned = this.transitioned;
    this.transitioned = false;
    // An event with no transition is not journalled, unless it consumed a timer (a delayed event
    // a guard then refused): the stored timer must go, or it would fire again after a restore.
    if (snapshot === this.lastSnapshot && !childOnly && !transitioned && (this.restoring || sameTimers(this.timers, this.currentTimers().timers))) return;
    if (this.restoring) {
      // The restore records once it is complete (see `restore`): nothing to compare before.
      this.lastSnapshot = snapshot;
      return;
    }
    try {
      let persisted = this.persistedOf(snapshot);
      let patch: PatchOperation[];
      try {
        patch = this.patchTo(persisted);
      } catch (err) {
        // Refused in the fast form: an actor ref in context is not JSON until XState's own form
        // replaces it by its id. If that form passes, keep to it.
        if (!(err instanceof NonJsonStateError) || !this.persister.lastFast) throw err;
        persisted = this.persistedOf(snapshot, true);
        patch = this.patchTo(persisted);
        this.persister.useXState();
      }
      this.lastSnapshot = snapshot;
      if (patch.length === 0 && childOnly && !this.forced && !this.invoked?.size && sameTimers(this.timers, this.currentTimers().timers)) {
        // The same as the baseline, and now frozen by the diff: keep it instead (after a restore
        // the baseline is a copy of the stored snapshot, which would double its memory).
        this.prev = persisted as Json;
        return;
      }
      this.forced = false;
      this.write(cause, persisted as Json, patch, statusOf(snapshot), snapshot);
    } catch (err) {
      this.onFault(err, cause);
    }
  }

  private persistedOf(snapshot: AnyMachineSnapshot, xstate = false): Record<string, unknown> {
    const persisted = xstate ? this.persister.xstate(snapshot) : this.persister.of(snapshot);
    return snapshot.status === 'error' ? { ...persisted, error: toErrorRecord(snapshot.error) } : persisted;
  }

  /** The patch from the last written snapshot (none for the first, which is checked whole). */
  private patchTo(persisted: Record<string, unknown>): PatchOperation[] {
    if (this.prev !== undefined) return diffSnapshots(this.prev, persisted);
    checkJson(persisted, '');
    return [];
  }

  private write(cause: { type: string }, persisted: Json, patch: PatchOperation[], status: ExecutionStatus, snapshot?: AnyMachineSnapshot): void {
    const first = this.unwritten;
    this.unwritten = false;
    const seq = this.meta.seq + 1;
    const now = this.ctx.clock.now();
    const bytes = patchBytes(patch);
    const final = isFinished(status);
    // A restored keyframe's size is measured when the byte rule can first need it (see KeyframeState).
    if (this.keyframe.bytes < 0 && this.keyframe.patchBytes + bytes > KEYFRAME_MIN_BYTES) this.keyframe = { ...this.keyframe, bytes: JSON.stringify(this.prev).length };
    const keyframe = first || this.keyframeNext || shouldKeyframe(this.keyframe, seq, bytes, final, this.ctx.keyframeEvery);
    this.keyframeNext = false;
    this.keyframe = nextKeyframeState(this.keyframe, seq, bytes, keyframe ? JSON.stringify(persisted).length : undefined);
    const previous = first ? undefined : { status: this.meta.status, statusSince: this.meta.statusSince };
    // Whether the execution's row changes beyond seq, value and time (which the journal carries).
    let rowChanged = first || final || previous?.status !== status;
    const meta: ExecutionMeta = {
      ...this.meta,
      seq,
      status,
      statusSince: previous && previous.status === status ? previous.statusSince : now,
      value: (persisted as { value?: Json }).value ?? null,
      updatedAt: now,
    };
    if (status === 'completed') meta.output = (persisted as { output?: Json }).output ?? null;
    // Reopened (a fork or rewind of a cancelled execution's past): the reason no longer holds.
    if (meta.cancelReason !== undefined && status !== 'cancelled') delete meta.cancelReason;
    if (status === 'failed' && snapshot) meta.error = toErrorRecord(snapshot.error);

    // Delayed events pending after this transition (none once it is finished).
    const { timers, sources } = final ? NO_PENDING_TIMERS : this.currentTimers();
    const timerChanges = diffTimers(this.timers, timers);
    if (timerChanges) {
      meta.timers = [...timers.values()];
      rowChanged = true;
    }

    // Effects: the ones XState started in this transition get their keys; finished ones leave.
    const started = this.invoked?.size ? [...this.invoked] : NO_INVOCATIONS;
    if (started.length) this.invoked = undefined;
    const known = this.meta.effects ?? NO_EFFECTS;
    let effectsChanged = false;
    // A fork's parent results for the effects it starts again (rare: none on the hot path).
    let reused: EffectRecord[] | undefined;
    // Invocations this transition ends (the machine left their state): their runs end once it is committed.
    let ended: string[] | undefined;
    if (started.length || (known !== NO_EFFECTS && Object.keys(known).some((path) => final || !hasChild(persisted, path)))) {
      const effects: Record<string, { key: string; seq: number }> = {};
      for (const [path, effect] of Object.entries(known)) {
        if (!final && hasChild(persisted, path)) effects[path] = effect;
        else (ended ??= []).push(effect.key);
      }
      for (const [childId] of started) {
        const key = `${this.id}/${childId}@${seq}${this.meta.rewinds ? `~${this.meta.rewinds}` : ''}`;
        // Invoked again under the same path (its state re-entered): the earlier invocation ends.
        const replaced = effects[childId];
        if (replaced && replaced.key !== key) (ended ??= []).push(replaced.key);
        effects[childId] = { key, seq };
        const record = this.reuse?.get(childId);
        if (record) (reused ??= []).push({ ...record, key });
      }
      meta.effects = effects;
      rowChanged = effectsChanged = true;
    }
    this.reuse = undefined;

    const entry: JournalEntry = { seq, at: now, event: journalEvent(cause), patch, value: meta.value, status };
    // What is pending after this transition, where it changed and at keyframes: so the timers
    // and effects at any seq can be read back from the keyframe before it (forks, stateAt).
    if (timerChanges || (keyframe && timers.size)) entry.timers = [...timers.values()];
    if (effectsChanged || (keyframe && meta.effects && Object.keys(meta.effects).length)) entry.effects = meta.effects ?? {};
    const write: TransitionWrite = { id: this.id, version: this.version, entry };
    if (reused) write.effects = reused;
    if (rowChanged) write.meta = meta;
    if (keyframe) write.keyframe = persisted;
    if (previous) write.previous = previous;
    if (timerChanges) write.timers = timerChanges;
    if (this.attach?.inbox) write.inbox = { ...this.attach.inbox, result: { seq } };
    if (this.attach?.sendKey !== undefined) write.sendKey = this.attach.sendKey;
    this.attach = undefined;
    this.meta = meta;
    this.prev = persisted;
    this.timers = timers;
    this.timerSources = sources;
    const emit = (): void => {
      const commit = this.issue(write, first);
      this.commit = commit;
      this.lastActive = Date.now();
      this.inFlightWrites++;
      this.ctx.clock.track?.(commit);
      // One reaction per commit for everything that follows it (a transition's hot path).
      commit.then(
        () => {
          this.inFlightWrites--;
          if (ended) for (const key of ended) this.runs?.release(key, new Error(`effect ${key} is no longer in flight`));
          try {
            this.ctx.onCommitted?.(this, write, cause);
          } finally {
            // Commit before effect: the effects' code starts once this transition is durable
            // (whatever an observer did).
            if (started.length && !this.dormant) this.startEffects(started, meta.effects ?? {}, reused ?? []);
          }
        },
        (err: unknown) => {
          this.inFlightWrites--;
          this.onCommitFailed(err);
        },
      );
      if (final) this.finish();
    };
    if (this.held) this.held.push(emit);
    else emit();
  }

  private currentTimers(): { timers: Map<string, TimerRecord>; sources: Map<string, object> } {
    return pendingTimers(this.actor, this.timers, this.timerSources, this.ctx.clock.now());
  }

  private issue(write: TransitionWrite, first: boolean): Promise<void> {
    if (!first || !write.meta) return this.ctx.store.append(write);
    this.created = this.ctx.store.create({ ...write, meta: write.meta }).then((created) => {
      if (!created) throw new ExecutionExistsError(this.id);
    });
    return this.created;
  }

  /** Hands the effects XState started in a committed transition their keys (and reused results). */
  private startEffects(started: readonly [string, (ticket: EffectTicket) => void][], effects: Record<string, { key: string }>, reused: readonly EffectRecord[]): void {
    for (const [childId, resolve] of started) {
      const key = (effects[childId] as { key: string }).key;
      const record = reused.find((r) => r.key === key);
      resolve({ key, ...(record ? { record } : {}) });
    }
  }

  /**
   * A transition that cannot be committed. During `send` the caller gets the error and the actor
   * goes back to its last committed snapshot; otherwise (an internal event) the execution fails
   * with the error recorded and keeps its last committed snapshot.
   */
  private onFault(err: unknown, cause: { type: string }): void {
    this.fault = err;
    // Effects XState started in the transition that cannot be committed must never run.
    this.invoked = undefined;
    if (this.delivering || this.creating) return;
    // Not inside XState's processing: stopping an actor from its own inspection callback would
    // let XState carry on with a stopped actor.
    queueMicrotask(() => {
      if (this.finished) return;
      this.stopActor();
      this.fault = undefined;
      this.writeTerminal(cause, 'failed', toErrorRecord(err));
    });
  }

  /** A terminal transition that keeps the last committed snapshot (cancel, uncommittable state). */
  private writeTerminal(cause: { type: string; [k: string]: unknown }, status: 'failed' | 'cancelled', error?: ErrorRecord, cancelReason?: string): void {
    if (this.prev === undefined) return;
    this.invoked = undefined;
    const base = { ...this.meta, ...(error ? { error } : {}), ...(cancelReason ? { cancelReason } : {}) };
    this.meta = base;
    this.write(cause, this.prev, [], status);
  }

  private rollback(): void {
    this.fault = undefined;
    this.invoked = undefined;
    this.restoreLastCommitted();
  }

  /**
   * A new actor from the last snapshot written (a rollback, a crash restart). The effects in
   * flight go on: the restored actor joins their runs (see EffectRuns).
   */
  private restoreLastCommitted(): void {
    this.stopActor();
    try {
      this.restore(this.meta, cloneJson(this.prev) as Json, this.version, this.keyframe);
    } finally {
      this.keepRestoredRuns();
    }
  }

  /**
   * After a restore: the runs of effects the restored state does not have in flight end. The
   * restored state is what was issued, so a run whose leaving transition is issued and not yet
   * committed ends a little early here; if that commit fails, the host stops anyway.
   */
  private keepRestoredRuns(): void {
    const effects = this.meta.effects;
    this.runs?.keepOnly((key) => {
      for (const path in effects) if (effects[path]?.key === key) return true;
      return false;
    }, new Error(`effect no longer in flight in execution ${this.id}`));
  }

  /** Resolves once the execution is finished and that is committed. */
  get settled(): Promise<Settled> {
    this.settledPromise ??= this.outcome ? Promise.resolve(this.outcome) : new Promise((resolve) => (this.settledResolve = resolve));
    return this.settledPromise;
  }

  /** The first outcome wins, as a promise's first resolution does. */
  private settle(outcome: Settled): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.settledResolve?.(outcome);
  }

  private onCommitFailed(err: unknown): void {
    // The store refused a write: what is in memory is ahead of what is durable. Stop here so
    // that nothing depends on an uncommitted transition; recovery resumes from the store.
    if (!this.finished) {
      this.stopActor();
      this.runs?.abortAll(err);
      this.endEpisode(err);
      this.crashDealtWith();
      this.finished = true;
      this.settle({ status: 'failed', error: toErrorRecord(err) });
      this.ctx.onFinished(this);
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    // Ended while a crash waited for the supervisor (cancelled, or failed by a restart's restore):
    // the crashing event was never applied; its sender learns how it ended once that is committed.
    // (A restart delivering it again, which may finish the execution, settles it itself.)
    if (!this.redelivering && this.episode) {
      const episode = this.episode;
      this.episode = undefined;
      const { status, error } = this.meta;
      this.rejectOnceWritten(episode, status === 'failed' && error ? new ExecutionFailedError(this.id, error) : new ExecutionFinishedError(this.id, status));
    }
    this.crashDealtWith();
    this.runs?.abortAll(new Error(`execution ${this.id} is ${this.meta.status}`));
    const { status, output, error } = this.meta;
    this.commit.then(
      () => {
        this.settle({ status, ...(output !== undefined ? { output } : {}), ...(error ? { error } : {}) });
        this.ctx.onFinished(this);
      },
      () => {}, // onCommitFailed settles it
    );
  }
}

/** The causing event as stored: JSON, or its type alone when its payload is not JSON. */
function journalEvent(event: { type: string }): Json {
  try {
    checkJson(event, '/event', false);
    return event as unknown as Json;
  } catch {
    return { type: event.type, payload: 'not JSON' };
  }
}

/** Timer rows to add and remove between two sets, or undefined when they hold the same timers. */
function diffTimers(before: ReadonlyMap<string, TimerRecord>, after: ReadonlyMap<string, TimerRecord>): TransitionWrite['timers'] {
  if (sameTimers(before, after)) return undefined;
  // A timer scheduled again under its id moves: its old row goes, its new one comes.
  return {
    add: [...after.values()].filter((t) => before.get(t.id)?.dueAt !== t.dueAt),
    remove: [...before.values()].filter((t) => after.get(t.id)?.dueAt !== t.dueAt),
  };
}

/** Whether the persisted snapshot has a child at `path` (child ids joined by `/`, nested machines included). */
function hasChild(persisted: Json, path: string): boolean {
  let at = persisted as { children?: Record<string, { snapshot?: unknown }> } | undefined;
  const ids = path.split('/');
  for (let i = 0; i < ids.length; i++) {
    const child = at?.children?.[ids[i] as string];
    if (!child) return false;
    at = child.snapshot as typeof at;
  }
  return true;
}

const RESOLVED: Promise<void> = Promise.resolve();
const NO_INVOCATIONS: [string, (ticket: EffectTicket) => void][] = [];
const NO_EFFECTS: Record<string, { key: string; seq: number }> = Object.freeze({}) as Record<string, { key: string; seq: number }>;

/** `snapshot.can(event)`, false when a guard throws on the bare event. */
function canSafely(snapshot: AnyMachineSnapshot, event: { type: string }): boolean {
  try {
    return snapshot.status === 'active' && snapshot.can(event as never);
  } catch {
    return false;
  }
}

interface Episode {
  event: { type: string };
  attach: { inbox?: InboxEntry; sendKey?: string } | undefined;
  outcome: Promise<number>;
  resolve(seq: number): void;
  reject(err: unknown): void;
}

function newEpisode(event: { type: string }, attach: Episode['attach']): Episode {
  let resolve!: (seq: number) => void;
  let reject!: (err: unknown) => void;
  const outcome = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  outcome.catch(() => {}); // the caller of send gets it; nobody else must see it unhandled
  return { event, attach: attach ? { ...attach } : undefined, outcome, resolve, reject };
}

/** Thrown by `deliver` when the event crashed the actor: its outcome comes with the supervisor's decision. */
export class AwaitingRestart {
  constructor(readonly outcome: Promise<number>) {}
}
