import { lockedBy } from '../errors.js';
import { compareListKeys, decodeCursor, encodeCursor, pageLimit, type ListKey } from './cursor.js';
import {
  claimable,
  inheritedEntry,
  EXECUTION_STATUSES,
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

/**
 * A store in process memory: for tests of logic that needs no durability, and for services that
 * want durastate's timeline and progress without persistence. Values are cloned on the way in
 * and out, as a serialising store would.
 *
 * @example
 * ```ts
 * const rt = await createRuntime({ store: memoryStore(), machines: [m] });
 * ```
 */
export function memoryStore(): Store {
  return new MemoryStore();
}

interface Row {
  version: number;
  meta: ExecutionMeta;
  journal: JournalEntry[];
  keyframes: Map<number, Json>;
  effects: Map<string, EffectRecord>;
  inbox: Map<string, InboxEntry>;
  keys: Map<string, number>;
}

/** Through JSON, as a serialising store would: no shared references survive. */
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly rows = new Map<string, Row>();
  private readonly owners = new Map<string, OwnerRecord>();
  /** Parent id → fork id → fork seq: links made when a fork is created, dropped when either side is deleted. */
  private readonly forks = new Map<string, Map<string, number>>();

  private link(parent: string, fork: string, seq: number): void {
    let forks = this.forks.get(parent);
    if (!forks) this.forks.set(parent, (forks = new Map()));
    forks.set(fork, seq);
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  private apply(row: Row, write: TransitionWrite): void {
    if (write.meta) row.meta = clone(write.meta);
    row.journal[write.entry.seq] = clone(write.entry);
    if (write.keyframe !== undefined) row.keyframes.set(write.entry.seq, clone(write.keyframe));
    if (write.inbox) row.inbox.set(write.inbox.n, clone(write.inbox));
    if (write.sendKey !== undefined) row.keys.set(write.sendKey, write.entry.seq);
    for (const record of write.effects ?? []) row.effects.set(record.key, clone(record));
  }

  /** The row with the latest transition's seq, value and time, as a copy (see ExecutionMeta). */
  private current(row: Row): ExecutionMeta {
    const meta = clone(row.meta);
    const last = row.journal[row.journal.length - 1];
    return last && last.seq > meta.seq ? { ...meta, seq: last.seq, value: clone(last.value), updatedAt: last.at } : meta;
  }

  async create(write: TransitionWrite & { meta: ExecutionMeta }): Promise<boolean> {
    if (this.rows.has(write.id)) return false;
    const row: Row = { version: write.version, meta: write.meta, journal: [], keyframes: new Map(), effects: new Map(), inbox: new Map(), keys: new Map() };
    this.apply(row, write);
    this.rows.set(write.id, row);
    if (write.meta.parent) this.link(write.meta.parent.id, write.id, write.meta.parent.seq);
    return true;
  }

  async append(write: TransitionWrite): Promise<void> {
    const row = this.rows.get(write.id);
    this.fence(write.id, write.version);
    if (!row) throw lockedBy(write.id, undefined);
    this.apply(row, write);
  }

  async getMeta(id: string): Promise<ExecutionMeta | undefined> {
    const row = this.rows.get(id);
    return row && this.current(row);
  }

  /** Sort keys as the LMDB index does: by id, or by [status, statusSince, id]. */
  private sorted(status: ExecutionStatus | undefined): { key: ListKey; meta: ExecutionMeta; row: Row }[] {
    const rows = [...this.rows.values()];
    if (!status) return rows.map((row) => ({ key: row.meta.id as ListKey, meta: row.meta, row })).sort((a, b) => cmp(a.meta.id, b.meta.id));
    return rows
      .filter((r) => r.meta.status === status)
      .sort((a, b) => a.meta.statusSince - b.meta.statusSince || cmp(a.meta.id, b.meta.id))
      .map((row) => ({ key: [row.meta.status, row.meta.statusSince, row.meta.id] as ListKey, meta: row.meta, row }));
  }

  async list(query: ListQuery): Promise<Page<ExecutionMeta>> {
    const limit = pageLimit(query.limit);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, query.status);
    let rows = this.sorted(query.status);
    if (after !== undefined) rows = rows.filter((r) => compareListKeys(r.key, after) > 0);
    if (query.machine) rows = rows.filter((r) => r.meta.machineId === query.machine);
    const page = rows.slice(0, limit);
    const items = page.map((r) => this.current(r.row));
    const last = page[page.length - 1];
    return rows.length > limit && last ? { items, cursor: encodeCursor(last.key) } : { items };
  }

  async countByStatus(): Promise<Record<ExecutionStatus, number>> {
    const counts = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatus, number>;
    for (const { meta } of this.rows.values()) counts[meta.status]++;
    return counts;
  }

  async listSince(status: ExecutionStatus, before: number, limit: number, after?: ExecutionMeta): Promise<ExecutionMeta[]> {
    const from: ListKey | undefined = after && [status, after.statusSince, after.id];
    return this.sorted(status)
      .filter((r) => r.meta.statusSince < before && (from === undefined || compareListKeys(r.key, from) > 0))
      .slice(0, limit)
      .map((r) => this.current(r.row));
  }

  async readJournal(id: string, range: JournalRange = {}): Promise<JournalEntry[]> {
    const row = this.rows.get(id);
    if (!row) return [];
    const from = range.from ?? 0;
    const to = range.to ?? Number.MAX_SAFE_INTEGER;
    let entries = row.journal.filter((e) => e !== undefined && e.seq >= from && e.seq <= to);
    if (range.reverse) entries = entries.reverse();
    if (range.limit !== undefined) entries = entries.slice(0, range.limit);
    return entries.map(clone);
  }

  async keyframeAtOrBefore(id: string, seq: number): Promise<{ seq: number; snapshot: Json } | undefined> {
    const row = this.rows.get(id);
    if (!row) return undefined;
    let best = -1;
    for (const k of row.keyframes.keys()) if (k <= seq && k > best) best = k;
    return best < 0 ? undefined : { seq: best, snapshot: clone(row.keyframes.get(best) as Json) };
  }

  async delete(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const parent = this.rows.get(id)?.meta.parent;
      if (parent) this.forks.get(parent.id)?.delete(id);
      this.forks.delete(id);
      this.rows.delete(id);
    }
  }

  async listForks(id: string): Promise<{ id: string; seq: number }[]> {
    return [...(this.forks.get(id) ?? [])].map(([fork, seq]) => ({ id: fork, seq })).sort((a, b) => cmp(a.id, b.id));
  }

  async copyHistory(id: string, segments: readonly HistorySegment[]): Promise<void> {
    const row = this.rows.get(id);
    if (!row) return;
    for (const { id: from, from: lo, to: hi } of segments) {
      const source = this.rows.get(from);
      if (!source) continue;
      for (const entry of source.journal) if (entry && entry.seq >= lo && entry.seq <= hi) row.journal[entry.seq] = clone(inheritedEntry(entry, from, hi));
      for (const [seq, snapshot] of source.keyframes) if (seq >= lo && seq <= hi) row.keyframes.set(seq, clone(snapshot));
    }
  }

  async rewind({ write, branch, branchKeyframe, branchEntry, effectKeys }: RewindWrite): Promise<void> {
    const row = this.rows.get(write.id);
    this.fence(write.id, write.version);
    if (!row) throw lockedBy(write.id, undefined);
    const cut = write.entry.seq;
    const moved: Row = { version: 1, meta: clone(branch), journal: [], keyframes: new Map(), effects: new Map(), inbox: new Map(), keys: new Map() };
    for (const entry of row.journal.splice(cut)) if (entry) moved.journal[entry.seq] = entry;
    for (const [seq, snapshot] of row.keyframes) {
      if (seq < cut) continue;
      moved.keyframes.set(seq, snapshot);
      row.keyframes.delete(seq);
    }
    moved.keyframes.set(cut, clone(branchKeyframe));
    moved.journal[cut] = clone(branchEntry);
    for (const key of effectKeys) {
      const record = row.effects.get(key);
      if (!record) continue;
      moved.effects.set(key, record);
      row.effects.delete(key);
    }
    for (const [key, seq] of row.keys) {
      if (seq < cut) continue;
      moved.keys.set(key, seq);
      row.keys.delete(key);
    }
    this.rows.set(branch.id, moved);
    this.link(write.id, branch.id, cut - 1);
    this.apply(row, write);
  }

  async putEffect(id: string, record: EffectRecord, version?: number): Promise<void> {
    this.fence(id, version);
    this.rows.get(id)?.effects.set(record.key, clone(record));
  }

  private fence(id: string, version: number | undefined): void {
    const row = this.rows.get(id);
    if (version === undefined || row?.version === version) return;
    const owner = row?.meta.owner;
    const record = owner ? this.owners.get(owner) : undefined;
    throw lockedBy(id, owner, record && clone(record));
  }

  async getEffect(id: string, key: string): Promise<EffectRecord | undefined> {
    const record = this.rows.get(id)?.effects.get(key);
    return record && clone(record);
  }

  async listEffects(id: string): Promise<EffectRecord[]> {
    const row = this.rows.get(id);
    return row ? [...row.effects.values()].sort((a, b) => cmp(a.key, b.key)).map(clone) : [];
  }

  async dueTimers(until: number, limit: number, from = 0, after?: DueTimer): Promise<DueTimer[]> {
    const due: DueTimer[] = [];
    for (const row of this.rows.values()) {
      for (const t of row.meta.timers ?? []) if (t.dueAt <= until && t.dueAt >= from) due.push({ id: row.meta.id, timer: t.id, dueAt: t.dueAt });
    }
    const order = (a: DueTimer, b: DueTimer): number => a.dueAt - b.dueAt || cmp(a.id, b.id) || cmp(a.timer, b.timer);
    return due
      .filter((t) => !after || order(t, after) > 0)
      .sort(order)
      .slice(0, limit);
  }

  async appendInbox(id: string, entry: InboxEntry): Promise<void> {
    this.rows.get(id)?.inbox.set(entry.n, clone(entry));
  }

  async getInboxEntry(id: string, n: string): Promise<InboxEntry | undefined> {
    const entry = this.rows.get(id)?.inbox.get(n);
    return entry && clone(entry);
  }

  async pendingInbox(id?: string): Promise<{ id: string; entry: InboxEntry }[]> {
    const rows = id === undefined ? [...this.rows.values()].sort((a, b) => cmp(a.meta.id, b.meta.id)) : [this.rows.get(id)];
    const pending: { id: string; entry: InboxEntry }[] = [];
    for (const row of rows) {
      if (!row) continue;
      const entries = [...row.inbox.values()].filter((e) => e.result === undefined).sort((a, b) => cmp(a.n, b.n));
      for (const entry of entries) pending.push({ id: row.meta.id, entry: clone(entry) });
    }
    return pending;
  }

  async settleInbox(id: string, entry: InboxEntry, version?: number): Promise<void> {
    this.fence(id, version);
    this.rows.get(id)?.inbox.set(entry.n, clone(entry));
  }

  async removeInbox(id: string, n: string): Promise<void> {
    this.rows.get(id)?.inbox.delete(n);
  }

  async sweepInbox(before: number): Promise<number> {
    let removed = 0;
    for (const row of this.rows.values()) {
      for (const [n, entry] of row.inbox) {
        if (entry.result === undefined || entry.at >= before) continue;
        row.inbox.delete(n);
        removed++;
      }
    }
    return removed;
  }

  async sendKeySeq(id: string, key: string): Promise<number | undefined> {
    return this.rows.get(id)?.keys.get(key);
  }

  async registerOwner(owner: OwnerRecord): Promise<void> {
    this.owners.set(owner.id, clone(owner));
  }

  async renewOwner(id: string, leaseUntil: number): Promise<void> {
    const owner = this.owners.get(id);
    if (owner) owner.leaseUntil = leaseUntil;
  }

  async removeOwner(id: string): Promise<void> {
    this.owners.delete(id);
  }

  async getOwner(id: string): Promise<OwnerRecord | undefined> {
    const owner = this.owners.get(id);
    return owner && clone(owner);
  }

  async claimMany(ids: readonly string[], owner: string, now: number): Promise<ClaimResult[]> {
    const results: ClaimResult[] = [];
    for (const id of ids) results.push(await this.claim(id, owner, now));
    return results;
  }

  async claim(id: string, owner: string, now: number, options: { reopen?: boolean | 'any' } = {}): Promise<ClaimResult> {
    const row = this.rows.get(id);
    if (!row) return { ok: false, reason: 'missing' };
    if (!claimable(row.meta.status, options.reopen)) return { ok: false, reason: 'finished', meta: this.current(row) };
    if (row.meta.owner && row.meta.owner !== owner) {
      const current = this.owners.get(row.meta.owner);
      if (current && current.leaseUntil > now) {
        return { ok: false, reason: 'owned', meta: this.current(row), owner: clone(current) };
      }
    }
    row.meta = { ...row.meta, owner };
    row.version++;
    return { ok: true, meta: this.current(row), version: row.version };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
