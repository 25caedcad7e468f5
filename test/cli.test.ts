/**
 * The `durastate` command, end to end: the REAL binary (`node bin/durastate.js`, which runs
 * dist/src/cli/main.js: `npm run build` first) as child processes against a temporary LMDB store
 * per test. Machines: the bundled examples (researchAgent) and test/fixtures/cliMachines.ts
 * (loaded with `--machines dist/test/fixtures/cliMachines.js`).
 *
 * Tests run concurrently (each has its own store and its own child processes, killed after it).
 * Nothing here measures time: every wait is for a line a process prints or for a process to end,
 * with a bail-out for a hung process.
 *
 * The last group pins CLI bugs these tests found (and that were fixed): a command waiting on
 * another process exited 13, a failed run exited 0, fractional percentages, an API-worded hint,
 * a --store folder with a dot in its name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, it, type ExpectStatic, type TestContext } from 'vitest';
import { builtFixture, repoRoot } from './fixtures/crashChild.js';
import { tempDir } from './helpers.js';

const BIN = join(repoRoot, 'bin', 'durastate.js');
const MAIN = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" before these tests (npm test does).`);
/** Our machines, compiled (throws a clear error when the build is missing or stale). */
const CLI_MACHINES = builtFixture('cliMachines');

const RESEARCH_INPUT = '{"topic":"lmdb","approver":"ada"}';
/** A four-word topic: plan, search, two fetches, summarise, draft: six effects before the approval (seq 6). */
const LONG_RESEARCH_INPUT = '{"topic":"durable execution for agents","approver":"ada"}';

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One `durastate` process; stdout read as lines. */
class Proc {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  stdout = '';
  stderr = '';
  exit?: Exit;
  readonly closed: Promise<Exit>;
  private partial = '';
  private listeners = new Set<() => void>();

  constructor(
    readonly args: readonly string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stdout!.on('data', (chunk: string) => {
      this.stdout += chunk;
      this.partial += chunk;
      for (let nl = this.partial.indexOf('\n'); nl >= 0; nl = this.partial.indexOf('\n')) {
        this.lines.push(this.partial.slice(0, nl));
        this.partial = this.partial.slice(nl + 1);
      }
      for (const l of [...this.listeners]) l();
    });
    this.proc.stderr!.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.closed = new Promise<Exit>((resolve) => {
      this.proc.on('close', (code, signal) => {
        if (this.partial) this.lines.push(this.partial);
        this.exit = { code, signal };
        for (const l of [...this.listeners]) l();
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get command(): string {
    return `durastate ${this.args.join(' ')}`;
  }

  /** The first line (already printed or to come) that matches; rejects if the process ends without one (or hangs). */
  waitForLine(match: RegExp, what: string, timeoutMs = 45_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        for (const line of this.lines) {
          const m = match.exec(line);
          if (m) return done(() => resolve(m));
        }
        if (this.exit) done(() => reject(new Error(`${this.command} exited ${JSON.stringify(this.exit)} without printing ${what}; stdout: ${this.stdout.slice(-600)}; stderr: ${this.stderr}`)));
      };
      const done = (then: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        then();
      };
      timer = setTimeout(() => done(() => reject(new Error(`${this.command} printed no ${what} (bail-out); stdout: ${this.stdout.slice(-600)}; stderr: ${this.stderr}`))), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Sends a signal unless the process has ended. */
  signal(sig: NodeJS.Signals): void {
    if (this.exit || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try {
      this.proc.kill(sig);
    } catch {
      /* gone */
    }
  }

  /** Its exit, or an error after `ms` (a bail-out for a hung process, not a measurement): it is then killed. */
  async ended(ms = 60_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        reject(new Error(`${this.command} did not end (bail-out after ${ms} ms); stdout: ${this.stdout.slice(-600)}; stderr: ${this.stderr}`));
      }, ms);
    });
    try {
      return await Promise.race([this.closed, hung]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Processes and stores of each test, by test id: cleaned up after it (tests run concurrently). */
const owned = new Map<string, { procs: Set<Proc>; cleanups: (() => void)[] }>();

async function cleanUp(taskId: string): Promise<void> {
  const mine = owned.get(taskId);
  if (!mine) return;
  owned.delete(taskId);
  for (const p of mine.procs) p.signal('SIGKILL');
  await Promise.all([...mine.procs].map((p) => p.closed));
  for (const c of mine.cleanups) c();
}

afterEach(async ({ task }) => cleanUp(task.id));
afterAll(async () => {
  for (const id of [...owned.keys()]) await cleanUp(id);
});

interface Result extends Exit {
  stdout: string;
  stderr: string;
  lines: string[];
}

interface Cli {
  store: string;
  expect: ExpectStatic;
  /** Starts `durastate --store <store> [--machines cliMachines] ...args` (env: extra variables). */
  start(args: readonly string[], env?: Record<string, string>): Proc;
  /** Starts `durastate ...args` without the global options (env: extra variables). */
  startBare(args: readonly string[], env?: Record<string, string>): Proc;
  /** Runs it to its end. */
  run(args: readonly string[], env?: Record<string, string>): Promise<Result>;
  /** Runs it, expects exit 0, returns stdout. */
  ok(args: readonly string[]): Promise<string>;
  /** Runs it with `--json`, expects exit 0, parses stdout (which must be exactly one JSON document). */
  json<T>(args: readonly string[]): Promise<T>;
  /** Runs it, expects exit `code` and an error message on stderr matching every pattern. */
  fails(args: readonly string[], code: number, ...patterns: RegExp[]): Promise<Result>;
}

/** A temporary store for this test and helpers that run the real binary on it. */
function cli(ctx: TestContext, options: { machines?: 'cli' | 'bundled'; storePath?: string } = {}): Cli {
  const { expect } = ctx;
  let mine = owned.get(ctx.task.id);
  if (!mine) owned.set(ctx.task.id, (mine = { procs: new Set(), cleanups: [] }));
  let store = options.storePath;
  if (!store) {
    const dir = tempDir('durastate-cli-');
    mine.cleanups.push(dir.remove);
    store = dir.path;
  }
  const globals = ['--store', store, ...(options.machines === 'cli' ? ['--machines', CLI_MACHINES] : [])];
  const procs = mine.procs;
  const startBare = (args: readonly string[], env: Record<string, string> = {}): Proc => {
    const { DURASTATE_STORE: _store, DURASTATE_SIM_LATENCY_MS: _latency, ...inherited } = process.env;
    const p = new Proc(args, { ...inherited, ...env });
    procs.add(p);
    return p;
  };
  const start = (args: readonly string[], env: Record<string, string> = {}): Proc => startBare([...globals, ...args], env);
  const run = async (args: readonly string[], env?: Record<string, string>): Promise<Result> => {
    const p = start(args, env);
    const exit = await p.ended();
    return { ...exit, stdout: p.stdout, stderr: p.stderr, lines: p.lines };
  };
  const ok = async (args: readonly string[]): Promise<string> => {
    const r = await run(args);
    expect(r.code, `durastate ${args.join(' ')} → ${JSON.stringify(r)}`).toBe(0);
    return r.stdout;
  };
  return {
    store,
    expect,
    start,
    startBare,
    run,
    ok,
    async json<T>(args: readonly string[]): Promise<T> {
      const stdout = await ok(['--json', ...args]);
      try {
        return JSON.parse(stdout) as T;
      } catch (err) {
        throw new Error(`durastate --json ${args.join(' ')} did not print one JSON document (${(err as Error).message}):\n${stdout}`);
      }
    },
    async fails(args: readonly string[], code: number, ...patterns: RegExp[]): Promise<Result> {
      const r = await run(args);
      expect(r.code, `durastate ${args.join(' ')} → stdout: ${r.stdout}; stderr: ${r.stderr}`).toBe(code);
      for (const p of patterns) expect(r.stderr, `durastate ${args.join(' ')}`).toMatch(p);
      return r;
    },
  };
}

/** Runs `jobs` at most `width` at a time (two cores: a few processes at once). */
async function inBatches<T>(jobs: (() => Promise<T>)[], width = 4): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < jobs.length; i += width) results.push(...(await Promise.all(jobs.slice(i, i + width).map((j) => j()))));
  return results;
}

// ---------------------------------------------------------------------------------------------
// JSON shapes (dates are ISO strings in JSON)
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface InfoJson {
  id: string;
  machine: string;
  machineVersion: string;
  status: string;
  seq: number;
  value: Json;
  createdAt: string;
  updatedAt: string;
  context: Record<string, Json>;
  input?: Json;
  output?: Record<string, Json>;
  error?: { name: string; message: string };
  parent?: { id: string; seq: number };
  owner?: string;
  accepts: string[];
  timers: { id: string; event: { type: string }; dueAt: string }[];
  effects: { key: string; status: string; attempts: number }[];
}

interface HistoryJson {
  seq: number;
  at: string;
  event: { type: string; [key: string]: Json };
  value: Json;
  status: string;
  from?: string;
  forkPoint?: true;
}

interface StateJson {
  id: string;
  seq: number;
  at: string;
  event: { type: string };
  status: string;
  value: Json;
  context: Record<string, Json>;
  snapshot: { status: string; value: Json; context: Json };
  timers: { id: string; event: { type: string }; dueAt: string }[];
  effects: { child: string; key: string; seq: number }[];
  from?: string;
}

interface PatchOp {
  op: string;
  path: string;
  value?: Json;
}

interface LineageNodeJson {
  id: string;
  machine: string;
  status: string;
  seq: number;
  createdAt: string;
  parent?: { id: string; seq: number };
  forks: LineageNodeJson[];
}

interface ProgressJson {
  id: string;
  seq: number;
  value: Json;
  status: string;
  done: number;
  total: number;
  percent: number;
  updatedAt: string;
}

const isoDate = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** A progress line without a terminal: `<id>  NN%  seq N  status  state`. */
const progressLine = /^(\S+)\s+(\d+(?:\.\d+)?)%\s+seq (\d+)\s+(running|waiting|completed|failed|cancelled)\s+(.+)$/;

function progressLines(lines: readonly string[], id: string): { percent: number; seq: number; status: string; state: string }[] {
  return lines
    .map((l) => progressLine.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && m[1] === id)
    .map((m) => ({ percent: Number(m[2]), seq: Number(m[3]), status: m[4]!, state: m[5]! }));
}

/** The cells of a table row printed by the CLI (columns are separated by two spaces or more). */
const cells = (line: string): string[] => line.trim().split(/\s{2,}/);

// ---------------------------------------------------------------------------------------------

// Bail-outs, not measurements: on a loaded two-core machine the concurrent tests take a while each.
describe.concurrent('durastate CLI', { timeout: 120_000 }, () => {
  it('run reports where a research agent waits; show, history, state and diff report it, in text and --json', async (ctx) => {
    const { ok, json, expect } = cli(ctx);

    // run, human: the progress (not a terminal: one line per step), then where it waits.
    const [runText, ran] = await Promise.all([
      ok(['run', 'researchAgent', '--input', RESEARCH_INPUT, '--id', 'r1']),
      json<InfoJson>(['run', 'researchAgent', '--input', RESEARCH_INPUT, '--id', 'r2']),
    ]);
    expect(runText).toContain('r1 is waiting in "awaitingApproval" (seq 4)');
    expect(runText).toMatch(/^ {2}accepts: APPROVE, REVISE, REJECT {3}\(durastate send r1 <EVENT>\)$/m);
    expect(runText).toMatch(/^ {2}timer: +\{"type":"xstate\.after\.APPROVAL_DEADLINE_MS\.researchAgent\.aw.* due \d{4}-\d\d-\d\dT\S+Z {3}\(a durastate worker fires it\)$/m);
    const steps = progressLines(runText.split('\n'), 'r1');
    expect(steps.map((s) => s.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(steps.at(-1)).toMatchObject({ status: 'waiting', state: '"awaitingApproval"' });

    // run --json: one ExecutionInfo document, no progress lines.
    expect(ran).toMatchObject({
      id: 'r2',
      machine: 'researchAgent',
      status: 'waiting',
      seq: 4,
      value: 'awaitingApproval',
      input: { topic: 'lmdb', approver: 'ada' },
      accepts: ['APPROVE', 'REVISE', 'REJECT'],
      context: { topic: 'lmdb', approver: 'ada', stepIndex: 2, revisions: 0 },
    });
    expect(ran.machineVersion).toMatch(/\S/);
    expect(ran.createdAt).toMatch(isoDate);
    expect(ran.updatedAt).toMatch(isoDate);
    expect(ran.timers).toHaveLength(1);
    expect(ran.timers[0]!.event.type).toBe('xstate.after.APPROVAL_DEADLINE_MS.researchAgent.awaitingApproval');
    expect(Date.parse(ran.timers[0]!.dueAt)).toBeGreaterThan(Date.parse(ran.updatedAt));
    expect(ran.effects.map((e) => e.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(ran.output).toBeUndefined();
    expect(ran.error).toBeUndefined();

    const [show, showJson, history, historyJson, state2, state2Json, diffText, diffJson] = await inBatches<string | unknown>([
      () => ok(['show', 'r1']),
      () => ok(['show', 'r1', '--json']), // a global option after the command works too
      () => ok(['history', 'r1']),
      () => json<HistoryJson[]>(['history', 'r1']),
      () => ok(['state', 'r1', '--seq', '2']),
      () => json<StateJson>(['state', 'r1', '--seq', '2']),
      () => ok(['diff', 'r1', '1', '2']),
      () => json<PatchOp[]>(['diff', 'r1', '0', '4']),
    ]);

    // show, human: one fact per line.
    const showLines = (show as string).split('\n');
    expect(showLines).toEqual(
      expect.arrayContaining([
        'id        r1',
        'status    waiting',
        'state     "awaitingApproval"  (seq 4)',
        'accepts   APPROVE, REVISE, REJECT',
        `input     ${RESEARCH_INPUT}`,
      ]),
    );
    expect(show).toMatch(/^machine {3}researchAgent \(\S+\)$/m);
    expect(show).toMatch(/^context {3}\{"topic":"lmdb","approver":"ada",/m);
    expect(show).toMatch(/^timers {4}\{"type":"xstate\.after\.APPROVAL_DEADLINE_MS/m);
    expect(showLines.filter((l) => / {2}done, 1 attempt$/.test(l))).toHaveLength(4);
    expect(show).toMatch(/^created {3}\d{4}-\S+Z$/m);
    expect(show).toMatch(/^updated {3}\d{4}-\S+Z$/m);
    expect(show).not.toMatch(/^output|^error/m);
    // show --json: the same ExecutionInfo as run printed for its twin.
    const info = JSON.parse(showJson as string) as InfoJson;
    expect(info).toMatchObject({ id: 'r1', status: 'waiting', seq: 4, value: 'awaitingApproval', accepts: ['APPROVE', 'REVISE', 'REJECT'] });
    expect(Object.keys(info).sort()).toEqual(Object.keys(ran).sort());

    // history, human: a table, one row per committed transition.
    const rows = (history as string).trim().split('\n').map(cells);
    expect(rows[0]).toEqual(['SEQ', 'AT', 'EVENT', 'STATE', 'STATUS']);
    expect(rows.slice(1).map((r) => [r[0], r[2], r[3], r[4]])).toEqual([
      ['0', 'xstate.init', '"planning"', 'running'],
      ['1', 'xstate.done.actor.plan', '{"tools":"search"}', 'running'],
      ['2', 'xstate.done.actor.search', '{"tools":"summarise"}', 'running'],
      ['3', 'xstate.done.actor.summarise', '"drafting"', 'running'],
      ['4', 'xstate.done.actor.draft', '"awaitingApproval"', 'waiting'],
    ]);
    const entries = historyJson as HistoryJson[];
    expect(entries.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
    for (const [i, e] of entries.entries()) {
      expect(e.at).toMatch(isoDate);
      expect(e.event.type).toBe(rows[i + 1]![2]);
      expect(JSON.stringify(e.value)).toBe(rows[i + 1]![3]);
      expect(e.status).toBe(rows[i + 1]![4]);
    }

    // state --seq: the execution right after transition 2 (the search done, the summary in flight).
    expect(state2).toMatch(/^seq {7}2$/m);
    expect(state2).toMatch(/^status {4}running$/m);
    expect(state2).toMatch(/^state {5}\{"tools":"summarise"\}$/m);
    expect(state2).toMatch(/^event {5}\{"type":"xstate\.done\.actor\.search"/m);
    expect(state2).toMatch(/^effects {3}summarise in flight, key \S+$/m);
    const at2 = state2Json as StateJson;
    expect(at2).toMatchObject({ id: 'r1', seq: 2, status: 'running', value: { tools: 'summarise' }, event: { type: 'xstate.done.actor.search' } });
    expect(at2.context).toMatchObject({ stepIndex: 1, draft: null });
    expect(at2.context.results).toHaveLength(1);
    expect(at2.snapshot).toMatchObject({ status: 'active', value: { tools: 'summarise' } });
    expect(at2.effects).toEqual([{ child: 'summarise', key: expect.any(String), seq: 2 }]);
    expect(at2.timers).toEqual([]);
    expect(at2.at).toBe(entries[2]!.at);

    // diff: the RFC 6902 patch between two points.
    expect(diffText).toMatch(/^replace +\/context\/stepIndex {2}1$/m);
    expect(diffText).toMatch(/^add +\/context\/results\/0 {2}\{"step":0,"tool":"search"/m);
    const patch = diffJson as PatchOp[];
    expect(patch.every((op) => typeof op.op === 'string' && op.path.startsWith('/'))).toBe(true);
    expect(patch).toContainEqual({ op: 'replace', path: '/value', value: 'awaitingApproval' });
    expect(patch.some((op) => op.path === '/context/draft' && op.op === 'replace' && String(op.value).startsWith('# lmdb'))).toBe(true);

    // state --at: the last transition at or before that time (transitions in the same ms: the last of them).
    const atText = await ok(['state', 'r1', '--at', entries[2]!.at]);
    const seqAt2 = Number(/^seq {7}(\d+)$/m.exec(atText)?.[1]);
    expect(seqAt2).toBeGreaterThanOrEqual(2);
    expect(entries[seqAt2]!.at).toBe(entries[2]!.at);
    expect(atText).toContain(`state     ${JSON.stringify(entries[seqAt2]!.value)}`);
    expect(atText).toContain(`at        ${entries[2]!.at}`);
  });

  it('send (a type with --data, a JSON event, --key), fork with --set and --update takes the other path; diff --other, lineage and history of forks', async (ctx) => {
    const { ok, json, fails, expect } = cli(ctx);
    await ok(['run', 'researchAgent', '--input', RESEARCH_INPUT, '--id', 'r1']);

    const revised = await ok(['send', 'r1', 'REVISE', '--data', '{"by":"ada","feedback":"compare with Temporal"}', '--key', 'rev-1']);
    expect(revised).toMatch(/^REVISE applied at seq 5$/m);
    expect(revised).toContain('r1 is waiting in "awaitingApproval" (seq 6)');
    // The same key again: not applied twice.
    const again = await ok(['send', 'r1', 'REVISE', '--data', '{"by":"ada","feedback":"compare with Temporal"}', '--key', 'rev-1']);
    expect(again).toMatch(/^REVISE applied at seq 5 \(duplicate key: applied before, not again\)$/m);
    const sent = await json<{ seq: number; duplicate: boolean; execution: InfoJson }>(['send', 'r1', '{"type":"REVISE","by":"ada","feedback":"shorter"}']);
    expect(sent).toMatchObject({ seq: 7, duplicate: false, execution: { id: 'r1', status: 'waiting', seq: 8, value: 'awaitingApproval' } });
    expect(sent.execution.context).toMatchObject({ revisions: 2, feedback: ['compare with Temporal', 'shorter'] });
    // Two revisions are the most: REVISE is no longer accepted (and no longer offered).
    expect(sent.execution.accepts).toEqual(['APPROVE', 'REJECT']);
    await fails(['send', 'r1', 'REVISE', '--data', '{"by":"ada","feedback":"more"}'], 2, /EVENT_NOT_ACCEPTED/, /"REVISE"/);

    // Two forks of the first draft: another approver set with --set, another with --update.
    const [grace, linus] = await Promise.all([
      ok(['fork', 'r1', '--seq', '4', '--set', 'approver=grace', '--id', 'g1']),
      json<InfoJson>(['fork', 'r1', '--seq', '4', '--update', '{"approver":"linus","maxRevisions":0}', '--id', 'l1']),
    ]);
    expect(grace).toMatch(/^forked g1 from r1 at seq 4$/m);
    expect(grace).toContain('g1 is waiting in "awaitingApproval" (seq 5)');
    expect(linus).toMatchObject({ id: 'l1', parent: { id: 'r1', seq: 4 }, status: 'waiting', seq: 5, context: { approver: 'linus', maxRevisions: 0, revisions: 0 } });
    expect(linus.accepts).toEqual(['APPROVE', 'REJECT']);

    // The other paths: grace rejects, linus approves; r1 still waits.
    const [rejected, approved] = await Promise.all([
      ok(['send', 'g1', 'REJECT', '--data', '{"by":"grace","reason":"out of scope"}']),
      json<{ seq: number; execution: InfoJson }>(['send', 'l1', 'APPROVE', '--data', '{"by":"linus"}']),
    ]);
    expect(rejected).toMatch(/^g1 completed \(seq 6\): \{"topic":"lmdb","outcome":"rejected",.*"by":"grace","reason":"out of scope"\}$/m);
    expect(approved.execution).toMatchObject({ status: 'completed', value: 'published', output: { outcome: 'published', by: 'linus', revisions: 0 } });

    const [diffLinus, lineageText, lineageG1, historyG1, historyG1Json] = await inBatches<unknown>([
      () => ok(['diff', 'r1', '4', '5', '--other', 'l1']),
      () => ok(['lineage', 'r1']),
      () => json<{ id: string; ancestors: { id: string; seq: number; status?: string }[]; tree: LineageNodeJson }>(['lineage', 'g1']),
      () => ok(['history', 'g1']),
      () => json<HistoryJson[]>(['history', 'g1']),
    ]);
    // The fork point of l1 against its own first transition: only what --update changed.
    expect((diffLinus as string).trim().split('\n').sort()).toEqual(['replace  /context/approver  "linus"', 'replace  /context/maxRevisions  0']);
    expect((lineageText as string).trim().split('\n')).toEqual(['r1 waiting, seq 8', '  g1 completed, seq 6 (fork of r1 at 4)', '  l1 completed, seq 7 (fork of r1 at 4)']);
    expect(lineageG1).toMatchObject({
      id: 'g1',
      ancestors: [{ id: 'r1', seq: 4, status: 'waiting' }],
      tree: { id: 'g1', status: 'completed', parent: { id: 'r1', seq: 4 }, forks: [] },
    });
    const rows = (historyG1 as string).trim().split('\n').slice(1).map(cells);
    expect(rows.map((r) => [r[0], r[5] ?? ''])).toEqual([
      ['0', 'from r1'],
      ['1', 'from r1'],
      ['2', 'from r1'],
      ['3', 'from r1'],
      ['4', 'from r1 (fork point)'],
      ['5', ''],
      ['6', ''],
    ]);
    const g1 = historyG1Json as HistoryJson[];
    expect(g1[4]).toMatchObject({ seq: 4, from: 'r1', forkPoint: true });
    expect(g1[6]).toMatchObject({ seq: 6, event: { type: 'REJECT', by: 'grace' }, value: 'rejected', status: 'completed' });
  });

  it('ls with --status / --machine / --limit / --cursor, stats, cancel, and retry of a failed execution', async (ctx) => {
    const { ok, json, fails, startBare, store, expect } = cli(ctx, { machines: 'cli' });
    await Promise.all([
      ok(['run', 'cliOrder', '--input', '{"item":"ball","qty":3}', '--id', 'o1']),
      ok(['run', 'cliOrder', '--input', '{"item":"kite","qty":1}', '--id', 'o2']),
      ok(['run', 'cliOrder', '--input', '{"item":"yoyo","qty":2}', '--id', 'o3']),
      ok(['run', 'cliCounter', '--input', '{"steps":2,"ms":1}', '--id', 'c1']),
    ]);

    // A crash in an action (TerminalError) fails o1: the send reports it (exit 1).
    await fails(['send', 'o1', 'CRASH', '--data', '{"reason":"test"}'], 1, /Execution "o1" failed: TerminalError: crashed on purpose: test \[EXECUTION_FAILED\]/);
    const cancelled = await ok(['cancel', 'o2', '--reason', 'not needed']);
    expect(cancelled.trim()).toBe('o2 cancelled (seq 2): not needed');

    const [lsText, failed, counters, page1, statsText, stats, statsFromEnv, showFailed, o2History] = await inBatches<unknown>([
      () => ok(['ls']),
      () => json<{ items: InfoJson[]; cursor?: string }>(['ls', '--status', 'failed']),
      () => json<{ items: InfoJson[]; cursor?: string }>(['ls', '--machine', 'cliCounter', '--status', 'completed']),
      () => json<{ items: InfoJson[]; cursor?: string }>(['ls', '--limit', '2']),
      () => ok(['stats']),
      () => json<Record<string, unknown>>(['stats']),
      // The store from DURASTATE_STORE when --store is not given.
      async () => {
        const p = startBare(['--machines', CLI_MACHINES, '--json', 'stats'], { DURASTATE_STORE: store });
        return { ...(await p.ended()), stdout: p.stdout, stderr: p.stderr };
      },
      () => ok(['show', 'o1']),
      () => json<HistoryJson[]>(['history', 'o2']),
    ]);

    const lsRows = (lsText as string).trim().split('\n').map(cells);
    expect(lsRows[0]).toEqual(['ID', 'MACHINE', 'STATUS', 'SEQ', 'STATE', 'UPDATED']);
    expect(lsRows.slice(1).map((r) => r.slice(0, 5))).toEqual([
      ['c1', 'cliCounter', 'completed', '2', '"finished"'],
      ['o1', 'cliOrder', 'failed', '2', '"review"'],
      ['o2', 'cliOrder', 'cancelled', '2', '"review"'],
      ['o3', 'cliOrder', 'waiting', '1', '"review"'],
    ]);
    for (const r of lsRows.slice(1)) expect(r[5]).toMatch(isoDate);
    const failedPage = failed as { items: InfoJson[]; cursor?: string };
    expect(failedPage.items.map((i) => i.id)).toEqual(['o1']);
    expect(failedPage.items[0]).toMatchObject({ status: 'failed', error: { name: 'TerminalError', message: 'crashed on purpose: test' } });
    expect(failedPage.cursor).toBeUndefined();
    expect((counters as { items: InfoJson[] }).items.map((i) => [i.id, i.status, i.output])).toEqual([['c1', 'completed', { done: 2 }]]);
    const first = page1 as { items: InfoJson[]; cursor?: string };
    expect(first.items.map((i) => i.id)).toEqual(['c1', 'o1']);
    expect(first.cursor).toEqual(expect.any(String));
    const rest = await json<{ items: InfoJson[]; cursor?: string }>(['ls', '--limit', '2', '--cursor', first.cursor!]);
    expect(rest.items.map((i) => i.id)).toEqual(['o2', 'o3']);

    expect(Object.fromEntries((statsText as string).trim().split('\n').map(cells).map((r) => [r[0], r[1]]))).toEqual({
      STATUS: 'COUNT',
      running: '0',
      waiting: '1',
      completed: '1',
      failed: '1',
      cancelled: '1',
      total: '4',
    });
    expect(stats).toEqual({ total: 4, byStatus: { running: 0, waiting: 1, completed: 1, failed: 1, cancelled: 1 } });
    const fromEnv = statsFromEnv as Exit & { stdout: string; stderr: string };
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(JSON.parse(fromEnv.stdout)).toEqual(stats);

    expect(showFailed).toMatch(/^status {4}failed$/m);
    expect(showFailed).toMatch(/^error {5}TerminalError: crashed on purpose: test$/m);
    expect(showFailed).toMatch(/^accepts {3}-$/m);
    expect((o2History as HistoryJson[]).at(-1)).toMatchObject({ event: { type: 'durastate.cancel', reason: 'not needed' }, status: 'cancelled' });
    expect(await ok(['show', 'o2'])).toMatch(/^status\s+cancelled — not needed$/m);

    // retry: from the last good snapshot (before the crash), then on to the end.
    const retried = await ok(['retry', 'o1']);
    expect(retried).toContain('o1 is waiting in "review" (seq 3)');
    expect(retried).toMatch(/accepts: NOTE, APPROVE, CRASH/);
    const done = await json<{ execution: InfoJson }>(['send', 'o1', 'APPROVE', '--data', '{"by":"bob"}']);
    expect(done.execution).toMatchObject({ status: 'completed', value: 'shipped', output: { item: 'ball', total: 30, approvedBy: 'bob' } });
    expect(done.execution.error).toBeUndefined();
    const events = (await json<HistoryJson[]>(['history', 'o1'])).map((h) => `${h.event.type}:${h.status}`);
    expect(events.slice(2)).toEqual(['CRASH:failed', 'durastate.retry:waiting', 'APPROVE:running', 'xstate.done.actor.0.cliOrder.shipping:completed']);

    // A finished execution cannot be cancelled again.
    await fails(['cancel', 'o2'], 2, /"o2" is cancelled .*\[EXECUTION_FINISHED\]/);
  });

  it('rm is refused for an execution with forks (HAS_FORKS) unless --forks delete / materialise; gc --older-than keeps what forks still need', async (ctx) => {
    const { ok, json, fails, expect } = cli(ctx, { machines: 'cli' });
    await Promise.all([
      ok(['run', 'cliOrder', '--input', '{"item":"a","qty":1}', '--id', 'o3']),
      ok(['run', 'cliOrder', '--input', '{"item":"b","qty":1}', '--id', 'o4']),
      ok(['run', 'cliOrder', '--input', '{"item":"c","qty":1}', '--id', 'o5']),
      ok(['run', 'cliCounter', '--input', '{"steps":2,"ms":1}', '--id', 'c1']),
    ]);
    const [, f5, fc1, , cancelled] = await Promise.all([
      ok(['fork', 'o3', '--seq', '1', '--id', 'o3f']),
      json<InfoJson>(['fork', 'o5', '--seq', '1', '--id', 'o5f', '--set', 'notes[0]=copied', '--set', 'context.qty=7']),
      ok(['fork', 'c1', '--seq', '1', '--id', 'c1f', '--detach']),
      ok(['send', 'o5', 'APPROVE', '--data', '{"by":"eve"}']),
      ok(['cancel', 'o4']),
    ]);
    expect(f5).toMatchObject({ id: 'o5f', status: 'waiting', seq: 2, parent: { id: 'o5', seq: 1 }, context: { item: 'c', qty: 7, notes: ['copied'] } });
    // --detach: created, not run (a worker would).
    expect(fc1).toMatch(/^forked c1f from c1 at seq 1$/m);
    expect(fc1).toContain('c1f is running in "working" (seq 2)');
    expect(cancelled.trim()).toBe('o4 cancelled (seq 2)');
    await ok(['fork', 'o3f', '--seq', '2', '--id', 'o3ff']); // a fork of a fork

    // Refused: o3 has a fork that reads its history from it. Nothing is deleted.
    await fails(['rm', 'o3'], 2, /Execution "o3" has 1 fork \(o3f\)/, /\[HAS_FORKS\]/);

    // --forks delete: the whole subtree goes.
    expect(await json<{ deleted: string }>(['rm', 'o3', '--forks', 'delete'])).toEqual({ deleted: 'o3' });
    // --forks materialise: the fork keeps a copy of the history it shared.
    expect((await ok(['rm', 'o5', '--forks', 'materialise'])).trim()).toBe('deleted o5');
    const [, , o5fHistory, o5fLineage] = await inBatches<unknown>([
      () => fails(['show', 'o3f'], 3, /No execution "o3f"/),
      () => fails(['history', 'o3ff'], 3, /No execution "o3ff"/),
      () => json<HistoryJson[]>(['history', 'o5f']),
      () => ok(['lineage', 'o5f']),
    ]);
    expect((o5fHistory as HistoryJson[]).map((h) => [h.seq, h.from ?? '', h.forkPoint ?? false])).toEqual([
      [0, 'o5', false],
      [1, 'o5', true],
      [2, '', false],
    ]);
    expect((o5fLineage as string).trim().split('\n')).toEqual(['o5 (deleted) — forked at seq 1', '  o5f waiting, seq 2 (fork of o5 at 1)']);

    // gc: only the cancelled one; then the other finished ones, but c1 is kept for its fork.
    expect(await json<{ deleted: number; kept: number }>(['gc', '--older-than', '0s', '--status', 'cancelled'])).toEqual({ deleted: 1, kept: 0 });
    expect((await ok(['gc', '--older-than', '0s'])).trim()).toBe('deleted 0, kept 1 that still have forks');
    const left = await json<{ items: InfoJson[] }>(['ls']);
    expect(left.items.map((i) => `${i.id}:${i.status}`)).toEqual(['c1:completed', 'c1f:running', 'o5f:waiting']);
  });

  it('bad input: exit codes 2 and 3 with a message naming the culprit, and nothing written', async (ctx) => {
    const { ok, json, fails, run, expect } = cli(ctx);
    await ok(['run', 'researchAgent', '--input', RESEARCH_INPUT, '--id', 'r1']);
    const before = await json<HistoryJson[]>(['history', 'r1']);

    const notFound = ['show', 'history', 'lineage', 'cancel', 'rm', 'watch'].map((cmd) => () => fails([cmd, 'nope'], 3, /No execution "nope" \[EXECUTION_NOT_FOUND\]/));
    const cases: (() => Promise<unknown>)[] = [
      ...notFound,
      () => fails(['state', 'nope', '--seq', '1'], 3, /"nope"/, /EXECUTION_NOT_FOUND/),
      () => fails(['diff', 'r1', '0', '1', '--other', 'ghost'], 3, /"ghost"/, /EXECUTION_NOT_FOUND/),
      () => fails(['send', 'nope', 'APPROVE'], 3, /"nope"/, /EXECUTION_NOT_FOUND/),
      () => fails(['fork', 'nope', '--seq', '1'], 3, /"nope"/, /EXECUTION_NOT_FOUND/),
      // Bad JSON: the message names the option.
      () => fails(['run', 'researchAgent', '--input', '{bad'], 2, /--input is not valid JSON/, /INVALID_ARGUMENT/),
      () => fails(['send', 'r1', 'APPROVE', '--data', '{x'], 2, /--data is not valid JSON/),
      () => fails(['fork', 'r1', '--seq', '4', '--update', '{x'], 2, /--update is not valid JSON/),
      () => fails(['send', 'r1', '{"type":'], 2, /the event is not valid JSON/),
      () => fails(['send', 'r1', '{"by":"ada"}'], 2, /"type"/, /INVALID_EVENT/),
      // Machines.
      () => fails(['run', 'nomachine'], 2, /No machine "nomachine" is registered \(registered: .*researchAgent.*\) \[MACHINE_NOT_FOUND\]/),
      () => fails(['--machines', './no/such/module.js', 'stats'], 2, /Cannot load machines from \.\/no\/such\/module\.js/),
      () => fails(['run', 'researchAgent', '--id', 'r1', '--input', RESEARCH_INPUT], 2, /"r1" already exists \[EXECUTION_EXISTS\]/),
      // Commands and options.
      () => fails(['frobnicate'], 2, /unknown command 'frobnicate'/, /Usage: durastate/),
      () => fails(['ls', '--bogus'], 2, /unknown option '--bogus'/, /Usage: durastate ls/),
      () => fails(['gc'], 2, /required option '--older-than <duration>' not specified/),
      () => fails(['ls', '--status', 'bogus'], 2, /Unknown status "bogus"/),
      () => fails(['state', 'r1', '--at', 'yesterday'], 2, /--at must be a date/),
      () => fails(['fork', 'r1'], 2, /exactly one of --seq N or --at DATE/),
      () => fails(['fork', 'r1', '--seq', '99'], 2, /there is no seq 99/),
      // Forks whose update XState cannot continue from (JSON has no Infinity: 1e999 parses to it).
      () => fails(['fork', 'r1', '--seq', '4', '--set', 'approver=1e999'], 2, /Cannot fork "r1": context\.approver is a non-finite number/, /\[INVALID_UPDATE\]/),
      () => fails(['fork', 'r1', '--seq', '4', '--update', '{"maxRevisions":1e999}'], 2, /context\.maxRevisions is a non-finite number/, /\[INVALID_UPDATE\]/),
    ];
    await inBatches(cases, 5);
    // Events the state does not accept. One at a time: each send hosts r1 while it tries, and of two
    // sends racing for an execution nobody hosts, one may get EXECUTION_LOCKED (exit 4) instead of
    // going through the other's inbox (Runtime.send checks the owner, then claims: not atomic).
    await fails(['send', 'r1', 'NOPE'], 2, /Execution "r1" does not accept "NOPE" in state "awaitingApproval" \[EVENT_NOT_ACCEPTED\]/);
    await fails(['send', 'r1', 'APPROVE', '--data', '{"by":"mallory"}'], 2, /does not accept "APPROVE"/, /EVENT_NOT_ACCEPTED/);
    // With --json, an error is one line of JSON on stderr, with its code (it was text).
    const jsonError = await run(['--json', 'show', 'nope']);
    expect(jsonError.code).toBe(3);
    expect(jsonError.stdout).toBe('');
    expect(JSON.parse(jsonError.stderr)).toEqual({ error: { name: 'ExecutionNotFoundError', code: 'EXECUTION_NOT_FOUND', message: 'No execution "nope"' } });
    // A usage error too, without the usage text.
    const usage = await run(['--json', 'ls', '--bogus']);
    expect(usage.code).toBe(2);
    expect(usage.stdout).toBe('');
    expect(JSON.parse(usage.stderr)).toEqual({ error: { name: 'UsageError', code: 'INVALID_ARGUMENT', message: "unknown option '--bogus'" } });
    const bare = await run([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/Usage: durastate \[options\] \[command\]/);

    // Nothing of that was written: r1 as it was, no fork, no other execution.
    expect(await json<HistoryJson[]>(['history', 'r1'])).toEqual(before);
    expect((await json<{ items: InfoJson[] }>(['ls'])).items.map((i) => i.id)).toEqual(['r1']);
  });

  it('--help of the program and of every command exits 0 and prints its usage', async (ctx) => {
    const { run, expect } = cli(ctx);
    const commands = ['run', 'send', 'fork', 'retry', 'cancel', 'rm', 'gc', 'worker', 'ls', 'show', 'history', 'state', 'diff', 'lineage', 'stats', 'watch'];
    const results = await inBatches(
      [
        () => run(['--help']),
        ...commands.map((c) => () => run([c, '--help'])),
        () => run(['help', 'fork']),
      ],
      5,
    );
    const [top, ...rest] = results;
    expect(top!.code).toBe(0);
    expect(top!.stdout).toMatch(/^Usage: durastate \[options\] \[command\]/);
    for (const c of commands) expect(top!.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(top!.stdout).toContain('Exit codes: 0 ok, 1 failed, 2 bad input, 3 no such execution, 4 locked by another live process.');
    for (const [i, c] of commands.entries()) {
      const r = rest[i]!;
      expect(r.code, `${c} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: durastate ${c} `, 'm'));
      expect(r.stdout).toMatch(/-h, --help +display help for command/);
    }
    expect(rest.at(-1)!.code).toBe(0);
    expect(rest.at(-1)!.stdout).toMatch(/^Usage: durastate fork \[options\] <id>/m);
    expect(rest.at(-1)!.stdout).toContain('--set <path=value...>');
  });

  it('worker: SIGKILLed mid-run, a second worker recovers the execution and goes on; an event sent to it goes through its inbox', async (ctx) => {
    const { start, run, ok, json, expect } = cli(ctx);
    const latency = { DURASTATE_SIM_LATENCY_MS: '300' };
    const w1 = start(['worker', '--recover-every', '200ms'], latency);
    const [, owner1] = await w1.waitForLine(/^worker (\S+) \(pid \d+\) on /, 'its ready line');

    const detached = await ok(['run', 'researchAgent', '--detach', '--id', 'a1', '--input', LONG_RESEARCH_INPUT]);
    expect(detached.trim()).toBe('a1 is running in "planning" (seq 0)');
    await w1.waitForLine(/^recovered {3}a1 \(researchAgent\) at seq 0$/, 'the pick-up of a1');
    await w1.waitForLine(/^ {2}a1 #1 xstate\.done\.actor\.plan → \{"tools":"search"\} \(running\)$/, 'the plan committed');
    w1.signal('SIGKILL');
    expect(await w1.ended()).toEqual({ code: null, signal: 'SIGKILL' });

    // Interrupted: still running in the store, owned by the dead worker, mid-way.
    const interrupted = await json<InfoJson>(['show', 'a1']);
    expect(interrupted).toMatchObject({ status: 'running', owner: owner1 });
    expect(interrupted.seq).toBeGreaterThanOrEqual(1);
    expect(interrupted.seq).toBeLessThan(6);

    const w2 = start(['worker', '--recover-every', '200ms'], latency);
    const [, owner2] = await w2.waitForLine(/^worker (\S+) \(pid \d+\) on /, 'its ready line');
    expect(owner2).not.toBe(owner1);
    const [, recoveredAt] = await w2.waitForLine(/^recovered {3}a1 \(researchAgent\) at seq (\d+)$/, 'the recovery of a1');
    expect(Number(recoveredAt)).toBe(interrupted.seq);
    await w2.waitForLine(/^ {2}a1 #6 xstate\.done\.actor\.draft → "awaitingApproval" \(waiting\)$/, 'the draft awaiting approval');

    const waiting = await json<InfoJson>(['show', 'a1']);
    expect(waiting).toMatchObject({ status: 'waiting', seq: 6, value: 'awaitingApproval', owner: owner2, accepts: ['APPROVE', 'REVISE', 'REJECT'] });
    // Every step once, contiguous across the crash.
    const history = await json<HistoryJson[]>(['history', 'a1']);
    expect(history.map((h) => h.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(history.map((h) => h.event.type)).toEqual([
      'xstate.init',
      'xstate.done.actor.plan',
      'xstate.done.actor.search',
      'xstate.done.actor.fetch',
      'xstate.done.actor.fetch',
      'xstate.done.actor.summarise',
      'xstate.done.actor.draft',
    ]);

    // An event for an execution the live worker hosts goes to its inbox; the worker applies it.
    const approved = await run(['send', 'a1', 'APPROVE', '--data', '{"by":"ada"}']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/^APPROVE applied at seq 7$/m);
    await w2.waitForLine(/^ {2}a1 #7 APPROVE → "publishing" \(running\)$/, 'APPROVE applied by the worker');
    await w2.waitForLine(/^completed {3}a1: \{"topic":"durable execution for agents","outcome":"published"/, 'a1 completed');
    const done = await json<InfoJson>(['show', 'a1']);
    expect(done).toMatchObject({ status: 'completed', seq: 8, value: 'published', output: { outcome: 'published', by: 'ada', revisions: 0 } });
    expect(done.output!.publishedUrl).toEqual(expect.stringMatching(/^https:\/\/sim\.example\/published\//));

    w2.signal('SIGTERM');
    expect(await w2.ended()).toEqual({ code: 0, signal: null });
  });

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`worker: stops cleanly on ${sig} (exit 0) and leaves its executions running in the store for the next worker`, async (ctx) => {
      const { start, ok, json, expect } = cli(ctx);
      const w = start(['worker', '--recover-every', '200ms'], { DURASTATE_SIM_LATENCY_MS: '300' });
      const [, owner] = await w.waitForLine(/^worker (\S+) \(pid \d+\) on /, 'its ready line');
      await ok(['run', 'researchAgent', '--detach', '--id', 'a1', '--input', LONG_RESEARCH_INPUT]);
      await w.waitForLine(/^ {2}a1 #1 /, 'a first transition');
      w.signal(sig);
      expect(await w.ended()).toEqual({ code: 0, signal: null });
      expect(w.lines).toContain(`stopping (${sig}): executions stay in the store for the next worker`);
      expect(w.stderr).toBe('');
      const left = await json<InfoJson>(['show', 'a1']);
      expect(left).toMatchObject({ status: 'running', owner });
      expect(left.seq).toBeGreaterThanOrEqual(1);
      expect(left.seq).toBeLessThan(6);
      if (sig === 'SIGINT') return;
      // The next worker takes it over (the stopped one's process is gone) and goes on.
      const next = start(['worker', '--recover-every', '200ms']);
      await next.waitForLine(new RegExp(`^recovered {3}a1 \\(researchAgent\\) at seq ${left.seq}$`), 'the recovery of a1');
      await next.waitForLine(/^ {2}a1 #6 .*\(waiting\)$/, 'a1 waiting for approval');
    });
  }

  it('cancel and rm of an execution a live worker hosts: exit 4, EXECUTION_LOCKED naming the owner; allowed once it stopped', async (ctx) => {
    const { start, ok, json, fails, expect } = cli(ctx, { machines: 'cli' });
    const w = start(['worker', '--recover-every', '200ms']);
    const [, owner, pid] = await w.waitForLine(/^worker (\S+) \(pid (\d+)\) on /, 'its ready line');
    expect(Number(pid)).toBe(w.pid);
    await ok(['run', 'cliOrder', '--detach', '--id', 'o1', '--input', '{"item":"ball","qty":2}']);
    await w.waitForLine(/^ {2}o1 #1 .* → "review" \(waiting\)$/, 'o1 waiting');

    const ownerPattern = new RegExp(`Execution "o1" is run by another process \\(owner ${owner!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, pid ${pid} on \\S+, lease until \\S+\\) \\[EXECUTION_LOCKED\\]`);
    await Promise.all([fails(['cancel', 'o1', '--reason', 'mine now'], 4, ownerPattern), fails(['rm', 'o1'], 4, ownerPattern)]);
    expect(await json<InfoJson>(['show', 'o1'])).toMatchObject({ status: 'waiting', seq: 1, owner });

    w.signal('SIGTERM');
    expect(await w.ended()).toEqual({ code: 0, signal: null });
    expect((await ok(['cancel', 'o1', '--reason', 'mine now'])).trim()).toBe('o1 cancelled (seq 2): mine now');
    expect((await ok(['rm', 'o1'])).trim()).toBe('deleted o1');
  });

  it('watch --exit-when-idle (no id) follows what a worker runs, with rising percentages, then exits 0; watch of a finished one prints it and exits', async (ctx) => {
    const { start, ok, run, expect } = cli(ctx, { machines: 'cli' });
    // Nothing active: it exits at once, with nothing to show.
    const idle = await run(['watch', '--exit-when-idle']);
    expect(idle).toMatchObject({ code: 0, stdout: '' });
    // A finished execution: its last progress, and how it ended.
    await ok(['run', 'cliCounter', '--id', 'c0', '--input', '{"steps":2,"ms":1}']);
    const finished = await run(['watch', 'c0']);
    expect(finished.code, finished.stderr).toBe(0);
    expect(progressLines(finished.lines, 'c0')).toEqual([{ percent: 100, seq: 2, status: 'completed', state: '"finished"' }]);
    expect(finished.lines.at(-1)).toBe('c0 completed at seq 2');
    const finishedJson = await run(['--json', 'watch', 'c0']);
    expect(finishedJson.code).toBe(0);
    expect(finishedJson.lines.map((l) => JSON.parse(l) as ProgressJson)).toEqual([
      { id: 'c0', seq: 2, value: 'finished', status: 'completed', done: 2, total: 2, percent: 100, updatedAt: expect.stringMatching(isoDate) },
    ]);

    // Detached: nobody runs it until the worker starts, so the watchers see it from the start.
    await ok(['run', 'cliCounter', '--detach', '--id', 'c1', '--input', '{"steps":5,"ms":300}']);
    const human = start(['watch', '--exit-when-idle', '--poll', '100ms']);
    const ndjson = start(['--json', 'watch', '--exit-when-idle', '--poll', '100ms']);
    await human.waitForLine(/^c1 +0%  seq 0  running  "working"$/, 'c1 at 0%');
    await ndjson.waitForLine(/^\{"id":"c1","seq":0,/, 'c1 at seq 0');
    const w = start(['worker', '--recover-every', '100ms']);
    expect(await human.ended()).toEqual({ code: 0, signal: null });
    expect(await ndjson.ended()).toEqual({ code: 0, signal: null });
    await w.waitForLine(/^completed {3}c1: \{"done":5\}$/, 'c1 completed');

    const seen = progressLines(human.lines, 'c1');
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.at(-1)).toEqual({ percent: 100, seq: 5, status: 'completed', state: '"finished"' });
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.seq).toBeGreaterThan(seen[i - 1]!.seq);
      expect(seen[i]!.percent).toBeGreaterThan(seen[i - 1]!.percent);
    }
    const objects = ndjson.lines.map((l) => JSON.parse(l) as ProgressJson);
    expect(objects.every((p) => p.id === 'c1')).toBe(true);
    expect(objects.at(-1)).toMatchObject({ seq: 5, status: 'completed', percent: 100, done: 5, total: 5, value: 'finished' });
    expect(objects.map((p) => p.seq)).toEqual([...new Set(objects.map((p) => p.seq))].sort((a, b) => a - b));
    expect(objects.map((p) => p.percent)).toEqual([...objects.map((p) => p.percent)].sort((a, b) => a - b));
  });

  // -------------------------------------------------------------------------------------------
  // Regressions: bugs these tests found
  // -------------------------------------------------------------------------------------------

  it('watch <id> follows an execution a worker runs to its end, in text and NDJSON, and exits 0 (it printed one line and exited 13)', async (ctx) => {
    const { start, ok, expect } = cli(ctx, { machines: 'cli' });
    await ok(['run', 'cliCounter', '--detach', '--id', 'c1', '--input', '{"steps":4,"ms":150}']);
    const human = start(['watch', 'c1']);
    const ndjson = start(['--json', 'watch', 'c1']);
    await human.waitForLine(/^c1 +0%  seq 0  running  "working"$/, 'c1 at 0%');
    await ndjson.waitForLine(/^\{"id":"c1","seq":0,/, 'c1 at seq 0');
    start(['worker', '--recover-every', '100ms']);
    const [humanExit, ndjsonExit] = await Promise.all([human.ended(), ndjson.ended()]);
    expect.soft(humanExit, `watch c1 → ${human.stdout}${human.stderr}`).toEqual({ code: 0, signal: null });
    expect.soft(ndjsonExit, `--json watch c1 → ${ndjson.stdout}${ndjson.stderr}`).toEqual({ code: 0, signal: null });
    const seen = progressLines(human.lines, 'c1');
    expect(seen.at(-1)).toEqual({ percent: 100, seq: 4, status: 'completed', state: '"finished"' });
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.percent).toBeGreaterThan(seen[i - 1]!.percent);
    expect(human.lines.at(-1)).toBe('c1 completed at seq 4');
    const objects = ndjson.lines.map((l) => JSON.parse(l) as ProgressJson);
    expect(objects.at(-1)).toMatchObject({ id: 'c1', seq: 4, status: 'completed', percent: 100 });
  });

  it('send to an execution a live worker hosts waits until the worker applied it and reports its seq, exit 0 (it exited 13 at once, printing nothing)', async (ctx) => {
    const { start, ok, json, expect } = cli(ctx, { machines: 'cli' });
    const w = start(['worker', '--recover-every', '200ms']);
    await ok(['run', 'cliOrder', '--detach', '--id', 'o1', '--input', '{"item":"ball","qty":2}']);
    await w.waitForLine(/^ {2}o1 #1 .* → "review" \(waiting\)$/, 'o1 waiting');
    // The worker is paused while the event is queued, so that the sender has to wait for it (a
    // worker that answers within the sender's first look at its inbox hid the bug: a race). Paused,
    // it is still alive and owns o1.
    w.signal('SIGSTOP');
    const sender = start(['send', 'o1', 'NOTE', '--data', '{"text":"via the inbox"}']);
    // Not a measurement: the sender gets a moment to queue its event (or to exit, with the bug) before the worker goes on.
    await Promise.race([sender.closed, new Promise((resolve) => setTimeout(resolve, 4_000))]);
    w.signal('SIGCONT');
    const sent = await sender.ended();
    const said = `send → ${JSON.stringify(sent)}; stdout: ${sender.stdout}; stderr: ${sender.stderr}`;
    // The worker applies it...
    await w.waitForLine(/^ {2}o1 #2 NOTE → "review" \(waiting\)$/, `NOTE applied by the worker (${said})`);
    expect((await json<InfoJson>(['show', 'o1'])).context.notes).toEqual(['via the inbox']);
    // ...and the sender waited for that and says so.
    expect(sent, said).toEqual({ code: 0, signal: null });
    expect(sender.stdout).toMatch(/^NOTE applied at seq 2$/m);
    expect(sender.stdout).toContain('o1 is waiting in "review" (seq 2)');
  });

  it('run and retry exit 1 when the execution they ran ends failed (they exited 0)', async (ctx) => {
    const { run, expect } = cli(ctx, { machines: 'cli' });
    const ran = await run(['run', 'cliBroken', '--id', 'b1']);
    expect(ran.stdout).toMatch(/^b1 failed \(seq 1\): TerminalError: the service is gone for good$/m);
    const retried = await run(['retry', 'b1']);
    expect(retried.stdout).toMatch(/^b1 failed \(seq \d+\): TerminalError: the service is gone for good$/m);
    expect.soft(ran.code, 'run of an execution that fails').toBe(1);
    expect.soft(retried.code, 'retry of an execution that fails again').toBe(1);
  });

  it('progress lines print whole percentages (they printed e.g. "33.333333333333336%")', async (ctx) => {
    const { ok, expect } = cli(ctx, { machines: 'cli' });
    const out = await ok(['run', 'cliCounter', '--id', 'c3', '--input', '{"steps":3,"ms":1}']);
    const lines = out.split('\n').filter((l) => progressLine.test(l));
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l).toMatch(/^c3 +\d{1,3}%  seq \d /);
  });

  it('rm refused for forks tells the command-line user what to pass (--forks delete|materialise), not the API option', async (ctx) => {
    const { ok, fails } = cli(ctx, { machines: 'cli' });
    await ok(['run', 'cliOrder', '--id', 'o1', '--input', '{"item":"a","qty":1}']);
    await ok(['fork', 'o1', '--seq', '1', '--id', 'o1f', '--detach']);
    await fails(['rm', 'o1'], 2, /\[HAS_FORKS\]/, /--forks delete/, /--forks materialise/);
  });

  it('--store accepts an existing folder whose name has a dot (it failed: "Is a directory", exit 1)', async (ctx) => {
    const dir = tempDir('durastate-cli-');
    const dotted = join(dir.path, 'state.v1');
    mkdirSync(dotted);
    const { ok, json, expect } = cli(ctx, { storePath: dotted, machines: 'cli' });
    owned.get(ctx.task.id)!.cleanups.push(dir.remove);
    await ok(['run', 'cliOrder', '--id', 'o1', '--input', '{"item":"a","qty":1}']);
    expect(await json<{ total: number; byStatus: { waiting: number } }>(['stats'])).toMatchObject({ total: 1, byStatus: { waiting: 1 } });
    expect(existsSync(join(dotted, 'data.mdb')), 'the store lives inside the folder').toBe(true);
  });

  it('show says an effect started and not finished is in flight (it said "pending, 0 attempts")', async (ctx) => {
    const { ok, expect } = cli(ctx, { machines: 'cli' });
    // Detached: written, run by no process, its quote effect started in the store's eyes and not done.
    await ok(['run', 'cliOrder', '--detach', '--id', 'd1', '--input', '{"item":"ball","qty":2}']);
    const show = await ok(['show', 'd1']);
    expect(show).toMatch(/^effects {3}d1\/\S+ {2}in flight$/m);
    expect(show).not.toMatch(/0 attempts/);
  });

  it('a reader that stops early (durastate … | head) ends the command quietly, exit 0 (it died of EPIPE, exit 1)', async (ctx) => {
    // Our end of the pipe is closed before the child has started: its first write fails (EPIPE).
    const child = spawn(process.execPath, [BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    ctx.expect(stderr).not.toContain('EPIPE');
    ctx.expect(code).toBe(0);
  });
});
