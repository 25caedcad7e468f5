import { open, type Database, type DatabaseOptions, type Key, type RootDatabase } from 'lmdb';
import { InvalidArgumentError, lockedBy, type ExecutionLockedError, SchemaVersionError, StoreFailureError } from '../errors.js';
import { enterClose, enterOpen, registerWriter } from './openGate.js';
import { compareListKeys, decodeCursor, encodeCursor, pageLimit, type ListKey } from './cursor.js';
import {
  EXECUTION_STATUSES,
  SCHEMA_VERSION,
  claimable,
  inheritedEntry,
  type ClaimResult,
  type EffectRecord,
  type InboxEntry,
  type ExecutionMeta,
  type ExecutionStatus,
  type HistorySegment,
  type JournalEntry,
  type JournalRange,
  type Json,
  type ListQuery,
  type OwnerRecord,
  type Page,
  type RewindWrite,
  type Store,
  type TransitionWrite,
  type DueTimer,
} from './Store.js';

export interface LmdbStoreOptions {
  /** Folder of the LMDB environment (default `./.durastate`). */
  path?: string;
  /**
   * Compress values of 1,000 bytes or more (keyframes, large events): the default for a new
   * store. A store keeps the setting it was created with; giving the other one is refused.
   */
  compression?: boolean;
  /**
   * When a write counts as done: `'flush'` (default) once flushed to disk, surviving a power
   * loss; `'commit'` once committed. The store opens LMDB without overlapping sync (see `open`),
   * so a commit includes its flush and both are the same; `'commit'` is still accepted so that
   * code passing it runs (it bought no latency here when it differed).
   */
  durability?: 'flush' | 'commit';
  /**
   * How long opening may wait for other processes that have the store open to hold back their
   * writes (ms, default 10,000): see "Opening a store another process writes" below.
   */
  openTimeout?: number;
}

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/**
 * The default store: one embedded LMDB environment with named databases
 * (executions, journal, keyframes, index, owners, effects, timers, inbox, keys, forks, system). Transitions issued in the same event
 * turn share one LMDB commit (lmdb-js batches asynchronous writes per turn).
 *
 * Opening a store another process writes: lmdb-js loses a commit of another process that lands
 * while a process opens the environment (README, "Known defect"). Every durastate process that
 * has the store open therefore holds back its writes while another one opens it (a few
 * milliseconds; reads go on): see `openGate.ts`. Processes other than durastate's are not
 * covered.
 *
 * @example
 * ```ts
 * const rt = await createRuntime({ store: lmdbStore({ path: './.durastate' }), machines: [m] });
 * ```
 */
export function lmdbStore(options: LmdbStoreOptions = {}): Store {
  return new LmdbStore(options);
}

export class LmdbStore implements Store {
  readonly kind = 'lmdb';
  private env?: RootDatabase;
  private executions!: Database<ExecutionMeta, string>;
  private journal!: Database<JournalEntry, [string, number]>;
  private keyframes!: Database<Json, [string, number]>;
  private index!: Database<string, [string, number, string]>;
  private owners!: Database<OwnerRecord, string>;
  private effects!: Database<EffectRecord, [string, string]>;
  private timers!: Database<null, [number, string, string]>;
  private inbox!: Database<InboxEntry, [string, string]>;
  private keys!: Database<number, [string, string]>;
  /** [parent id, fork id] → fork seq: an execution's forks, for lineage and deletion. */
  private forks!: Database<number, [string, string]>;
  private system!: Database<unknown, string>;
  /**
   * Set while another process opens the store: writes wait for it (see `openGate.ts`). Writers
   * look again after waking: the next opener may have begun before they ran.
   */
  private held?: Promise<void>;
  private unhold?: () => void;
  private registration?: { close(): void };
  private path = '';
  private opening?: Promise<void>;

  constructor(private readonly options: LmdbStoreOptions) {}

  open(): Promise<void> {
    if (this.env) return Promise.resolve();
    // Two calls at once share one open (each would otherwise register its own handle).
    this.opening ??= this.openInTurn().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async openInTurn(): Promise<void> {
    const path = this.options.path ?? './.durastate';
    this.path = path;
    const done = await enterOpen(path, this.options.openTimeout);
    try {
      await this.openEnv(path);
    } finally {
      done();
    }
  }

  private async openEnv(path: string): Promise<void> {
    const env = open({
      path,
      // lmdb-js's default on Linux, overlapping sync (a commit returns before its flush, the next
      // transaction overlapping that flush), lost acknowledged writes more often when several
      // processes wrote at once: 8 of 800 rounds of bench/lmdbDefect.mjs against 2 of 1,200
      // without it (an lmdb-js defect either way: see README, "Known defect"). Without it a
      // commit includes its flush: a write's promise resolves once it is durable.
      overlappingSync: false,
      maxDbs: 16,
      // Always a folder: lmdb-js takes a path with an extension ("my.store") for a single file.
      noSubdir: false,
    });
    this.system = env.openDB({ name: 'system' });
    const found = this.system.get('schema') as number | undefined;
    if (found !== undefined && found > SCHEMA_VERSION) {
      await env.close();
      throw new SchemaVersionError(found, SCHEMA_VERSION);
    }
    // A store keeps the compression it was created with (values must be read as they were
    // written): a new one compresses by default; one from before the setting was kept did not.
    const recorded = this.system.get('compression') as boolean | undefined;
    const compression = recorded ?? (found === undefined ? (this.options.compression ?? true) : false);
    if (this.options.compression !== undefined && this.options.compression !== compression) {
      await env.close();
      throw new InvalidArgumentError(`The store in ${path} was created with compression ${compression ? 'on' : 'off'}: open it with compression: ${compression}, or without the option`);
    }
    // Values are plain msgpack maps, not msgpackr's records: a record carries its definition in
    // every value unless the structures are shared through the database, and shared structures
    // are written by every process that meets a new shape (lmdb-js and Harper report
    // decode failures when processes race there; one showed here, a worker failing to read a row
    // the CLI had just written). Maps encode and decode a journal entry 2.5 times faster than
    // records with their definitions, for a few percent more bytes. Values written as records before
    // are still read: the decoder reads both.
    const db = <V, K extends Key>(name: string, useVersions = false): Database<V, K> =>
      // `useRecords` is passed on to msgpackr; lmdb-js's types do not list it.
      env.openDB<V, K>({ name, compression, useRecords: false, ...(useVersions ? { useVersions } : {}) } as DatabaseOptions & { name: string });
    this.executions = db('executions', true);
    this.journal = db('journal');
    this.keyframes = db('keyframes');
    this.index = db('index');
    this.owners = db('owners');
    this.effects = db('effects');
    this.timers = db('timers');
    this.inbox = db('inbox');
    this.keys = db('keys');
    this.forks = db('forks');
    // A new store, or an older one this code now writes maps to: older code must refuse it.
    if (found !== SCHEMA_VERSION) await this.system.put('schema', SCHEMA_VERSION);
    if (recorded === undefined) await this.system.put('compression', compression);
    this.registration = registerWriter(path, {
      hold: async () => {
        this.held ??= new Promise<void>((resolve) => (this.unhold = resolve));
        await env.committed;
      },
      release: () => {
        this.held = undefined;
        this.unhold?.();
      },
    });
    this.env = env;
  }

  /** LMDB's id of the last committed transaction: tests and benchmarks count commits with it. */
  lastCommitId(): number {
    return (this.env?.getStats() as { lastTxnId?: number } | undefined)?.lastTxnId ?? 0;
  }

  async close(): Promise<void> {
    const env = this.env;
    this.env = undefined;
    if (!env) return;
    // In a turn of its own (see enterClose), and registered until the environment is closed:
    // no process opens the store while this one still has writes in flight. A close that cannot
    // get its turn in time closes anyway: it must not fail.
    const done = await enterClose(this.path, this.options.openTimeout).catch(() => () => undefined);
    try {
      await env.close();
    } finally {
      this.registration?.close();
      this.registration = undefined;
      done();
    }
  }

  /** Issues the puts of one transition; issued together they land in one LMDB transaction. */
  private issue(write: TransitionWrite, version: number): void {
    const { id, meta, entry, keyframe, previous } = write;
    this.journal.put([id, entry.seq], entry);
    if (keyframe !== undefined) this.keyframes.put([id, entry.seq], keyframe);
    if (write.timers) {
      for (const t of write.timers.remove) this.timers.remove([t.dueAt, id, t.id]);
      for (const t of write.timers.add) this.timers.put([t.dueAt, id, t.id], null);
    }
    if (write.inbox) this.inbox.put([id, write.inbox.n], write.inbox);
    if (write.sendKey !== undefined) this.keys.put([id, write.sendKey], entry.seq);
    for (const record of write.effects ?? []) this.effects.put([id, record.key], record);
    if (!meta) return;
    if (!previous && meta.parent) this.forks.put([meta.parent.id, id], meta.parent.seq);
    // The index moves only when the status does.
    if (!previous || previous.status !== meta.status || previous.statusSince !== meta.statusSince) {
      if (previous) this.index.remove([previous.status, previous.statusSince, id]);
      this.index.put([meta.status, meta.statusSince, id], meta.machineId);
    }
    this.executions.put(id, meta, version);
  }

  /** The row with the latest transition's seq, value and time (see ExecutionMeta). */
  private current(meta: ExecutionMeta | undefined): ExecutionMeta | undefined {
    if (!meta) return undefined;
    for (const { value } of this.journal.getRange({ start: [meta.id, MAX_SEQ], end: [meta.id, meta.seq], reverse: true, limit: 1 })) {
      return { ...meta, seq: value.seq, value: value.value, updatedAt: value.at };
    }
    return meta;
  }

  /** A write's outcome once durable (the commit includes the flush: see `open`), its failure typed. */
  private durable(p: Promise<boolean>): Promise<boolean> {
    return p.catch((err: unknown) => {
      throw new StoreFailureError(`LMDB write failed: ${String(err)}`, err);
    });
  }

  async create(write: TransitionWrite): Promise<boolean> {
    while (this.held) await this.held;
    // The block's promise resolves false when the id exists (no put in it is applied); the
    // puts' own promises settle with it.
    const p = this.executions.ifNoExists(write.id, () => this.issue(write, write.version));
    return this.durable(p);
  }

  async append(write: TransitionWrite): Promise<void> {
    while (this.held) await this.held;
    const p = this.executions.ifVersion(write.id, write.version, () => this.issue(write, write.version));
    let ok: boolean;
    try {
      ok = await p;
    } catch (err) {
      throw new StoreFailureError(`LMDB write failed: ${String(err)}`, err);
    }
    if (!ok) throw this.lockedError(write.id);
  }

  /** The error for a write fenced off because another process claimed the execution. */
  private lockedError(id: string): ExecutionLockedError {
    const owner = this.executions.get(id)?.owner;
    const record = owner ? this.owners.get(owner) : undefined;
    return lockedBy(id, owner, record);
  }

  async getMeta(id: string): Promise<ExecutionMeta | undefined> {
    return this.current(this.executions.get(id));
  }

  async list(query: ListQuery): Promise<Page<ExecutionMeta>> {
    const limit = pageLimit(query.limit);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, query.status);
    const items: ExecutionMeta[] = [];
    const keys: ListKey[] = [];
    // One more than the page, to know whether a cursor is needed.
    if (query.status) {
      const start = (after as [string, number, string] | undefined) ?? [query.status];
      for (const { key, value: machineId } of this.index.getRange({ start, end: [query.status, MAX_SEQ] })) {
        if (after !== undefined && compareListKeys(key, after) === 0) continue;
        if (query.machine && machineId !== query.machine) continue;
        const row = this.executions.get(key[2]);
        const meta = query.merged === false ? row : this.current(row);
        if (!meta) continue;
        items.push(meta);
        keys.push(key);
        if (items.length > limit) break;
      }
    } else {
      for (const { key, value } of this.executions.getRange({ start: (after as string | undefined) ?? '' })) {
        if (after !== undefined && key === after) continue;
        if (query.machine && value.machineId !== query.machine) continue;
        items.push(this.current(value) as ExecutionMeta);
        keys.push(key);
        if (items.length > limit) break;
      }
    }
    if (items.length <= limit) return { items };
    items.length = limit;
    return { items, cursor: encodeCursor(keys[limit - 1]) };
  }

  async countByStatus(): Promise<Record<ExecutionStatus, number>> {
    const counts = {} as Record<ExecutionStatus, number>;
    for (const status of EXECUTION_STATUSES) {
      counts[status] = this.index.getKeysCount({ start: [status], end: [status, MAX_SEQ] });
    }
    return counts;
  }

  async listSince(status: ExecutionStatus, before: number, limit: number, after?: ExecutionMeta): Promise<ExecutionMeta[]> {
    const metas: ExecutionMeta[] = [];
    const start: [string, number, string] | [string] = after ? [status, after.statusSince, after.id] : [status];
    for (const key of this.index.getKeys({ start, end: [status, before] })) {
      if (after && key[1] === after.statusSince && key[2] === after.id) continue;
      if (metas.length >= limit) break;
      const meta = this.current(this.executions.get(key[2]));
      if (meta) metas.push(meta);
    }
    return metas;
  }

  async readJournal(id: string, range: JournalRange = {}): Promise<JournalEntry[]> {
    const from = range.from ?? 0;
    const to = range.to ?? MAX_SEQ - 1;
    const options = range.reverse
      ? { start: [id, to] as [string, number], end: [id, from - 1] as [string, number], reverse: true, limit: range.limit }
      : { start: [id, from] as [string, number], end: [id, to + 1] as [string, number], limit: range.limit };
    // A plain loop: lmdb-js's map/asArray wrappers cost as much again as the reads.
    const entries: JournalEntry[] = [];
    for (const { value } of this.journal.getRange(options)) entries.push(value);
    return entries;
  }

  async keyframeAtOrBefore(id: string, seq: number): Promise<{ seq: number; snapshot: Json } | undefined> {
    for (const { key, value } of this.keyframes.getRange({ start: [id, seq], end: [id, -1], reverse: true, limit: 1 })) {
      return { seq: key[1], snapshot: value };
    }
    return undefined;
  }

  async delete(ids: readonly string[]): Promise<void> {
    while (this.held) await this.held;
    let last: Promise<boolean> | undefined;
    for (const id of ids) {
      const meta = this.executions.get(id);
      if (!meta) continue;
      this.index.remove([meta.status, meta.statusSince, id]);
      for (const key of this.journal.getKeys({ start: [id, 0], end: [id, MAX_SEQ] })) this.journal.remove(key);
      for (const key of this.keyframes.getKeys({ start: [id, 0], end: [id, MAX_SEQ] })) this.keyframes.remove(key);
      for (const t of meta.timers ?? []) this.timers.remove([t.dueAt, id, t.id]);
      if (meta.parent) this.forks.remove([meta.parent.id, id]);
      for (const db of [this.effects, this.inbox, this.keys, this.forks] as Database<unknown, [string, string]>[]) {
        for (const key of db.getKeys({ start: [id, ''], end: [id, '\uffff'] })) db.remove(key);
      }
      last = this.executions.remove(id);
    }
    if (last) await this.durable(last);
  }

  async listForks(id: string): Promise<{ id: string; seq: number }[]> {
    return [...this.forks.getRange({ start: [id, ''], end: [id, '\uffff'] })].map(({ key, value }) => ({ id: key[1], seq: value }));
  }

  async copyHistory(id: string, segments: readonly HistorySegment[]): Promise<void> {
    if (!this.env) throw new StoreFailureError('LMDB store is closed', undefined);
    while (this.held) await this.held;
    // Read first, then one block of puts: a fork's history is either all its own or all still
    // its parent's. The rows copied are an ancestor's history up to the fork point, which no
    // writer changes (a rewind past it materialises its forks first), so reading them outside
    // the write transaction is safe, and no callback of ours runs inside the writer's batch.
    const journal: { key: [string, number]; value: JournalEntry }[] = [];
    const keyframes: { key: [string, number]; value: Json }[] = [];
    for (const { id: from, from: lo, to: hi } of segments) {
      for (const { key, value } of this.journal.getRange({ start: [from, lo], end: [from, hi + 1] })) journal.push({ key: [id, key[1]], value: inheritedEntry(value, from, hi) });
      for (const { key, value } of this.keyframes.getRange({ start: [from, lo], end: [from, hi + 1] })) keyframes.push({ key: [id, key[1]], value });
    }
    await this.durable(
      this.journal.batch(() => {
        for (const { key, value } of journal) this.journal.put(key, value);
        for (const { key, value } of keyframes) this.keyframes.put(key, value);
      }),
    );
  }

  async rewind({ write, branch, branchKeyframe, branchEntry, effectKeys }: RewindWrite): Promise<void> {
    while (this.held) await this.held;
    const { id } = write;
    const cut = write.entry.seq; // the first seq that moves
    const b = branch.id;
    // Read outside the write: only this execution's owner writes its journal, and the version
    // check below fences every other writer off.
    const entries = [...this.journal.getRange({ start: [id, cut], end: [id, MAX_SEQ] })];
    const keyframes = [...this.keyframes.getRange({ start: [id, cut], end: [id, MAX_SEQ] })];
    const effects = effectKeys.map((key) => this.effects.get([id, key])).filter((r): r is EffectRecord => r !== undefined);
    const keys = [...this.keys.getRange({ start: [id, ''], end: [id, '\uffff'] })].filter(({ value }) => value >= cut);
    const p = this.executions.ifVersion(id, write.version, () => {
      for (const { key, value } of entries) {
        this.journal.remove(key);
        this.journal.put([b, key[1]], value);
      }
      for (const { key, value } of keyframes) {
        this.keyframes.remove(key);
        this.keyframes.put([b, key[1]], value);
      }
      this.keyframes.put([b, cut], branchKeyframe);
      this.journal.put([b, cut], branchEntry);
      for (const record of effects) {
        this.effects.remove([id, record.key]);
        this.effects.put([b, record.key], record);
      }
      for (const { key, value } of keys) {
        this.keys.remove(key);
        this.keys.put([b, key[1]], value);
      }
      this.executions.put(b, branch);
      this.index.put([branch.status, branch.statusSince, b], branch.machineId);
      this.forks.put([id, b], cut - 1);
      this.issue(write, write.version);
    });
    if (!(await this.durable(p))) throw this.lockedError(id);
  }

  async putEffect(id: string, record: EffectRecord, version?: number): Promise<void> {
    await this.fenced(id, version, () => this.effects.put([id, record.key], record));
  }

  /** One write, conditional on the execution's version when one is given. */
  private async fenced(id: string, version: number | undefined, write: () => Promise<boolean>): Promise<void> {
    while (this.held) await this.held;
    if (version === undefined) {
      await this.durable(write());
      return;
    }
    if (!(await this.durable(this.executions.ifVersion(id, version, () => void write())))) throw this.lockedError(id);
  }

  async getEffect(id: string, key: string): Promise<EffectRecord | undefined> {
    return this.effects.get([id, key]);
  }

  async listEffects(id: string): Promise<EffectRecord[]> {
    return this.effects.getRange({ start: [id, ''], end: [id, '\uffff'] }).map(({ value }) => value).asArray;
  }

  async dueTimers(until: number, limit: number, from = 0, after?: DueTimer): Promise<DueTimer[]> {
    const start: Key = after ? [after.dueAt, after.id, after.timer] : [from];
    const rows: DueTimer[] = [];
    for (const key of this.timers.getKeys({ start, end: [until, '\uffff'], limit: after ? limit + 1 : limit })) rows.push({ dueAt: key[0], id: key[1], timer: key[2] });
    // The range starts at `after` itself when its row is still there.
    if (after && rows[0] && rows[0].dueAt === after.dueAt && rows[0].id === after.id && rows[0].timer === after.timer) rows.shift();
    return rows.slice(0, limit);
  }

  async appendInbox(id: string, entry: InboxEntry): Promise<void> {
    while (this.held) await this.held;
    await this.durable(this.inbox.put([id, entry.n], entry));
  }

  async getInboxEntry(id: string, n: string): Promise<InboxEntry | undefined> {
    return this.inbox.get([id, n]);
  }

  async pendingInbox(id?: string): Promise<{ id: string; entry: InboxEntry }[]> {
    const range = id === undefined ? {} : { start: [id, ''] as [string, string], end: [id, '\uffff'] as [string, string] };
    return this.inbox
      .getRange(range)
      .filter(({ value }) => value.result === undefined)
      .map(({ key, value }) => ({ id: key[0], entry: value })).asArray;
  }

  async settleInbox(id: string, entry: InboxEntry, version?: number): Promise<void> {
    await this.fenced(id, version, () => this.inbox.put([id, entry.n], entry));
  }

  async removeInbox(id: string, n: string): Promise<void> {
    while (this.held) await this.held;
    await this.durable(this.inbox.remove([id, n]));
  }

  async sweepInbox(before: number): Promise<number> {
    while (this.held) await this.held;
    let last: Promise<boolean> | undefined;
    let removed = 0;
    for (const { key, value } of this.inbox.getRange({})) {
      if (value.result === undefined || value.at >= before) continue;
      last = this.inbox.remove(key);
      removed++;
    }
    if (last) await this.durable(last);
    return removed;
  }

  async sendKeySeq(id: string, key: string): Promise<number | undefined> {
    return this.keys.get([id, key]);
  }

  async registerOwner(owner: OwnerRecord): Promise<void> {
    while (this.held) await this.held;
    await this.durable(this.owners.put(owner.id, owner));
  }

  async renewOwner(id: string, leaseUntil: number): Promise<void> {
    while (this.held) await this.held;
    const owner = this.owners.get(id);
    if (owner) await this.durable(this.owners.put(id, { ...owner, leaseUntil }));
  }

  async removeOwner(id: string): Promise<void> {
    while (this.held) await this.held;
    // Awaited, so that a claim right after it reads without the old record.
    await this.durable(this.owners.remove(id));
  }

  async getOwner(id: string): Promise<OwnerRecord | undefined> {
    return this.owners.get(id);
  }

  // Claims are synchronous write transactions, the simplest test-and-set LMDB offers: the test
  // reads the row and the owner record as committed by every process, and nothing commits in
  // between. Two alternatives were tried and dropped (2026-12-02): a put conditional on the
  // row's version read outside a transaction (transitions rewrite the row without bumping the
  // version, so it wrote an older copy of the row over a transition committed in between:
  // test/multiProcess.test.ts, "a takeover racing…"), and lmdb-js's asynchronous callback
  // transaction (in one of ~130 rounds of test/multiProcess.test.ts two processes both won one
  // claim, and in another an acknowledged journal entry was missing).

  async claim(id: string, owner: string, now: number, options: { reopen?: boolean | 'any' } = {}): Promise<ClaimResult> {
    while (this.held) await this.held;
    return this.executions.transactionSync(() => this.claimIn(id, owner, now, options));
  }

  async claimMany(ids: readonly string[], owner: string, now: number): Promise<ClaimResult[]> {
    while (this.held) await this.held;
    // One transaction for a whole batch of a recovery. The executions of a batch mostly had one
    // owner: its record is read once.
    const owners = new Map<string, OwnerRecord | undefined>();
    const ownerOf = (id: string): OwnerRecord | undefined => {
      if (!owners.has(id)) owners.set(id, this.owners.get(id));
      return owners.get(id);
    };
    return this.executions.transactionSync(() => ids.map((id) => this.claimIn(id, owner, now, {}, false, ownerOf)));
  }

  /** The test-and-set of one claim, inside a write transaction. */
  private claimIn(
    id: string,
    owner: string,
    now: number,
    options: { reopen?: boolean | 'any' },
    merged = true,
    ownerOf = (ownerId: string): OwnerRecord | undefined => this.owners.get(ownerId),
  ): ClaimResult {
    const row = this.executions.getEntry(id);
    const meta = row?.value;
    if (!row || !meta) return { ok: false, reason: 'missing' };
    if (!claimable(meta.status, options.reopen)) return { ok: false, reason: 'finished', meta };
    if (meta.owner && meta.owner !== owner) {
      const current = ownerOf(meta.owner);
      if (current && current.leaseUntil > now) return { ok: false, reason: 'owned', meta, owner: current };
    }
    const claimed = { ...meta, owner };
    const version = (row.version ?? 0) + 1;
    this.executions.putSync(id, claimed, version);
    return { ok: true, meta: merged ? (this.current(claimed) as ExecutionMeta) : claimed, version };
  }
}
