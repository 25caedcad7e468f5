/**
 * Durable external events under SIGKILL. A real child process (dist/test/fixtures/inboxHolder.js)
 * owns two executions; this process sends them events through `rt.send` (most with an
 * idempotency key, some without), which appends each to the owner's inbox (one commit) and
 * waits for the owner to commit the transition that consumes it. The holder is SIGKILLed at
 * random moments, often before it consumed the events: hung (its event loop blocked before the
 * sends: it consumes none), stalled during the sends (they pile up) and killed some ms later,
 * running (sends a few ms apart, killed a few ms after one), or in the middle of draining a
 * burst of them (killed once it applied some: between or inside consuming commits). Keys are
 * resent while the holder lives (the resend waits in the inbox behind the original) and after
 * the takeover.
 *
 * Every send must resolve: this process takes the executions over once the holder's pid is gone
 * and drains their inboxes. Each event is applied exactly once (keyless ones too: the inbox
 * entry is acknowledged by the consuming transition's own commit), in the order the sends were
 * issued (each send is issued once the previous one is in the inbox, or applied); a resend of
 * an applied or waiting key resolves with `duplicate: true` and the seq of the one application,
 * and never appears in the history. The next round starts a new holder, which takes the
 * executions back (its runtime recovers them), on the same store.
 *
 * The second test also sends right after the kill (new keys, and resends of keys still waiting
 * in the dead holder's inbox): those must be applied after the events already waiting.
 *
 * The schedule comes from a seeded PRNG (CRASH_SEED replays another one; CRASH_DEBUG=1 prints
 * the counts).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, lmdbStore, type Json, type Runtime, type SendResult, type Store } from '../src/index.js';
import { builtFixture, Child, killAllChildren, prng } from './fixtures/crashChild.js';
import { INBOX_IDS, inboxMachine, type InboxItem } from './fixtures/inboxMachines.js';
import { tempDir } from './helpers.js';

const SEED = Number(process.env.CRASH_SEED ?? 20250313);
const ROUNDS = 24;

let HOLDER = '';
beforeAll(() => {
  HOLDER = builtFixture('inboxHolder');
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The store, with every inbox append reported once it is durable: the test issues a send only
 * after the previous one is in the inbox, which defines the order the events must be applied in.
 */
function observedStore(inner: Store, onAppend: (id: string, event: Json) => void): Store {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'appendInbox') {
        return async (id: string, entry: Parameters<Store['appendInbox']>[1]) => {
          await target.appendInbox(id, entry);
          onAppend(id, entry.event);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

interface Sent {
  exec: string;
  key: string;
  event: InboxItem;
  /** false for a resend of a key sent before. */
  original: boolean;
  /** Whether `key` was given to `send` (without, only the inbox acknowledgement keeps it once). */
  keyed: boolean;
  phase: 'before kill' | 'after kill' | 'after takeover';
  round: number;
  done: Promise<SendResult>;
  result?: SendResult;
  error?: unknown;
}

/**
 * hang: the holder's event loop is blocked before the sends (it consumes none of them);
 * stall: blocked for a while during the sends (they pile up), killed some ms later;
 * live: running, the sends a few ms apart, killed a few ms after one;
 * burst: blocked while many sends pile up, then killed in the middle of draining them (once
 * it has applied some): the kill lands between, or inside, the commits of consuming transitions.
 */
type Mode = 'hang' | 'stall' | 'live' | 'burst';

async function withBailout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bail = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what())), ms);
  });
  try {
    return await Promise.race([p, bail]);
  } finally {
    clearTimeout(timer);
  }
}

interface Counts {
  rounds: number;
  kills: number;
  sentBeforeKill: number;
  /** Events in a killed holder's inbox that it had not consumed (applied after the takeover). */
  unconsumedAtKill: number;
  /** Rounds where the holder consumed some of an execution's events and not the others. */
  partialRounds: number;
  sentAfterKill: number;
  /** Rounds whose sends after the kill went out while the takeover was applying waiting events. */
  sentMidDrain: number;
  resendsThroughInbox: number;
  resendsAfterTakeover: number;
  restores: number;
  modes: Record<Mode, number>;
}

interface RoundOptions {
  /**
   * Also issue sends (new keys, and resends of keys still waiting in the inbox) after the holder
   * died, before the earlier ones were applied.
   */
  sendAfterKill: boolean;
  /** The kill moments to draw from. */
  modes: readonly Mode[];
  /**
   * With `sendAfterKill`: per round, either the test runtime polls its inbox every 250 ms (an
   * option) and the sends follow the kill at once (they find the inbox full and the execution
   * not taken over yet), or it polls every 25 ms (the default) and they are issued while the
   * takeover is applying the waiting events (once it applied one, while others still wait).
   */
  varyPolling?: boolean;
}

/** `rounds` rounds on one store, each with a new holder killed at a random moment. */
async function killRounds(seed: number, rounds: number, options: RoundOptions): Promise<Counts> {
  const { sendAfterKill } = options;
  const dir = tempDir('durastate-inbox-crash-');
  cleanups.push(() => dir.remove());
  const path = join(dir.path, 'db');
  const rand = prng(seed);

  const sent: Sent[] = [];
  /** Waiting for the append of send `s`. */
  const appends = new Map<number, () => void>();
  let sendNo = 0;
  let itemNo = 0;
  const modes: Record<Mode, number> = { hang: 0, stall: 0, live: 0, burst: 0 };
  const counts: Counts = { rounds: 0, kills: 0, sentBeforeKill: 0, unconsumedAtKill: 0, partialRounds: 0, sentAfterKill: 0, sentMidDrain: 0, resendsThroughInbox: 0, resendsAfterTakeover: 0, restores: 0, modes };

  for (let round = 1; round <= rounds; round++) {
    const where = `seed ${seed}, round ${round}`;
    // A new owner: its runtime takes the executions back from the last round's test runtime.
    const holder = new Child(HOLDER, [path, INBOX_IDS.join(',')]);
    const ready = JSON.parse((await holder.waitForLine((l) => l.startsWith('READY '), 'READY')).slice('READY '.length)) as { pid: number; owner: string; owned: string[] };
    expect(ready.pid).toBe(holder.pid);
    expect(ready.owned, `${where}: the holder owns the executions`).toEqual(INBOX_IDS);

    const slowPoll = options.varyPolling === true && rand() < 0.5;
    const midDrain = options.varyPolling === true && !slowPoll;
    const rt: Runtime = await createRuntime({
      store: observedStore(lmdbStore({ path }), (_id, event) => appends.get((event as InboxItem).s)?.()),
      machines: [inboxMachine],
      ...(slowPoll ? { inboxPollMs: 250 } : {}),
    });
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await rt.close();
    });
    expect((await rt.stats()).hosted, `${where}: nothing recovered while the holder lives`).toBe(0);
    const seqAtStart = new Map<string, number>();
    for (const id of INBOX_IDS) {
      const info = await rt.get(id);
      expect(info?.owner, `${where}: ${id} owner`).toBe(ready.owner);
      seqAtStart.set(id, info!.seq);
    }

    /** Issues one send and returns once it is in the inbox (or applied, or refused). */
    const issue = async (exec: string, key: string, keyed: boolean, n: number, original: boolean, phase: Sent['phase']): Promise<Sent> => {
      const s = ++sendNo;
      const event: InboxItem = { type: 'ITEM', n, k: key, s };
      const appended = new Promise<void>((resolve) => appends.set(s, resolve));
      const done = rt.send(exec, event, keyed ? { key } : {});
      const record: Sent = { exec, key, keyed, event, original, phase, round, done };
      done.then(
        (r) => (record.result = r),
        (e: unknown) => (record.error = e),
      );
      sent.push(record);
      await withBailout(
        Promise.race([appended, done.then(() => {}, () => {})]),
        20_000,
        () => `${where}: send ${s} (${key}) neither appended nor settled`,
      );
      appends.delete(s);
      return record;
    };
    const issueNew = (phase: Sent['phase'], to?: string) => {
      const pick = INBOX_IDS[Math.floor(rand() * INBOX_IDS.length)]!;
      const exec = to ?? pick;
      // Some sends carry no idempotency key: only the inbox acknowledgement keeps them once.
      const keyed = rand() < 0.6;
      return issue(exec, `r${round}-${++itemNo}`, keyed, itemNo, true, phase);
    };
    const resendOne = async (phase: Sent['phase'], pool: Sent[]): Promise<Sent | undefined> => {
      const keyed = pool.filter((x) => x.keyed);
      const of = keyed[Math.floor(rand() * keyed.length)];
      return of && issue(of.exec, of.key, true, of.event.n, false, phase);
    };

    // The kill plan of this round.
    const r = rand();
    const mode: Mode = options.modes[Math.floor(r * options.modes.length)]!;
    modes[mode]++;
    const count = mode === 'burst' ? 12 + Math.floor(rand() * 8) : 3 + Math.floor(rand() * 4);
    // burst: kill once the holder has applied this many of them.
    const killAtApplied = 1 + Math.floor(rand() * (count - 2));
    // Sends issued before the kill: all of them, or (live) the first few.
    const killAfter = mode === 'live' && sendAfterKill ? Math.floor(rand() * (count + 1)) : count;
    // Gaps between sends (live: the holder consumes some), and from the last send to the kill.
    const gap = mode === 'live' ? 30 : 0;
    const killDelay = Math.floor(rand() * (mode === 'hang' ? 15 : mode === 'stall' ? 100 : 30));
    const resendBefore = rand() < 0.5;
    const afterKill = !sendAfterKill ? 0 : mode === 'live' ? count - killAfter : 1 + Math.floor(rand() * 2);
    const resendAfterKill = sendAfterKill && rand() < 0.5;

    if (mode === 'hang') {
      holder.send('HANG');
      await holder.waitForLine((l) => l === 'HANGING', 'HANGING');
    } else if (mode === 'stall' || mode === 'burst') {
      holder.send(`STALL ${mode === 'burst' ? 40 : 10 + Math.floor(rand() * 50)}`);
      await holder.waitForLine((l) => l === 'STALLING', 'STALLING');
    }
    const thisRound: Sent[] = [];
    for (let i = 0; i < killAfter; i++) {
      if (gap > 0) await sleep(Math.floor(rand() * gap));
      thisRound.push(await issueNew('before kill'));
    }
    if (resendBefore && (await resendOne('before kill', thisRound))) counts.resendsThroughInbox++;
    counts.sentBeforeKill += killAfter;
    if (mode === 'burst') {
      // Poll the store until the holder has applied `killAtApplied` of them, then kill at once.
      const applied = async () => {
        let n = 0;
        for (const id of INBOX_IDS) n += (await rt.store.getMeta(id))!.seq - seqAtStart.get(id)!;
        return n;
      };
      for (let polls = 0; polls < 20_000 && (await applied()) < killAtApplied; polls++) await sleep(0);
    } else if (killDelay > 0) {
      await sleep(killDelay);
    }
    const killedAt = Date.now();
    expect((await holder.kill()).signal, `${where}: holder killed`).toBe('SIGKILL');
    counts.kills++;

    // Sends issued once the owner is dead (before the earlier ones are applied): they must
    // come after them.
    let target: string | undefined;
    if (afterKill > 0 && midDrain) {
      // Wait until this process has taken an execution over and applied one of the events
      // waiting in its inbox while others still wait (or give up and send anyway).
      for (let polls = 0; polls < 5_000 && target === undefined; polls++) {
        for (const id of INBOX_IDS) {
          const meta = await rt.store.getMeta(id);
          const [last] = await rt.store.readJournal(id, { reverse: true, limit: 1 });
          if (meta?.owner === rt.ownerId && last !== undefined && last.at >= killedAt && (await rt.store.pendingInbox(id)).length > 0) target = id;
        }
        if (target === undefined) await sleep(0);
      }
      if (target !== undefined) counts.sentMidDrain++;
    }
    for (let i = 0; i < afterKill; i++) thisRound.push(await issueNew('after kill', target));
    counts.sentAfterKill += afterKill;
    if (resendAfterKill) await resendOne('after kill', thisRound);

    // Every send resolves: this process takes the executions over and drains their inboxes.
    await withBailout(Promise.allSettled(sent.map((x) => x.done)), 20_000, () => `${where}: sends unresolved: ${sent.filter((x) => !x.result && !x.error).map((x) => x.key).join(', ')}`);
    for (const x of sent) expect(x.error, `${where}: send ${x.event.s} (${x.key}, ${x.phase}) failed`).toBeUndefined();

    // Resends after the takeover (keys of this round or any earlier one): duplicates.
    for (let i = 0; i < 2; i++) {
      const x = await resendOne('after takeover', sent.filter((y) => y.original));
      if (!x) break;
      await x.done.catch(() => {});
      counts.resendsAfterTakeover++;
    }
    for (const x of sent) expect(x.error, `${where}: send ${x.event.s} (${x.key}, ${x.phase}) failed`).toBeUndefined();

    // The histories: every original applied once, in issue order, none of the resends.
    for (const id of INBOX_IDS) {
      const history = await rt.history(id);
      expect(history.map((h) => h.seq), `${where}: ${id} seqs`).toEqual(history.map((_, i) => i));
      const types = history.map((h) => (h.event as { type: string }).type);
      counts.restores += types.filter((t) => t === 'durastate.restore').length;
      const applied = history.filter((h) => (h.event as { type: string }).type === 'ITEM').map((h) => h.event as InboxItem);
      const originals = sent.filter((x) => x.exec === id && x.original);
      expect(applied.map((e) => e.k), `${where} (${mode}): ${id}: events applied (keys), in send order; sends: ${sent.filter((x) => x.exec === id && x.round === round).map((x) => `${x.key}/s${x.event.s}/${x.phase}${x.original ? '' : '/resend'}`).join(' ')}`).toEqual(originals.map((x) => x.key));
      expect(applied.map((e) => e.s), `${where}: ${id}: the first send of each key is the one applied`).toEqual(originals.map((x) => x.event.s));
      expect(types.filter((t) => t !== 'ITEM' && t !== 'durastate.restore'), `${where}: ${id} other events`).toEqual(['xstate.init']);
      // What each send resolved with: the seq of the one application, duplicate for all but one.
      for (const x of sent.filter((y) => y.exec === id)) {
        const entry = history[x.result!.seq];
        expect((entry?.event as InboxItem | undefined)?.k, `${where}: ${x.key} (send ${x.event.s}) resolved with seq ${x.result!.seq}`).toBe(x.key);
      }
      const byKey = new Map<string, Sent[]>();
      for (const x of sent.filter((y) => y.exec === id)) byKey.set(x.key, [...(byKey.get(x.key) ?? []), x]);
      for (const [key, sends] of byKey) {
        expect(sends.filter((x) => !x.result!.duplicate).length, `${where}: ${key}: sends applied ${JSON.stringify(sends.map((x) => [x.phase, x.result]))}`).toBe(1);
        expect(new Set(sends.map((x) => x.result!.seq)).size, `${where}: ${key}: one seq`).toBe(1);
        for (const x of sends.filter((y) => y.phase === 'after takeover')) expect(x.result!.duplicate, `${where}: resend of ${key} after the takeover`).toBe(true);
      }
      const context = (await rt.get(id))!.context as { items: number[]; sends: number[] };
      expect(context.items, `${where}: ${id} items`).toEqual(originals.map((x) => x.event.n));
      // Applied before the kill (by the holder) or after (by this process, after the takeover).
      const thisRoundApplied = history.filter((h) => h.seq > seqAtStart.get(id)! && (h.event as { type: string }).type === 'ITEM');
      const byHolder = thisRoundApplied.filter((h) => h.at.getTime() < killedAt).length;
      if (mode === 'hang') expect(byHolder, `${where}: ${id}: a hung holder consumed nothing`).toBe(0);
      const sentHere = thisRound.filter((x) => x.exec === id && x.phase === 'before kill').length;
      counts.unconsumedAtKill += Math.max(0, sentHere - byHolder);
      if (byHolder > 0 && byHolder < sentHere) counts.partialRounds++;
    }
    await rt.close();
    closed = true;
    counts.rounds++;
  }
  if (process.env.CRASH_DEBUG) console.log(`inbox crash test (seed ${seed}, sends after the kill: ${sendAfterKill}): ${JSON.stringify(counts)}`);
  expect(counts.kills).toBe(rounds);
  return counts;
}

describe('inbox under SIGKILL: events sent to an execution another process runs', () => {
  it('are applied once, in send order, after the owner is killed before consuming them; resends with the same key are not applied twice', async () => {
    const counts = await killRounds(SEED, ROUNDS, { sendAfterKill: false, modes: ['hang', 'stall', 'live', 'burst'] });
    // The schedule must have killed the holder with events in its inbox, many times.
    expect(counts.unconsumedAtKill, 'events left unconsumed in the inbox of a killed holder').toBeGreaterThanOrEqual(ROUNDS);
    expect(counts.resendsThroughInbox + counts.resendsAfterTakeover).toBeGreaterThanOrEqual(ROUNDS);
  }, 120_000);

  it('a send issued after the owner died is applied after the events already waiting in its inbox (new keys and resends alike)', async () => {
    // The holder dies with events in its inbox (hung, or mid-drain); this process is sent more
    // right away, or while it takes the execution over and drains the inbox: they must wait
    // their turn.
    const counts = await killRounds(SEED ^ 0x1b0c, 10, { sendAfterKill: true, modes: ['hang', 'burst'], varyPolling: true });
    expect(counts.sentAfterKill).toBeGreaterThan(0);
  }, 120_000);
});
