/**
 * Durable effects under SIGKILL: a real child process (dist/test/fixtures/effectsWorker.js, mode
 * `effects`) runs workflows whose every step is a durable effect (a → b → c ‖ d → charge →
 * [refund] → e, several rounds, several executions at once). Each effect appends to a side-effect
 * log outside the store (`start` when its code begins, `end` with the outcome when it finishes),
 * takes a few ms, fails transiently on some attempts (retried by the runtime's policy, real
 * time), and `charge` is declined for good on odd rounds (TerminalError → onError → refund).
 * The worker is killed at random moments and restarted (recovery is `createRuntime`'s) until
 * every execution completes.
 *
 * After every process, the log segment it wrote is audited against the store as the process
 * left it (read without a runtime, so nothing is recovered or written):
 *
 * - an effect whose result (or terminal error) was recorded when a process died never starts
 *   again in a later process: a recorded effect ran exactly once; the record matches the run
 *   that produced it (attempt, output);
 * - an effect that runs in two processes was therefore in flight (started, or finished but not
 *   yet recorded) when the first one died, and both runs carry the same key: one invocation
 *   (execution, step, round) has one key, `<execution>/<step>@<seq>`, in every process;
 * - attempts continue across a kill: the first attempt a new process runs is the recorded
 *   attempts + 1 (a kill during a backoff resumes it with the next attempt, not attempt 1);
 * - commit before effect: the transition (seq in the key) that invoked an effect is in the
 *   journal of every process that saw the effect's code start, in the invoking state;
 * - at the end: every invocation is recorded done/failed, history seqs are contiguous, and the
 *   output, context and history (up to the order of the two parallel effects) equal an unkilled
 *   run's.
 *
 * The kill schedule comes from a seeded PRNG (CRASH_SEED replays another one; CRASH_DEBUG=1
 * prints the counts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createRuntime, lmdbStore, type EffectInfo, type EffectRecord, type Json } from '../src/index.js';
import { armKill, Child, closedOrHung, expectKilledOrDone, prng, crashSuite, type RunDir } from './fixtures/crashChild.js';
import {
  declines,
  effectsId,
  effectsMachine,
  INVOKING_STATE,
  stepOutput,
  transientFailures,
  type EffectStep,
  type StepInput,
} from './fixtures/effectsMachines.js';

const SEED = Number(process.env.CRASH_SEED ?? 20250311);
const EXECUTIONS = 3;
const ROUNDS = 3;
/** Kills that must land on a running worker, over all stores. */
const MIN_KILLS = 30;
/** Kills per store before the worker is left to finish. */
const KILLS_PER_RUN = 10;
const MAX_RUNS = 6;
const STEPS: readonly EffectStep[] = ['a', 'b', 'c', 'd', 'charge', 'refund', 'e'];

const suite = crashSuite('effectsWorker', 'durastate-effects-crash-');
const newRunDir = (): RunDir => suite.runDir();

const ids = Array.from({ length: EXECUTIONS }, (_, i) => effectsId(i));

// ---------------------------------------------------------------------------------------------
// The side-effect log

type LogLine =
  | { kind: 'start'; key: string; attempt: number; input: StepInput; pid: number; text: string }
  | { kind: 'end'; key: string; attempt: number; outcome: 'ok' | 'fail' | 'terminal'; output: string | null; pid: number; text: string };

/** The lines one process wrote, after its `boot` line. */
interface Segment {
  pid: number;
  lines: LogLine[];
}

function parseLog(path: string): Segment[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const segments: Segment[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const f = raw.split(' ');
    if (f[0] === 'boot') {
      segments.push({ pid: Number(f[1]), lines: [] });
      continue;
    }
    const segment = segments.at(-1);
    if (!segment) throw new Error(`log line before any boot line: ${raw}`);
    if (f[0] === 'start' && f.length === 7) {
      const [, key, attempt, exec, step, round, pid] = f as [string, string, string, string, string, string, string];
      expect(STEPS, `step in log line: ${raw}`).toContain(step);
      segment.lines.push({ kind: 'start', key, attempt: Number(attempt), input: { exec, step: step as EffectStep, round: Number(round) }, pid: Number(pid), text: raw });
    } else if (f[0] === 'end' && f.length === 6) {
      const [, key, attempt, outcome, output, pid] = f as [string, string, string, string, string, string];
      expect(['ok', 'fail', 'terminal'], `outcome in log line: ${raw}`).toContain(outcome);
      segment.lines.push({ kind: 'end', key, attempt: Number(attempt), outcome: outcome as 'ok' | 'fail' | 'terminal', output: output === '-' ? null : output, pid: Number(pid), text: raw });
    } else {
      throw new Error(`malformed log line: ${JSON.stringify(raw)}`);
    }
  }
  return segments;
}

function identityOf(input: StepInput): string {
  return `${input.exec} ${input.step} ${input.round}`;
}

/** The seq of the invoking transition, from a key `<execution>/<step>@<seq>`. */
function seqOfKey(key: string): number {
  const m = /@(\d+)$/.exec(key);
  if (!m) throw new Error(`key without @seq: ${key}`);
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------------------
// The store as a process left it

interface StoreState {
  records: Map<string, EffectRecord>;
  journals: Map<string, Array<{ seq: number; value: Json; event: Json }>>;
  status: Map<string, string>;
}

async function readStore(path: string): Promise<StoreState> {
  const store = lmdbStore({ path });
  await store.open();
  try {
    const state: StoreState = { records: new Map(), journals: new Map(), status: new Map() };
    for (const id of ids) {
      const meta = await store.getMeta(id);
      if (!meta) continue;
      state.status.set(id, meta.status);
      const journal = await store.readJournal(id);
      expect(journal.map((e) => e.seq), `${id}: journal seqs contiguous`).toEqual(Array.from({ length: meta.seq + 1 }, (_, s) => s));
      state.journals.set(id, journal.map((e) => ({ seq: e.seq, value: e.value, event: e.event })));
      for (const record of await store.listEffects(id)) state.records.set(record.key, record);
    }
    return state;
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The audit

interface Counts {
  processes: number;
  kills: number;
  /** Kills that left at least one effect started (or finished) and not recorded. */
  killsInFlight: number;
  /** Kills that left an effect waiting out a backoff (pending record, next attempt not started). */
  killsInBackoff: number;
  /** (effect, process) pairs where the effect ran again after a kill. */
  reruns: number;
  /** Re-runs that continued at an attempt > 1 (the attempt count survived the kill). */
  rerunsContinuingAttempts: number;
  /** Effects whose code completed successfully in two processes (killed before the record). */
  doubleSuccess: number;
  /** Kills that left a recorded outcome not yet consumed by a committed transition (delivered from the record after recovery). */
  killsRecordedUndelivered: number;
}

class EffectsAudit {
  private readonly keyOfIdentity = new Map<string, string>();
  private readonly identityOfKey = new Map<string, string>();
  /** Every end line so far, by key. */
  private readonly ends = new Map<string, Array<Extract<LogLine, { kind: 'end' }>>>();
  /** Processes in which each key started. */
  private readonly ranIn = new Map<string, number[]>();
  private records = new Map<string, EffectRecord>();
  private audited = 0;
  readonly counts: Counts = { processes: 0, kills: 0, killsInFlight: 0, killsInBackoff: 0, reruns: 0, rerunsContinuingAttempts: 0, doubleSuccess: 0, killsRecordedUndelivered: 0 };

  /** Audits the log segments written since the last call against the store as they left it. */
  audit(logPath: string, state: StoreState, killed: boolean, where: string): void {
    const segments = parseLog(logPath);
    expect(segments.length - this.audited, `${where}: one process at a time`).toBeLessThanOrEqual(1);
    const fresh = segments.slice(this.audited);
    this.audited = segments.length;
    let open = new Map<string, LogLine>();
    for (const segment of fresh) {
      this.counts.processes++;
      open = this.auditSegment(segment, state, where);
    }
    this.auditRecords(state, where);
    if (killed) {
      this.counts.kills++;
      const unrecorded = [...open.keys()].filter((k) => this.records.get(k)?.status !== 'done' && this.records.get(k)?.status !== 'failed');
      if (unrecorded.length > 0) this.counts.killsInFlight++;
      // An effect whose last attempt failed and was recorded, the next one not begun: in backoff.
      const inBackoff = [...state.records.values()].some((r) => r.status === 'pending' && !open.has(r.key) && !this.startedAfter(fresh, r));
      if (inBackoff) this.counts.killsInBackoff++;
      if ([...state.records.values()].some((r) => (r.status === 'done' || r.status === 'failed') && !this.consumed(state, r.key))) this.counts.killsRecordedUndelivered++;
    }
  }

  /** Whether a committed transition consumed the outcome of invocation `key`. */
  private consumed(state: StoreState, key: string): boolean {
    const [exec, rest] = key.split('/') as [string, string];
    const child = rest.slice(0, rest.lastIndexOf('@'));
    const seq = seqOfKey(key);
    return (state.journals.get(exec) ?? []).some(
      (e) => e.seq > seq && ['xstate.done.actor.', 'xstate.error.actor.'].some((p) => (e.event as { type: string }).type === p + child),
    );
  }

  private startedAfter(fresh: Segment[], record: EffectRecord): boolean {
    return fresh.some((s) => s.lines.some((l) => l.kind === 'start' && l.key === record.key && l.attempt > record.attempts));
  }

  /** Returns the effects the process left started or finished without a record. */
  private auditSegment(segment: Segment, state: StoreState, where: string): Map<string, LogLine> {
    const proc = this.counts.processes;
    const at = `${where}, process ${segment.pid}`;
    const before = this.records; // as the previous process left the store
    /** Per key in this process: the last attempt and how it went. */
    const local = new Map<string, { attempt: number; last: LogLine }>();
    for (const line of segment.lines) {
      expect(line.pid, `${at}: ${line.text} in the segment of ${segment.pid}`).toBe(segment.pid);
      const seen = local.get(line.key);
      if (line.kind === 'start') {
        const identity = identityOf(line.input);
        // One invocation, one key, in every process and attempt; the key names the invocation.
        expect(line.key, `${at}: ${line.text}`).toMatch(new RegExp(`^${line.input.exec}/${line.input.step}@\\d+$`));
        expect(this.keyOfIdentity.get(identity) ?? line.key, `${at}: ${identity} ran under two keys`).toBe(line.key);
        expect(this.identityOfKey.get(line.key) ?? identity, `${at}: key ${line.key} used by two invocations`).toBe(identity);
        this.keyOfIdentity.set(identity, line.key);
        this.identityOfKey.set(line.key, identity);
        // A recorded effect never runs again.
        const recorded = before.get(line.key);
        expect(
          recorded?.status === 'done' || recorded?.status === 'failed',
          `${at}: ${line.text} although its result was recorded (${JSON.stringify(recorded)}) before this process started`,
        ).toBe(false);
        if (!seen) {
          // The first attempt here continues from the record: attempts survive a kill.
          expect(line.attempt, `${at}: ${line.text}, record before: ${JSON.stringify(recorded)}`).toBe((recorded?.attempts ?? 0) + 1);
          const procs = this.ranIn.get(line.key) ?? [];
          if (procs.length > 0) {
            this.counts.reruns++;
            if (line.attempt > 1) this.counts.rerunsContinuingAttempts++;
          }
          this.ranIn.set(line.key, [...procs, proc]);
        } else {
          // Within a process: the next attempt only after the previous one failed transiently.
          expect(seen.last.kind === 'end' && seen.last.outcome === 'fail', `${at}: ${line.text} after ${seen.last.text}`).toBe(true);
          expect(line.attempt, `${at}: ${line.text} after ${seen.last.text}`).toBe(seen.attempt + 1);
        }
        local.set(line.key, { attempt: line.attempt, last: line });
      } else {
        expect(seen?.last.kind === 'start' && seen.attempt === line.attempt, `${at}: ${line.text} without its start`).toBe(true);
        const start = seen!.last as Extract<LogLine, { kind: 'start' }>;
        // The worker's effect is deterministic in (invocation, attempt): check the log is sane.
        const want = declines(start.input) ? 'terminal' : line.attempt <= transientFailures(start.input) ? 'fail' : 'ok';
        expect(line.outcome, `${at}: ${line.text}`).toBe(want);
        if (want === 'ok') expect(line.output, `${at}: ${line.text}`).toBe(stepOutput(start.input, line.attempt));
        local.set(line.key, { attempt: line.attempt, last: line });
        const ends = this.ends.get(line.key) ?? [];
        if (line.outcome === 'ok' && ends.some((e) => e.outcome === 'ok')) this.counts.doubleSuccess++;
        this.ends.set(line.key, [...ends, line]);
      }
    }
    // Commit before effect: every effect this process started was invoked by a transition that
    // is durable now, and that transition entered the invoking state.
    for (const [key, { last }] of local) {
      const identity = this.identityOfKey.get(key)!;
      const [exec, step] = identity.split(' ') as [string, EffectStep];
      const seq = seqOfKey(key);
      const journal = state.journals.get(exec) ?? [];
      expect(seq, `${at}: ${key} started, but the journal of ${exec} ends at seq ${journal.length - 1} (${last.text})`).toBeLessThan(journal.length);
      expect(JSON.stringify(journal[seq]!.value), `${at}: ${key} was invoked at seq ${seq}`).toContain(INVOKING_STATE[step]);
    }
    // What this process left running or finished without a record.
    const open = new Map<string, LogLine>();
    for (const [key, { last }] of local) {
      const record = state.records.get(key);
      if (last.kind === 'start') open.set(key, last);
      else if (last.outcome !== 'fail' && record?.status !== 'done' && record?.status !== 'failed') open.set(key, last);
    }
    return open;
  }

  /** The records as the process left them: each one matches a run in the log, none changed after it was final. */
  private auditRecords(state: StoreState, where: string): void {
    for (const [key, before] of this.records) {
      if (before.status === 'done' || before.status === 'failed') {
        expect(state.records.get(key), `${where}: the final record of ${key} changed`).toEqual(before);
      } else {
        const now = state.records.get(key);
        expect(now, `${where}: the record of ${key} disappeared`).toBeDefined();
        expect(now!.attempts, `${where}: attempts of ${key} went back`).toBeGreaterThanOrEqual(before.attempts);
      }
    }
    for (const [key, record] of state.records) {
      const ends = this.ends.get(key) ?? [];
      const what = `${where}: record ${JSON.stringify(record)}`;
      expect(this.identityOfKey.has(key), `${what} has no run in the log`).toBe(true);
      const outcome = record.status === 'done' ? 'ok' : record.status === 'failed' ? 'terminal' : 'fail';
      const run = ends.find((e) => e.attempt === record.attempts && e.outcome === outcome);
      expect(run, `${what} matches no run in the log (${ends.map((e) => e.text).join(' | ')})`).toBeDefined();
      if (record.status === 'done') expect(record.output, what).toBe(run!.output);
      if (record.status === 'failed') expect(record.error?.name, what).toBe('TerminalError');
      if (record.status === 'pending') {
        expect(record.retryAt, `${what}: a pending record has its retry time`).toEqual(expect.any(Number));
        expect(record.error?.message, what).toContain('transient failure');
      }
    }
    // Recorded before delivered: every effect outcome a committed transition consumed is the
    // recorded one (the invocation is the latest of that child before the transition).
    for (const [exec, journal] of state.journals) {
      for (const entry of journal) {
        const m = /^xstate\.(done|error)\.actor\.(.+)$/.exec((entry.event as { type: string }).type);
        if (!m) continue;
        const [, kind, child] = m as unknown as [string, string, string];
        const prefix = `${exec}/${child}@`;
        const invocations = [...state.records.keys()].filter((k) => k.startsWith(prefix) && seqOfKey(k) < entry.seq);
        const key = invocations.sort((x, y) => seqOfKey(y) - seqOfKey(x))[0];
        const record = key === undefined ? undefined : state.records.get(key);
        const what = `${where}: ${exec} seq ${entry.seq} consumed ${JSON.stringify(entry.event)}`;
        expect(record?.status, `${what}, but the effect's record is ${JSON.stringify(record)}`).toBe(kind === 'done' ? 'done' : 'failed');
        if (kind === 'done') expect((entry.event as { output?: Json }).output, what).toEqual(record!.output);
      }
    }
    this.records = new Map(state.records);
  }

  /** At the end: every invocation ran to a recorded result; keys and attempts as an unkilled run's. */
  finish(where: string): Map<string, EffectRecord> {
    const byIdentity = new Map<string, EffectRecord>();
    for (const [identity, key] of this.keyOfIdentity) {
      const record = this.records.get(key);
      expect(record?.status === 'done' || record?.status === 'failed', `${where}: ${identity} (${key}) ended without a final record: ${JSON.stringify(record)}`).toBe(true);
      byIdentity.set(identity, record!);
      // The effect ran in more than one process only if a kill cut it: checked per process above
      // (a later process never starts a recorded effect). Here: each key ran in consecutive processes.
      const procs = this.ranIn.get(key)!;
      for (let i = 1; i < procs.length; i++) expect(procs[i], `${where}: ${key} ran in processes ${procs.join(',')}`).toBeGreaterThan(procs[i - 1]!);
    }
    for (const key of this.records.keys()) expect(this.identityOfKey.has(key), `${where}: stray record ${key}`).toBe(true);
    return byIdentity;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the final state back through the public API

interface FinalState {
  output: Json | undefined;
  context: Json;
  /** History labels, parallel pair sorted, restores left out. */
  labels: string[];
  restores: number;
  effects: EffectInfo[];
}

function label(event: Json): string {
  const type = (event as { type: string }).type;
  if (type === 'xstate.init') return 'init';
  const done = /^xstate\.done\.actor\.(.+)$/.exec(type);
  if (done) return `done:${done[1]}`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(type);
  if (error) return `error:${error[1]}`;
  return type;
}

/** Labels with each run of the parallel pair's completions sorted (their order varies). */
function normalise(labels: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < labels.length; ) {
    if (labels[i] === 'done:c' || labels[i] === 'done:d') {
      let j = i;
      while (j < labels.length && (labels[j] === 'done:c' || labels[j] === 'done:d')) j++;
      out.push(...labels.slice(i, j).sort());
      i = j;
    } else {
      out.push(labels[i]!);
      i++;
    }
  }
  return out;
}

async function readFinal(path: string): Promise<Map<string, FinalState>> {
  const rt = await createRuntime({ store: lmdbStore({ path }), machines: [effectsMachine], recover: false });
  try {
    const out = new Map<string, FinalState>();
    for (const id of ids) {
      const info = await rt.get(id);
      expect(info?.status, `${id} completed`).toBe('completed');
      const history = await rt.history(id);
      expect(history.map((h) => h.seq), `${id}: history seqs`).toEqual(history.map((_, i) => i));
      const labels = history.map((h) => label(h.event));
      const restores = labels.filter((l) => l === 'durastate.restore').length;
      out.set(id, {
        output: await rt.wait(id),
        context: info!.context,
        labels: normalise(labels.filter((l) => l !== 'durastate.restore')),
        restores,
        effects: info!.effects,
      });
    }
    const stats = await rt.stats();
    expect(stats.byStatus.running + stats.byStatus.waiting, 'nothing left unfinished').toBe(0);
    return out;
  } finally {
    await rt.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Processes and kills

type KillPlan = { kind: 'spawn'; ms: number } | { kind: 'ready'; ms: number } | { kind: 'run'; n: number; ms: number };

function pickKill(rand: () => number): KillPlan {
  const r = rand();
  // A few kills during start-up and recovery, some right after the runtime opened, most while
  // effects run: after the n-th effect attempt this process began, plus 0-12 ms (into the
  // effect's own latency, its record, the next transition, a backoff).
  if (r < 0.15) return { kind: 'spawn', ms: Math.floor(rand() * 300) };
  if (r < 0.3) return { kind: 'ready', ms: Math.floor(rand() * 20) };
  return { kind: 'run', n: 1 + Math.floor(rand() * 30), ms: Math.floor(rand() * 13) };
}

function arm(child: Child, plan: KillPlan): void {
  if (plan.kind === 'spawn' || plan.kind === 'ready') return armKill(child, plan);
  armKill(child, { kind: 'line', n: plan.n, counts: (line) => line.startsWith('RUN '), ...(plan.ms === 0 ? {} : { ms: plan.ms }) });
}


function workerArgs(run: { db: string; log: string }): string[] {
  return ['effects', run.db, run.log, String(EXECUTIONS), String(ROUNDS)];
}

/** The attempts each invocation needs, by the worker's deterministic schedule. */
function expectedAttempts(identity: string): number {
  const [exec, step, round] = identity.split(' ') as [string, EffectStep, string];
  const input = { exec, step, round: Number(round) };
  return declines(input) ? 1 : transientFailures(input) + 1;
}

describe('durable effects under SIGKILL', () => {
  it('a recorded effect runs exactly once; one cut in flight runs again with the same key and the next attempt; outputs equal an unkilled run', async () => {
    // The unkilled run: its final state is what every killed run must reach.
    const controlRun = newRunDir();
    const control = new Child(suite.worker(), workerArgs(controlRun));
    expect(expectKilledOrDone(control, await closedOrHung(control, 'control run'), 'control run')).toBe('done');
    const controlAudit = new EffectsAudit();
    controlAudit.audit(controlRun.log, await readStore(controlRun.db), false, 'control run');
    const controlRecords = controlAudit.finish('control run');
    const unkilled = await readFinal(controlRun.db);
    // Sanity of the workload: every step of every round ran, some retried, some declined.
    expect(controlRecords.size).toBe(EXECUTIONS * ROUNDS * 6 + EXECUTIONS * Math.floor(ROUNDS / 2));
    expect([...controlRecords.values()].filter((r) => r.status === 'failed').length).toBe(EXECUTIONS * Math.floor(ROUNDS / 2));
    expect([...controlRecords.values()].some((r) => r.attempts === 3)).toBe(true);
    for (const [identity, record] of controlRecords) expect(record.attempts, identity).toBe(expectedAttempts(identity));
    for (const id of ids) expect(unkilled.get(id)!.restores, `${id}: an unkilled run restores nothing`).toBe(0);

    const rand = prng(SEED);
    const total: Counts = { processes: 0, kills: 0, killsInFlight: 0, killsInBackoff: 0, reruns: 0, rerunsContinuingAttempts: 0, doubleSuccess: 0, killsRecordedUndelivered: 0 };
    let restores = 0;
    for (let runs = 1; total.kills < MIN_KILLS; runs++) {
      expect(runs, `seed ${SEED}: ${total.kills} kills after ${MAX_RUNS} runs`).toBeLessThanOrEqual(MAX_RUNS);
      const run = newRunDir();
      const audit = new EffectsAudit();
      for (let spawns = 1; ; spawns++) {
        const where = `seed ${SEED}, run ${runs}, spawn ${spawns}`;
        const child = new Child(suite.worker(), workerArgs(run));
        const plan = audit.counts.kills < KILLS_PER_RUN && total.kills + audit.counts.kills < MIN_KILLS ? pickKill(rand) : undefined;
        if (plan) arm(child, plan);
        const exit = await closedOrHung(child, where);
        const outcome = expectKilledOrDone(child, exit, where);
        audit.audit(run.log, await readStore(run.db), outcome === 'killed', `${where} (${JSON.stringify(plan ?? 'no kill')})`);
        if (outcome === 'done') break;
      }
      const records = audit.finish(`seed ${SEED}, run ${runs}`);
      // The same invocations, each recorded with the same outcome and attempts as unkilled.
      expect([...records.keys()].sort()).toEqual([...controlRecords.keys()].sort());
      for (const [identity, record] of records) {
        const want = controlRecords.get(identity)!;
        expect({ status: record.status, attempts: record.attempts, output: record.output }, `run ${runs}: ${identity}`).toEqual({
          status: want.status,
          attempts: want.attempts,
          output: want.output,
        });
      }
      const final = await readFinal(run.db);
      for (const id of ids) {
        const got = final.get(id)!;
        const want = unkilled.get(id)!;
        expect(got.output, `run ${runs}: ${id} output`).toEqual(want.output);
        expect(got.context, `run ${runs}: ${id} context`).toEqual(want.context);
        expect(got.labels, `run ${runs}: ${id} history`).toEqual(want.labels);
        // rt.get(id).effects: one final record per invocation of this execution.
        expect(got.effects.map((e) => e.status).sort(), `run ${runs}: ${id} effects`).toEqual(want.effects.map((e) => e.status).sort());
        restores += got.restores;
      }
      for (const k of Object.keys(total) as Array<keyof Counts>) total[k] += audit.counts[k];
    }
    if (process.env.CRASH_DEBUG) console.log(`effects crash test (seed ${SEED}): ${JSON.stringify(total)}, restore entries ${restores}`);
    expect(total.kills).toBeGreaterThanOrEqual(MIN_KILLS);
    // The schedule must really have cut effects in flight, and some must have run again.
    expect(total.killsInFlight, `kills with an effect in flight (of ${total.kills})`).toBeGreaterThanOrEqual(MIN_KILLS / 3);
    expect(total.reruns, 'effects run again after a kill').toBeGreaterThanOrEqual(5);
  }, 120_000);
});
