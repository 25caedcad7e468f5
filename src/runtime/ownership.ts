import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ClaimResult, OwnerRecord, Store } from '../store/Store.js';

/**
 * This process's claim on the executions it runs. One owner record per process carries the
 * lease (renewed by a heartbeat), so a lease costs one write per interval however many
 * executions the process runs. Another process may take an execution over once the owner's
 * lease has expired, or at once when the owner is a process on this host that no longer exists
 * (LMDB serves one host, so a `kill -9`ed owner is recognised without waiting out its lease).
 */
export class Ownership {
  readonly id: string;
  private readonly host = hostname();
  private timer?: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: Store,
    private readonly leaseMs: number,
  ) {
    this.id = `${this.host}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  static async start(store: Store, leaseMs: number): Promise<Ownership> {
    const ownership = new Ownership(store, leaseMs);
    const now = Date.now();
    await store.registerOwner({ id: ownership.id, pid: process.pid, host: ownership.host, startedAt: now, leaseUntil: now + leaseMs });
    ownership.timer = setInterval(() => ownership.renew(), Math.max(10, Math.floor(leaseMs / 3)));
    ownership.timer.unref();
    return ownership;
  }

  private renew(): void {
    this.renewing = this.store.renewOwner(this.id, Date.now() + this.leaseMs).catch(() => {
      // A failed renewal is retried at the next beat; the lease is long enough to miss one.
    });
  }

  /** The record of a live owner, or undefined when `ownerId` is dead or absent. */
  async liveOwner(ownerId: string | undefined): Promise<OwnerRecord | undefined> {
    if (!ownerId) return undefined;
    const record = await this.store.getOwner(ownerId);
    if (!record || record.leaseUntil <= Date.now()) return undefined;
    if (record.id !== this.id && record.host === this.host && !processExists(record.pid)) {
      await this.store.removeOwner(record.id);
      return undefined;
    }
    return record;
  }

  /** Claims an execution for this process; clears a dead local owner first. */
  async claim(executionId: string, currentOwner: string | undefined, options?: { reopen?: boolean | 'any' }): Promise<ClaimResult> {
    if (currentOwner && currentOwner !== this.id) await this.liveOwner(currentOwner);
    return this.store.claim(executionId, this.id, Date.now(), options);
  }

  /** Claims a batch of executions (recovery) in one transaction; dead local owners are cleared first. */
  async claimMany(metas: readonly { id: string; owner?: string }[]): Promise<ClaimResult[]> {
    const owners = new Set(metas.map((m) => m.owner).filter((o): o is string => o !== undefined && o !== this.id));
    for (const owner of owners) await this.liveOwner(owner);
    return this.store.claimMany(
      metas.map((m) => m.id),
      this.id,
      Date.now(),
    );
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.renewing;
    await this.store.removeOwner(this.id);
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
