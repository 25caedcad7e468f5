/**
 * Crash tests: a real child process (dist/test/fixtures/crashWorker.js) drives workflows on a real
 * LMDB store and is killed with SIGKILL at random moments, then restarted, until it finishes.
 *
 * After every kill the store must hold every transition whose `send`/`start` had resolved (the
 * worker printed an ACK line for it before dying), with seqs 0..N contiguous, each journal entry
 * caused by exactly the event the plan has at that position (so nothing was applied twice or
 * skipped), and the rebuilt snapshot equal to an in-memory XState run of the same events. At the
 * end the final state and output equal both that in-memory run and a worker run never killed.
 *
 * The kill schedule comes from a seeded PRNG (set CRASH_SEED to replay another one).
 */
import { describe, expect, it } from 'vitest';
import { createActor, type AnyStateMachine } from 'xstate';
import { createRuntime, lmdbStore, type Json, type Runtime } from '../src/index.js';
import { rebuildSnapshot } from '../src/internal.js';
import { armKill, Child, closedOrHung, expectKilledOrDone, prng, crashSuite } from './fixtures/crashChild.js';
import { approvalAmount, approvalId, stepsId, stepsPlan, STEPS_EXECUTIONS, STEPS_TOTAL, type StepsEvent } from './fixtures/crashPlan.js';
import { approvalMachine, stepsMachine } from './fixtures/machines.js';

const SEED = Number(process.env.CRASH_SEED ?? 20240611);
/** Kills that must land on a running worker across the steps crash test. */
const MIN_KILLS = 36;
/** Kills per store before the worker is left to finish. */
const KILLS_PER_RUN = 12;
const MAX_RUNS = 8;

const suite = crashSuite('crashWorker', 'durastate-crash-');
const newStorePath = (): string => suite.runDir().db;

/** ACKed transitions: execution id → seq → event as the worker sent it. */
type Acks = Map<string, Map<number, Json>>;

function recordAcks(child: Child, acks: Acks): void {
  for (const line of child.lines) {
    if (!line.startsWith('ACK ')) continue;
    const m = /^ACK (\S+) (\d+) (.*)$/.exec(line);
    if (!m) throw new Error(`malformed ACK line: ${line}`);
    const [, id, seq, event] = m as unknown as [string, string, string, string];
    let byId = acks.get(id);
    if (!byId) acks.set(id, (byId = new Map()));
    const previous = byId.get(Number(seq));
    const parsed = JSON.parse(event) as Json;
    // The same seq acknowledged twice with different events would be a transition overwritten.
    if (previous !== undefined) expect(parsed, `${id} seq ${seq} was acknowledged twice with different events`).toEqual(previous);
    byId.set(Number(seq), parsed);
  }
}

function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The persisted snapshots an in-memory actor goes through for `events`: index = seq. */
function inMemoryRun(machine: AnyStateMachine, input: unknown, events: readonly { type: string }[]): Array<Record<string, Json>> {
  const actor = createActor(machine, { input });
  actor.start();
  const snaps = [json(actor.getPersistedSnapshot()) as unknown as Record<string, Json>];
  for (const event of events) {
    actor.send(event);
    snaps.push(json(actor.getPersistedSnapshot()) as unknown as Record<string, Json>);
  }
  actor.stop();
  return snaps;
}

const stepsReference = Array.from({ length: STEPS_EXECUTIONS }, (_, i) => inMemoryRun(stepsMachine, { total: STEPS_TOTAL }, stepsPlan(i)));

/**
 * Opens the store (no runtime: nothing is recovered or written) and checks every steps
 * execution against the ACKs and the plan. Returns how many transitions are committed.
 */
async function checkStepsStore(path: string, acks: Acks, where: string): Promise<number> {
  const store = lmdbStore({ path });
  await store.open();
  let committed = 0;
  try {
    for (let i = 0; i < STEPS_EXECUTIONS; i++) {
      const id = stepsId(i);
      const acked = acks.get(id) ?? new Map<number, Json>();
      const meta = await store.getMeta(id);
      if (!meta) {
        expect(acked.size, `${where}: ${id} was started (ACK) but is not in the store`).toBe(0);
        continue;
      }
      const plan = stepsPlan(i);
      const reference = stepsReference[i]!;
      const journal = await store.readJournal(id);
      // Contiguous 0..meta.seq, no gap, no duplicate, and the meta agrees with the journal.
      expect(journal.map((e) => e.seq), `${where}: ${id} journal seqs`).toEqual(Array.from({ length: meta.seq + 1 }, (_, s) => s));
      // Every acknowledged transition is there, caused by the acknowledged event.
      for (const [seq, event] of acked) {
        expect(seq, `${where}: ${id} ACKed seq ${seq} but the store is at seq ${meta.seq}`).toBeLessThanOrEqual(meta.seq);
        if (seq > 0) expect(journal[seq]!.event, `${where}: ${id} seq ${seq}`).toEqual(event);
      }
      // Every committed transition is the plan's event for that position: nothing applied twice
      // (it would shift every later one), nothing skipped.
      expect((journal[0]!.event as { type: string }).type, `${where}: ${id} seq 0`).toBe('xstate.init');
      expect(journal.slice(1).map((e) => e.event), `${where}: ${id} events`).toEqual(plan.slice(0, meta.seq));
      for (const entry of journal) {
        expect(entry.value, `${where}: ${id} value at ${entry.seq}`).toEqual(reference[entry.seq]!.value);
      }
      // The snapshot rebuilt from keyframes and patches is the in-memory one at that seq.
      const snapshot = await rebuildSnapshot(store, id, meta.seq);
      expect(snapshot, `${where}: ${id} snapshot at seq ${meta.seq}`).toEqual(reference[meta.seq]);
      expect(meta.status, `${where}: ${id} status`).toBe(meta.seq === plan.length ? 'completed' : 'waiting');
      committed += meta.seq + 1;
    }
  } finally {
    await store.close();
  }
  return committed;
}

type KillPlan = { kind: 'spawn'; ms: number } | { kind: 'ready'; ms: number } | { kind: 'acks'; n: number } | { kind: 'quote'; n: number };

function pickKill(rand: () => number): KillPlan {
  const r = rand();
  // Some kills land during start-up and recovery, some right after the runtime opened, most
  // in the middle of the work (after the n-th acknowledged send of this process).
  if (r < 0.2) return { kind: 'spawn', ms: Math.floor(rand() * 320) };
  if (r < 0.45) return { kind: 'ready', ms: Math.floor(rand() * 25) };
  return { kind: 'acks', n: 1 + Math.floor(rand() * 50) };
}

/** Arms `plan` on a freshly spawned child. */
function arm(child: Child, plan: KillPlan): void {
  if (plan.kind === 'spawn' || plan.kind === 'ready') return armKill(child, plan);
  const prefix = plan.kind === 'acks' ? 'ACK ' : 'QUOTE ';
  armKill(child, { kind: 'line', n: plan.n, counts: (line) => line.startsWith(prefix) });
}


interface FinalState {
  history: Array<{ seq: number; event: Json; value: Json; status: string }>;
  context: Json;
  value: Json;
  status: string;
  output: Json | undefined;
}

/** Reads the finished executions back through the public API (a runtime that recovers nothing). */
async function readFinal(path: string, ids: readonly string[]): Promise<Map<string, FinalState>> {
  const rt = await createRuntime({ store: lmdbStore({ path }), machines: [stepsMachine, approvalMachine], recover: false });
  try {
    const out = new Map<string, FinalState>();
    for (const id of ids) {
      const info = await rt.get(id);
      expect(info, `${id} exists`).toBeDefined();
      const history = (await rt.history(id)).map(({ seq, event, value, status }) => ({ seq, event, value, status }));
      out.set(id, { history, context: info!.context, value: info!.value, status: info!.status, output: await rt.wait(id) });
    }
    const stats = await rt.stats();
    expect(stats.byStatus.running + stats.byStatus.waiting, 'nothing left unfinished').toBe(0);
    expect(stats.byStatus.completed).toBe(ids.length);
    return out;
  } finally {
    await rt.close();
  }
}

function expectStepsFinal(final: Map<string, FinalState>, where: string): void {
  for (let i = 0; i < STEPS_EXECUTIONS; i++) {
    const id = stepsId(i);
    const plan = stepsPlan(i);
    const reference = stepsReference[i]!;
    const last = reference[plan.length]!;
    const got = final.get(id)!;
    expect(got.status, `${where}: ${id}`).toBe('completed');
    expect(got.value, `${where}: ${id}`).toBe('finished');
    expect(got.context, `${where}: ${id} context`).toEqual(last.context);
    expect(got.output, `${where}: ${id} output`).toEqual(last.output);
    expect(got.history.map((h) => h.seq), `${where}: ${id} seqs`).toEqual(Array.from({ length: plan.length + 1 }, (_, s) => s));
    expect(got.history.slice(1).map((h) => h.event), `${where}: ${id} events`).toEqual(plan as unknown as Json[]);
    // The log shows every step once, in order (a step applied twice would show here too).
    const ctx = got.context as { log: string[]; done: number; sum: number };
    expect(ctx.log).toEqual(Array.from({ length: STEPS_TOTAL }, (_, k) => `step ${k + 1} (n=${k})`));
    expect(ctx.sum).toBe((plan.filter((e) => e.type === 'ADD') as Array<Extract<StepsEvent, { type: 'ADD' }>>).reduce((a, e) => a + e.amount, 0));
  }
}

describe('crash: SIGKILL at random moments, restart, nothing acknowledged is lost', () => {
  it('steps workflows: ACKed sends are in the history, seqs contiguous, final state equals an unkilled run', async () => {
    // A run that is never killed: the final state every killed run must reach.
    const controlPath = newStorePath();
    const control = new Child(suite.worker(), ['steps', controlPath]);
    expect(expectKilledOrDone(control, await closedOrHung(control, 'control run'), 'control run')).toBe('done');
    const controlAcks: Acks = new Map();
    recordAcks(control, controlAcks);
    const ids = Array.from({ length: STEPS_EXECUTIONS }, (_, i) => stepsId(i));
    const unkilled = await readFinal(controlPath, ids);
    expectStepsFinal(unkilled, 'control');

    const rand = prng(SEED);
    let kills = 0;
    let spawns = 0;
    let runs = 0;
    let midWork = 0; // kills of a worker that had acknowledged sends and had work left
    const totalTransitions = ids.reduce((a, id) => a + unkilled.get(id)!.history.length, 0);
    while (kills < MIN_KILLS) {
      expect(runs, `seed ${SEED}: ${kills} kills after ${MAX_RUNS} runs`).toBeLessThan(MAX_RUNS);
      runs++;
      const path = newStorePath();
      const acks: Acks = new Map();
      let killsThisRun = 0;
      for (;;) {
        spawns++;
        const where = `seed ${SEED}, run ${runs}, spawn ${spawns}`;
        const child = new Child(suite.worker(), ['steps', path]);
        const plan = killsThisRun < KILLS_PER_RUN && kills < MIN_KILLS ? pickKill(rand) : undefined;
        if (plan) arm(child, plan);
        const exit = await closedOrHung(child, where);
        recordAcks(child, acks);
        const committed = await checkStepsStore(path, acks, `${where} (${JSON.stringify(plan)})`);
        if (expectKilledOrDone(child, exit, where) === 'done') break;
        kills++;
        killsThisRun++;
        if (child.lines.some((l) => l.startsWith('ACK ')) && committed < totalTransitions) midWork++;
      }
      const final = await readFinal(path, ids);
      expectStepsFinal(final, `seed ${SEED}, run ${runs}`);
      // Same history (events, values, statuses) as the run that was never killed.
      for (const id of ids) {
        expect(final.get(id), `seed ${SEED}, run ${runs}: ${id} equals the unkilled run`).toEqual(unkilled.get(id));
      }
    }
    if (process.env.CRASH_DEBUG) console.log(`steps crash test: ${kills} kills (${midWork} mid-work) over ${runs} stores, ${spawns} processes`);
    // The schedule must really have cut work in progress, not only idle or finished workers.
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(midWork, `kills that interrupted work in progress (of ${kills})`).toBeGreaterThanOrEqual(MIN_KILLS / 3);
  }, 180_000);

  it('an invoked promise actor cut by a kill is restarted by recovery, and the execution can be approved', async () => {
    const path = newStorePath();
    const id = approvalId(0);
    const amount = approvalAmount(0);
    // The worker's quote never settles: when it is killed, the execution is committed in
    // `quoting` with its invoked promise in flight.
    const holder = new Child(suite.worker(), ['approval-hold', path, id, String(amount)]);
    const started = await holder.waitForLine((l) => l.startsWith('STARTED '), 'STARTED');
    expect(JSON.parse(started.slice('STARTED '.length))).toEqual({ value: 'quoting', status: 'running', seq: 0 });
    expect((await holder.kill()).signal).toBe('SIGKILL');

    const store = lmdbStore({ path });
    await store.open();
    const before = await store.getMeta(id);
    await store.close();
    expect(before).toMatchObject({ seq: 0, value: 'quoting', status: 'running' });

    // A new process (this one) opens the store: recovery restores the execution and runs the
    // quote again (the real one this time), which moves it on to awaitingApproval.
    const rt = await createRuntime({ store: lmdbStore({ path }), machines: [approvalMachine] });
    try {
      const info = await waitUntil(rt, id, (i) => i.value !== 'quoting');
      expect(info).toMatchObject({ value: 'awaitingApproval', status: 'waiting', seq: 1, owner: rt.ownerId });
      expect(info.context).toEqual({ amount, quote: amount * 2 });
      expect(info.accepts.sort()).toEqual(['APPROVE', 'REJECT']);

      await rt.send(id, { type: 'APPROVE', by: 'alice' });
      expect(await rt.wait(id)).toEqual({ quote: amount * 2, approvedBy: 'alice' });
      const history = await rt.history(id);
      expect(history.map((h) => [h.seq, h.value, h.status])).toEqual([
        [0, 'quoting', 'running'],
        [1, 'awaitingApproval', 'waiting'],
        [2, 'approved', 'completed'],
      ]);
      expect((history[1]!.event as { type: string }).type).toMatch(/^xstate\.done\.actor\./);
      expect(history[2]!.event).toEqual({ type: 'APPROVE', by: 'alice' });
    } finally {
      await rt.close();
    }
  });

  it('approval workflows killed at random moments around their invoked promise all finish exactly once', async () => {
    const count = 4;
    const wantKills = 12;
    const ids = Array.from({ length: count }, (_, i) => approvalId(i));
    const rand = prng(SEED ^ 0x5eed);
    let kills = 0;
    let killedWhileQuoting = 0;
    for (let run = 1; kills < wantKills; run++) {
      expect(run, `seed ${SEED}: ${kills} approval kills after ${MAX_RUNS} runs`).toBeLessThanOrEqual(MAX_RUNS);
      const path = newStorePath();
      const acks: Acks = new Map();
      for (let spawns = 1; ; spawns++) {
        const where = `seed ${SEED}, approval run ${run}, spawn ${spawns}`;
        const child = new Child(suite.worker(), ['approval-run', path, String(count)]);
        if (kills < wantKills) {
          const r = rand();
          // The first kill of a store cuts a quote in flight (it takes 50-90 ms); the others
          // land during start-up and recovery, right after the runtime opened, after the n-th
          // ACK, or while the n-th quote runs.
          const plan: KillPlan =
            spawns === 1 ? { kind: 'quote', n: 1 }
            : r < 0.2 ? { kind: 'spawn', ms: 150 + Math.floor(rand() * 150) }
            : r < 0.45 ? { kind: 'ready', ms: Math.floor(rand() * 40) }
            : r < 0.7 ? { kind: 'acks', n: 1 + Math.floor(rand() * 5) }
            : { kind: 'quote', n: 1 + Math.floor(rand() * count) };
          arm(child, plan);
        }
        const exit = await closedOrHung(child, where);
        recordAcks(child, acks);
        const quoting = await checkApprovalStore(path, ids, acks, where);
        if (expectKilledOrDone(child, exit, where) === 'done') break;
        kills++;
        // This process had begun a quote that the store shows unfinished.
        if (child.lines.some((l) => l.startsWith('QUOTE ')) && quoting > 0) killedWhileQuoting++;
      }
      const final = await readFinal(path, ids);
      ids.forEach((id, i) => {
        const got = final.get(id)!;
        expect(got.output, `run ${run}: ${id}`).toEqual({ quote: approvalAmount(i) * 2, approvedBy: `worker-${i}` });
        expect(got.history.map((h) => [h.seq, h.value, h.status]), `run ${run}: ${id}`).toEqual([
          [0, 'quoting', 'running'],
          [1, 'awaitingApproval', 'waiting'],
          [2, 'approved', 'completed'],
        ]);
        expect(got.history[2]!.event).toEqual({ type: 'APPROVE', by: `worker-${i}` });
      });
    }
    if (process.env.CRASH_DEBUG) console.log(`approval crash test: ${kills} kills, ${killedWhileQuoting} with a quote in flight`);
    // Some kills must have cut a quote in flight (the case recovery has to restart).
    expect(killedWhileQuoting, 'kills that left an execution in quoting').toBeGreaterThanOrEqual(2);
  }, 120_000);
});

/** Checks the approval executions against the ACKs; returns how many are in `quoting`. */
async function checkApprovalStore(path: string, ids: readonly string[], acks: Acks, where: string): Promise<number> {
  const store = lmdbStore({ path });
  await store.open();
  let quoting = 0;
  try {
    for (const [i, id] of ids.entries()) {
      const meta = await store.getMeta(id);
      const acked = acks.get(id) ?? new Map<number, Json>();
      if (!meta) {
        expect(acked.size, `${where}: ${id} was started (ACK) but is not in the store`).toBe(0);
        continue;
      }
      const journal = await store.readJournal(id);
      expect(journal.map((e) => e.seq), `${where}: ${id} seqs`).toEqual(Array.from({ length: meta.seq + 1 }, (_, s) => s));
      expect(meta.seq, `${where}: ${id}`).toBeLessThanOrEqual(2);
      for (const [seq, event] of acked) {
        expect(seq, `${where}: ${id} ACKed seq ${seq} but the store is at seq ${meta.seq}`).toBeLessThanOrEqual(meta.seq);
        if (seq > 0) expect(journal[seq]!.event).toEqual(event);
      }
      const expected = [
        ['quoting', 'running'],
        ['awaitingApproval', 'waiting'],
        ['approved', 'completed'],
      ].slice(0, meta.seq + 1);
      expect(journal.map((e) => [e.value, e.status]), `${where}: ${id}`).toEqual(expected);
      if (meta.value === 'quoting') quoting++;
      const snapshot = (await rebuildSnapshot(store, id, meta.seq)) as { context: Json };
      const amount = approvalAmount(i);
      expect(snapshot.context, `${where}: ${id} context`).toEqual(
        meta.seq === 0 ? { amount } : meta.seq === 1 ? { amount, quote: amount * 2 } : { amount, quote: amount * 2, approvedBy: `worker-${i}` },
      );
    }
  } finally {
    await store.close();
  }
  return quoting;
}

async function waitUntil(rt: Runtime, id: string, done: (info: NonNullable<Awaited<ReturnType<Runtime['get']>>>) => boolean) {
  for (let polls = 0; polls < 1000; polls++) {
    const info = await rt.get(id);
    if (info && done(info)) return info;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${id} did not get there: ${JSON.stringify(await rt.get(id))}`);
}
