/**
 * Crash test of the timeline operations: a real child process (dist/test/fixtures/timelineWorker.js)
 * grows a family of executions on a real LMDB store with random sends, forks, rewinds and
 * deletes (`forks: 'materialise'`), and is killed with SIGKILL at random moments (often right
 * as an operation begins, or right after one of the store writes it is made of: between the
 * copies a rewind or delete gives the forks first and its own commit, or after that commit but
 * before the call returned), then restarted on the same store, which it continues.
 *
 * The test keeps its own model of the family, built only from what the workers announced
 * (`BEGIN`) and acknowledged (`ACK`), with an independent reducer for the machine's events.
 * After every process it opens the store in this process and checks, for every execution the
 * model has (and no other is in the store): its status, seq, parent link, the whole history
 * through its ancestors (seqs contiguous 0..seq, each entry's event, value, status and the
 * execution that made it), the state rebuilt at every seq, and its forks. So every acknowledged
 * fork has its parent link and the prefix its parent had, every acknowledged rewind has its
 * `durastate.rewind` entry and its branch, no chain is broken, and the one operation a kill cut
 * (announced, not acknowledged) is either all there or not at all: whichever the store shows is
 * applied to the model, and everything else must then agree. At the end of each store a runtime
 * that recovers continues every surviving execution to its end.
 *
 * The kill schedule comes from a seeded PRNG (set CRASH_SEED to replay another one,
 * CRASH_DEBUG=1 to print what the kills cut).
 */
import { describe, expect, it } from 'vitest';
import { createRuntime, lmdbStore, type Json, type Runtime } from '../src/index.js';
import { armKill, Child, closedOrHung, expectKilledOrDone, prng, crashSuite } from './fixtures/crashChild.js';
import { familyMachine, listAll, type Ack, type FamilyContext, type FamilyEvent, type Op } from './fixtures/timelineWorker.js';

const SEED = Number(process.env.CRASH_SEED ?? 20260105);
const RUNS = 4;
/** Kills that must land on a running worker across all runs. */
const MIN_KILLS = 20;
const KILLS_PER_RUN = 6;
/** Spawns per store before the worker is left to finish, whether or not the plans killed it. */
const MAX_SPAWNS_PER_RUN = 10;
const OPS_PER_SPAWN = 30;
const FINAL_OPS = 12;

const suite = crashSuite('timelineWorker', 'durastate-tlcrash-');
const newStorePath = (): string => suite.runDir().db;

// ---------------------------------------------------------------------------------------------
// The model: what the store must hold, from the workers' announcements alone.

interface Entry {
  event: Json;
  value: Json;
  status: string;
  context: FamilyContext;
  /** The execution whose journal this transition was made in (history's `from` when not the reader). */
  holder: string;
}

interface Exec {
  parent?: { id: string; seq: number };
  entries: Entry[];
  /** The execution's status (a branch is cancelled, whatever its last entry says). */
  status: string;
  output?: Json;
}

type Model = Map<string, Exec>;

const isFinished = (status: string) => status === 'completed' || status === 'failed' || status === 'cancelled';

/** The machine's transitions, written out independently of XState. */
function step(from: Entry, event: FamilyEvent, holder: string): Entry {
  const c = from.context;
  switch (event.type) {
    case 'INC':
      return { event, value: 'counting', status: 'waiting', context: { ...c, n: c.n + event.by, log: [...c.log, event.by] }, holder };
    case 'TAG':
      return { event, value: 'counting', status: 'waiting', context: { ...c, tag: event.tag }, holder };
    case 'STOP':
      return { event, value: 'stopped', status: 'completed', context: c, holder };
  }
}

function last(exec: Exec): Entry {
  return exec.entries[exec.entries.length - 1]!;
}

/** Applies an announced operation to the model, checking that the worker saw what the model has. */
function apply(model: Model, op: Op, where: string): void {
  const w = `${where}: ${JSON.stringify(op)}`;
  switch (op.op) {
    case 'start': {
      expect(model.size, `${w}: the root is started only in an empty store`).toBe(0);
      model.set(op.id, {
        entries: [{ event: { type: 'xstate.init' }, value: 'counting', status: 'waiting', context: { n: 0, tag: 't0', log: [] }, holder: op.id }],
        status: 'waiting',
      });
      return;
    }
    case 'send': {
      const x = model.get(op.id);
      expect(x, `${w}: sent to an execution the model does not have`).toBeDefined();
      expect(x!.status, `${w}: sent to a finished execution`).toBe('waiting');
      // The worker read seq (op.seq - 1) from the store: the model must agree.
      expect(x!.entries.length, `${w}: the worker's seq`).toBe(op.seq);
      const next = step(last(x!), op.event, op.id);
      x!.entries.push(next);
      x!.status = next.status;
      if (next.status === 'completed') x!.output = { n: next.context.n, tag: next.context.tag };
      return;
    }
    case 'fork': {
      const x = model.get(op.from);
      expect(x, `${w}: forked from an execution the model does not have`).toBeDefined();
      expect(model.has(op.id), `${w}: fork id used twice`).toBe(false);
      const at = x!.entries[op.seq];
      expect(at?.status, `${w}: fork point`).toBe('waiting');
      const context = { ...at!.context, ...(op.update as Partial<FamilyContext> | undefined) };
      model.set(op.id, {
        parent: { id: op.from, seq: op.seq },
        entries: [...x!.entries.slice(0, op.seq + 1), { event: { type: 'durastate.fork', parent: { id: op.from, seq: op.seq } }, value: at!.value, status: 'waiting', context, holder: op.id }],
        status: 'waiting',
      });
      return;
    }
    case 'rewind': {
      const x = model.get(op.id);
      expect(x, `${w}: rewound an execution the model does not have`).toBeDefined();
      expect(model.has(op.branch), `${w}: branch id used twice`).toBe(false);
      expect(op.seq, `${w}: rewind point`).toBeLessThan(x!.entries.length - 1);
      const at = x!.entries[op.seq]!;
      expect(at.status, `${w}: rewind point`).toBe('waiting');
      // The branch keeps everything: the shared prefix, and what followed (its own now, or
      // still marked with the execution it was copied from).
      model.set(op.branch, {
        parent: { id: op.id, seq: op.seq },
        entries: x!.entries.map((e, seq) => (seq > op.seq && e.holder === op.id ? { ...e, holder: op.branch } : e)),
        status: isFinished(x!.status) ? x!.status : 'cancelled',
        ...(x!.output !== undefined ? { output: x!.output } : {}),
      });
      x!.entries = [...x!.entries.slice(0, op.seq + 1), { ...at, event: { type: 'durastate.rewind', to: op.seq, branch: op.branch }, holder: op.id }];
      x!.status = at.status;
      delete x!.output;
      return;
    }
    case 'delete': {
      expect(model.has(op.id), `${w}: deleted an execution the model does not have`).toBe(true);
      model.delete(op.id);
      return;
    }
  }
}

/** What the worker read back after the call returned must be what the model now says. */
function checkAck(model: Model, op: Op, ack: Ack, where: string): void {
  const w = `${where}: ACK ${JSON.stringify(ack)} for ${JSON.stringify(op)}`;
  expect(ack.op, w).toBe(op.op);
  expect(ack.id, w).toBe(op.id);
  switch (ack.op) {
    case 'send':
      expect(ack.seq, `${w}: the send's seq`).toBe((op as Extract<Op, { op: 'send' }>).seq);
      expect(ack.duplicate, w).toBe(false);
      return;
    case 'fork': {
      const o = op as Extract<Op, { op: 'fork' }>;
      const f = model.get(o.id)!;
      expect(ack.parent, `${w}: fork handle's parent`).toEqual({ id: o.from, seq: o.seq });
      // The fork's history up to its fork point is the parent's as it was.
      expect(ack.prefix, `${w}: fork's prefix`).toEqual(f.entries.slice(0, o.seq + 1).map((e, seq) => [seq, (e.event as { type: string }).type, e.value, e.status]));
      expect(ack.first, `${w}: fork's first own transition`).toEqual({ event: f.entries[o.seq + 1]!.event, context: f.entries[o.seq + 1]!.context });
      return;
    }
    case 'rewind': {
      const o = op as Extract<Op, { op: 'rewind' }>;
      expect(ack.branch, w).toBe(o.branch);
      expect(ack.seq, w).toBe(o.seq + 1);
      expect(ack.entry, `${w}: the rewind's entry`).toEqual({ type: 'durastate.rewind', to: o.seq, branch: o.branch });
      expect(ack.branchSeq, `${w}: the branch's seq`).toBe(model.get(o.branch)!.entries.length - 1);
      return;
    }
    case 'delete':
      expect(ack.gone, w).toBe(true);
      return;
    case 'start':
      return;
  }
}

type Outcome = 'applied' | 'absent';

/** Whether the operation a kill cut is in the store (the rest of the check says whether all of it is). */
async function inFlightOutcome(rt: Runtime, op: Op, where: string): Promise<Outcome> {
  switch (op.op) {
    case 'start':
      return (await rt.get(op.id)) ? 'applied' : 'absent';
    case 'send': {
      const info = await rt.get(op.id);
      expect(info, `${where}: ${op.id} vanished during a send`).toBeDefined();
      expect([op.seq - 1, op.seq], `${where}: ${op.id}'s seq after a send cut by the kill`).toContain(info!.seq);
      return info!.seq === op.seq ? 'applied' : 'absent';
    }
    case 'fork':
      return (await rt.get(op.id)) ? 'applied' : 'absent';
    case 'rewind':
      return (await rt.get(op.branch)) ? 'applied' : 'absent';
    case 'delete':
      return (await rt.get(op.id)) ? 'absent' : 'applied';
  }
}

/** The init event carries the input: its type is what the model knows. */
function eventView(event: Json): Json {
  const e = event as { type: string };
  return e.type === 'xstate.init' ? { type: e.type } : event;
}

/** Every execution of the store against the model: the store has exactly the model's, each whole. */
async function verify(rt: Runtime, model: Model, where: string): Promise<void> {
  const ids = (await listAll(rt)).map((s) => s.id).sort();
  expect(ids, `${where}: the executions in the store`).toEqual([...model.keys()].sort());
  for (const [id, m] of model) {
    const w = `${where}: ${id}`;
    const top = m.entries.length - 1;
    const info = await rt.get(id);
    expect(info, `${w} exists`).toBeDefined();
    expect(info!.seq, `${w} seq`).toBe(top);
    expect(info!.status, `${w} status`).toBe(m.status);
    expect(info!.parent, `${w} parent link`).toEqual(m.parent);
    expect(info!.value, `${w} value`).toEqual(last(m).value);
    expect(info!.context, `${w} context`).toEqual(last(m).context);
    if (m.status === 'completed') expect(info!.output, `${w} output`).toEqual(m.output);
    // The whole history through the ancestors: contiguous, no gap, no duplicate, each entry
    // the model's (for a fork, its parent's up to the fork point).
    const history = await rt.history(id);
    expect(history.map((h) => h.seq), `${w} history seqs`).toEqual(Array.from({ length: top + 1 }, (_, s) => s));
    expect(
      history.map((h) => ({ seq: h.seq, event: eventView(h.event), value: h.value, status: h.status, from: h.from })),
      `${w} history`,
    ).toEqual(m.entries.map((e, seq) => ({ seq, event: eventView(e.event), value: e.value, status: e.status, from: e.holder === id ? undefined : e.holder })));
    // Every point can be rebuilt (through the chain for a fork), the fork's first own one too.
    for (let seq = 0; seq <= top; seq++) {
      const e = m.entries[seq]!;
      const state = await rt.stateAt(id, { seq });
      expect(
        { seq: state.seq, event: eventView(state.event), value: state.value, status: state.status, context: state.context, from: state.from },
        `${w} stateAt ${seq}`,
      ).toEqual({ seq, event: eventView(e.event), value: e.value, status: e.status, context: e.context, from: e.holder === id ? undefined : e.holder });
    }
    // Its forks are linked to it, and only they.
    const forks = (await rt.lineage(id)).tree.forks.map((f) => f.id).sort();
    const children = [...model].filter(([, c]) => c.parent?.id === id).map(([c]) => c).sort();
    expect(forks, `${w} forks`).toEqual(children);
  }
}

async function openRuntime(path: string, recover: boolean): Promise<Runtime> {
  return createRuntime({ store: lmdbStore({ path }), machines: [familyMachine], recover });
}

// ---------------------------------------------------------------------------------------------
// Kills.

type Write = 'copyHistory' | 'rewind' | 'delete' | 'create';

type KillPlan =
  | { kind: 'spawn'; ms: number }
  | { kind: 'step'; write: Write; n: number }
  | { kind: 'ready'; ms: number }
  | { kind: 'ack'; n: number }
  | { kind: 'begin'; op: Op['op'] | 'any'; n: number; ms: number | 'now' };

function pickKill(rand: () => number): KillPlan {
  const r = rand();
  // Most kills land as an operation begins (at once or a few ms later, so some cut it and
  // some find it done), some right after an acknowledgement, some during start-up and recovery.
  if (r < 0.08) return { kind: 'spawn', ms: 150 + Math.floor(rand() * 300) };
  if (r < 0.2) return { kind: 'ready', ms: Math.floor(rand() * 20) };
  if (r < 0.32) return { kind: 'ack', n: 1 + Math.floor(rand() * 30) };
  // Right after one of the writes an operation is made of (the worker pauses there): between a
  // rewind's or a delete's copies for the forks and its own commit, or after the last commit.
  if (r < 0.55) {
    const writes = ['copyHistory', 'copyHistory', 'copyHistory', 'rewind', 'rewind', 'delete', 'create'] as const;
    const write = writes[Math.floor(rand() * writes.length)]!;
    return { kind: 'step', write, n: 1 + Math.floor(rand() * (write === 'create' ? 4 : 2)) };
  }
  const ops = ['any', 'any', 'fork', 'fork', 'rewind', 'rewind', 'delete', 'send'] as const;
  const op = ops[Math.floor(rand() * ops.length)]!;
  const n = 1 + Math.floor(rand() * (op === 'any' ? 25 : op === 'delete' ? 2 : op === 'send' ? 10 : 5));
  return { kind: 'begin', op, n, ms: rand() < 0.5 ? 'now' : Math.floor(rand() * 4) };
}

function arm(child: Child, plan: KillPlan): void {
  if (plan.kind === 'spawn' || plan.kind === 'ready') return armKill(child, plan);
  const counts = (line: string): boolean => {
    if (plan.kind === 'ack') return line.startsWith('ACK ');
    if (plan.kind === 'step') return line.startsWith(`STEP ${plan.write} `);
    return line.startsWith('BEGIN ') && (plan.op === 'any' || (JSON.parse(line.slice(6)) as Op).op === plan.op);
  };
  armKill(child, { kind: 'line', n: plan.n, counts, ...(plan.kind === 'begin' && plan.ms !== 'now' ? { ms: plan.ms } : {}) });
}

/** The write that makes an operation: once it resolved, the operation is durable. */
const FINAL_WRITE: Partial<Record<Op['op'], Write>> = { start: 'create', fork: 'create', rewind: 'rewind', delete: 'delete' };

/**
 * Replays one process's lines on the model; returns the operation it announced and did not
 * acknowledge, with the writes of it that had resolved.
 */
function replay(child: Child, model: Model, where: string): { op: Op; steps: Write[] } | undefined {
  let pending: Op | undefined;
  let steps: Write[] = [];
  for (const line of child.lines) {
    if (line.startsWith('BEGIN ')) {
      expect(pending, `${where}: ${line} while ${JSON.stringify(pending)} was not acknowledged`).toBeUndefined();
      pending = JSON.parse(line.slice(6)) as Op;
      steps = [];
    } else if (line.startsWith('STEP ')) {
      expect(pending, `${where}: ${line} outside an operation`).toBeDefined();
      steps.push(line.split(' ')[1] as Write);
    } else if (line.startsWith('ACK ')) {
      expect(pending, `${where}: ${line} without BEGIN`).toBeDefined();
      apply(model, pending!, where);
      checkAck(model, pending!, JSON.parse(line.slice(4)) as Ack, where);
      pending = undefined;
    } else if (line !== 'READY' && line !== 'DONE') {
      throw new Error(`${where}: unexpected line from the worker: ${line}`);
    }
  }
  return pending && { op: pending, steps };
}

/** After the last process of a store: every surviving execution goes on, here, after recovery. */
async function continueAll(path: string, model: Model, where: string): Promise<number> {
  const rt = await openRuntime(path, true);
  let continued = 0;
  try {
    await verify(rt, model, `${where}, after recovery`);
    for (const [id, m] of model) {
      if (m.status === 'waiting') {
        for (const event of [{ type: 'INC', by: 2 }, { type: 'STOP' }] as const) {
          const { seq } = await rt.send(id, event);
          expect(seq, `${where}: ${id} continued`).toBe(m.entries.length);
          apply(model, { op: 'send', id, seq, event }, where);
        }
        continued++;
      }
      if (m.status === 'completed') expect(await rt.wait(id), `${where}: ${id} output`).toEqual(m.output);
      else await expect(rt.wait(id), `${where}: ${id} stays ${m.status}`).rejects.toThrow();
    }
    await verify(rt, model, `${where}, continued`);
  } finally {
    await rt.close();
  }
  return continued;
}

describe('timeline crash: SIGKILL during fork, rewind, delete and sends', () => {
  it('every acknowledged operation is in the store, a cut one is all there or not at all, every chain stays whole', async () => {
    const rand = prng(SEED);
    let kills = 0;
    let spawns = 0;
    const cut: Record<string, Record<Outcome, number>> = {};
    let continued = 0;
    let largest = 0;
    for (let run = 1; run <= RUNS || kills < MIN_KILLS; run++) {
      expect(run, `seed ${SEED}: ${kills} kills after ${RUNS + 2} runs`).toBeLessThanOrEqual(RUNS + 2);
      const path = newStorePath();
      const model: Model = new Map();
      let killsThisRun = 0;
      for (let spawn = 1; ; spawn++) {
        spawns++;
        const plan = killsThisRun < KILLS_PER_RUN && spawn < MAX_SPAWNS_PER_RUN ? pickKill(rand) : undefined;
        const where = `seed ${SEED}, run ${run}, spawn ${spawn} (${JSON.stringify(plan ?? 'no kill')})`;
        const child = new Child(suite.worker(), [path, String(SEED + run), String(spawn), String(plan ? OPS_PER_SPAWN : FINAL_OPS)]);
        if (plan) arm(child, plan);
        const exit = await closedOrHung(child, where);
        const outcome = expectKilledOrDone(child, exit, where);
        const cutOp = replay(child, model, where);
        if (outcome === 'done') expect(cutOp, `${where}: finished with an operation unacknowledged`).toBeUndefined();
        const pending = cutOp?.op;
        const rt = await openRuntime(path, false);
        try {
          if (cutOp && pending) {
            const result = await inFlightOutcome(rt, pending, where);
            const final = FINAL_WRITE[pending.op];
            // Its last write had resolved: it is durable, though the call never returned.
            if (final && cutOp.steps.includes(final)) expect(result, `${where}: ${JSON.stringify(pending)} committed (${cutOp.steps.join(', ')}) but is not in the store`).toBe('applied');
            const phase = cutOp.steps.length ? `${pending.op} after ${cutOp.steps.join('+')}` : pending.op;
            (cut[phase] ??= { applied: 0, absent: 0 })[result]++;
            if (result === 'applied') apply(model, pending, `${where}, cut by the kill`);
          }
          await verify(rt, model, `${where}${pending ? `, cut ${JSON.stringify(pending)}` : ''}`);
        } finally {
          await rt.close();
        }
        largest = Math.max(largest, model.size);
        if (outcome === 'killed') {
          kills++;
          killsThisRun++;
        }
        if (!plan) break;
      }
      continued += await continueAll(path, model, `seed ${SEED}, run ${run}`);
    }
    const cuts = Object.values(cut).reduce((a, c) => a + c.applied + c.absent, 0);
    if (process.env.CRASH_DEBUG) {
      console.log(`timeline crash test: ${kills} kills over ${spawns} processes, ${cuts} cut an operation ${JSON.stringify(cut)}, up to ${largest} executions, ${continued} continued`);
    }
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    // The schedule must really have cut operations in flight, not only idle workers.
    expect(cuts, `kills that cut an operation (${JSON.stringify(cut)})`).toBeGreaterThanOrEqual(MIN_KILLS / 3);
    expect(continued, 'executions continued after the last crash').toBeGreaterThan(0);
  }, 120_000);
});
