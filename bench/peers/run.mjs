/**
 * Peer benchmarks (issue 7, item 4): durastate next to LangGraph.js checkpointers and plain
 * XState on LMDB, on the same three workloads, in one process, alternating the contenders round
 * by round (A, B, C, A, B, C, …) and reporting medians and ratios against durastate.
 *
 *   npm run bench:peers        (builds durastate, installs this folder's pinned peers, runs this)
 *
 * The peers live only in bench/peers/package.json (not dependencies of durastate). durastate is
 * imported from the build (../../dist/src/index.js), lmdb and xstate from the root node_modules.
 *
 * Contenders:
 *   durastate            createRuntime({ store: lmdbStore({ path }) }): default `flush` durability,
 *                        every `rt.send` resolves once its transition is committed and flushed.
 *   LangGraph+Memory     @langchain/langgraph StateGraph with MemorySaver (no disk).
 *   LangGraph+SQLite     the same graph with SqliteSaver on a file in a temp folder (the saver's
 *                        own settings: WAL; better-sqlite3's default synchronous=NORMAL, which
 *                        does not fsync each commit).
 *   LangGraph+SQLite FULL  (reference, workload 1) the same with `PRAGMA synchronous=FULL`:
 *                        every commit fsynced, the durability durastate's `flush` gives.
 *   durastate commit     (reference, workload 1) lmdbStore({ durability: 'commit' }): a send
 *                        resolves once committed, not flushed — survives a process crash, not a
 *                        power loss, like SQLite in WAL mode with synchronous=NORMAL.
 *   XState+LMDB          plain XState 5; after every transition its full `getPersistedSnapshot()`
 *                        is put to LMDB (lmdb-js `open` with durastate's options:
 *                        separateFlushed: true) and the put's `flushed` promise awaited. One key
 *                        per actor, overwritten: the latest snapshot only, no history.
 *   floor                (reference, workload 1) plain XState whose every step is followed by
 *                        the smallest durable write there is (a number put under the actor's
 *                        key), LMDB opened as durastate's store opens it (no overlapping sync: the
 *                        commit includes its flush): the most steps per second any design that
 *                        makes each step durable before the next could reach here.
 *   XState+LMDB history  (reference, workload 2) the same, one key per [actor, step]: history kept,
 *                        as a checkpointer keeps it.
 *   durastate uncompressed (reference, workload 2) lmdbStore({ compression: false }): the store
 *                        without compression of values of 1,000 bytes or more (here the keyframes),
 *                        which a new store has by default.
 *
 * Workloads:
 *   1. A counter: `steps` steps, each one increment of a three-field state. durastate: one
 *      execution, `rt.start` then `steps` awaited `rt.send(INC)`. LangGraph: one invoke of a graph
 *      whose node increments the counter and loops via a conditional edge until `steps` (LangGraph
 *      checkpoints every super-step: steps + 2 checkpoints a run), fresh thread per round.
 *      XState+LMDB: `actor.send` then await the put. Also a parallel variant: `parallel`
 *      executions / threads / actors at once, each `parallelSteps` steps in a closed loop.
 *   2. A conversation: `turns` steps, each appending one `messageBytes`-byte message to the state.
 *      Time, and the bytes of the store's folder once closed (SQLite: WAL folded back into the
 *      file by the close; while open, file + WAL + shm is shown too). MemorySaver: the bytes of
 *      its serialized checkpoints and writes (it has no disk).
 *   3. Resuming `resume` interrupted executions (setup once, not timed; each round timed):
 *      durastate: `resume` executions `running` (each waits on an effect that never settles)
 *      left in the store by a closed runtime; timed: `createRuntime({ recover: true })` until it
 *      resolves with all of them hosted. LangGraph+SQLite: `resume` threads each interrupted
 *      before a node (interruptBefore); timed: open the saver, compile, `graph.getState` of
 *      every thread. XState+LMDB: timed: open the environment, read every snapshot, createActor
 *      + start each (XState starts the invoked promise again).
 *
 * Environment knobs: PEERS_ROUNDS (measured rounds, default 3), PEERS_WARMUP (default 1),
 * PEERS_QUICK=1 (a smoke run with small sizes), PEERS_JSON=path (raw results as JSON),
 * PEERS_ONLY=1,2,3 (workloads to run).
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { createActor, fromPromise, setup } from 'xstate';
import { Annotation, END, MemorySaver, START, StateGraph } from '@langchain/langgraph';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { createRuntime, lmdbStore } from '../../dist/src/index.js';
import { chatMachine, counterMachine, inc, message } from '../../dist/bench/machines.js';
import {
  alternate,
  collectGarbage,
  describeMachine,
  folderBytes,
  formatBytes,
  formatMs,
  formatRate,
  formatRatio,
  loadNote,
  machineInfo,
  median,
  now,
  sourceRevision,
  table,
  tempDir,
} from '../../dist/bench/helpers.js';

// ---------------------------------------------------------------------------------------------
// Options

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

const quick = process.env.PEERS_QUICK === '1';
const O = {
  rounds: intEnv('PEERS_ROUNDS', quick ? 1 : 3),
  warmup: intEnv('PEERS_WARMUP', 1),
  steps: quick ? 200 : 2000,
  parallel: quick ? 20 : 100,
  parallelSteps: 20,
  turns: quick ? 100 : 500,
  messageBytes: 200,
  resume: quick ? 1000 : 10_000,
  /** LangGraph threads resumed with invoke(null) after workload 3's rounds (reference). */
  invokeResume: quick ? 100 : 1000,
};
const only = new Set((process.env.PEERS_ONLY ?? '1,2,3').split(',').map((s) => s.trim()));
const log = (line) => console.log(line);

// ---------------------------------------------------------------------------------------------
// Small utilities

function version(relativeToHere) {
  try {
    return JSON.parse(readFileSync(new URL(relativeToHere, import.meta.url), 'utf8')).version;
  } catch {
    return '?';
  }
}

/** Bytes allocated on disk for the files of a folder (st_blocks × 512), recursively. */
function allocatedBytes(path) {
  let total = 0;
  for (const name of readdirSync(path)) {
    const s = statSync(join(path, name));
    total += s.isDirectory() ? allocatedBytes(join(path, name)) : s.blocks * 512;
  }
  return total;
}

/** The files of a folder with their sizes, for the record ("data.mdb 1.2 MiB, lock.mdb 8 KiB"). */
function folderListing(path) {
  return readdirSync(path)
    .map((name) => `${name} ${formatBytes(statSync(join(path, name)).size)}`)
    .join(', ');
}

/** Resolves once an lmdb-js put is committed and flushed (as durastate's `flush` durability). */
function durable(p) {
  return p.then(() => p.flushed);
}

/** lmdb-js environment with the options durastate's LMDB store uses. */
function openLmdb(path) {
  return open({ path, compression: false, separateFlushed: true, maxDbs: 16 });
}

function check(cond, what) {
  if (!cond) throw new Error(`sanity check failed: ${what}`);
}

const n = (x) => x.toLocaleString('en-US');

// ---------------------------------------------------------------------------------------------
// Workload definitions shared by the contenders

/** The counter state of bench/machines.ts, as a LangGraph state. */
const CounterState = Annotation.Root({ count: Annotation(), total: Annotation(), label: Annotation() });

/** A graph whose node increments the counter and loops back until `limit` (one super-step each). */
function counterGraph(checkpointer, limit) {
  return new StateGraph(CounterState)
    .addNode('inc', (s) => ({ count: s.count + 1, total: s.total + 1 }))
    .addEdge(START, 'inc')
    .addConditionalEdges('inc', (s) => (s.count < limit ? 'inc' : END))
    .compile({ checkpointer });
}



const ChatState = Annotation.Root({
  title: Annotation(),
  model: Annotation(),
  turns: Annotation(),
  messages: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

/** The same conversation as a LangGraph loop: each super-step appends one message. */
function chatGraph(checkpointer, turns, bytes) {
  return new StateGraph(ChatState)
    .addNode('respond', (s) => ({ turns: s.turns + 1, messages: [message(s.turns + 1, bytes)] }))
    .addEdge(START, 'respond')
    .addConditionalEdges('respond', (s) => (s.turns < turns ? 'respond' : END))
    .compile({ checkpointer });
}

const chatInput = () => ({ title: 'benchmark conversation', model: 'some-model-2026-01', turns: 0, messages: [] });

/** An execution that is `running`: it waits on an effect (a promise) that never settles. */
const stuckMachine = setup({
  actors: { never: fromPromise(() => new Promise(() => {})) },
}).createMachine({
  id: 'stuck',
  version: 'bench-1',
  context: { count: 1, total: 1, label: 'counter' },
  initial: 'calling',
  states: {
    calling: { invoke: { src: 'never', onDone: 'done' } },
    done: { type: 'final' },
  },
});

/** MemorySaver's serialized bytes: checkpoints + metadata + pending writes (its internal maps). */
function memorySaverBytes(saver) {
  let bytes = 0;
  for (const byNs of Object.values(saver.storage)) {
    for (const byId of Object.values(byNs)) {
      for (const [checkpoint, metadata] of Object.values(byId)) bytes += checkpoint.length + metadata.length;
    }
  }
  for (const byKey of Object.values(saver.writes)) {
    for (const [, , value] of Object.values(byKey)) bytes += value.length;
  }
  return bytes;
}

function memorySaverCheckpoints(saver, threadId) {
  return Object.keys(saver.storage[threadId]?.[''] ?? {}).length;
}

function sqliteCheckpoints(saver, threadId) {
  return saver.db.prepare('SELECT count(*) AS n FROM checkpoints WHERE thread_id = ?').get(threadId).n;
}

/** A SqliteSaver on `file`, set up, with `synchronous` set when asked. */
function sqliteSaver(file, synchronous) {
  const saver = SqliteSaver.fromConnString(file);
  saver.setup();
  if (synchronous) saver.db.pragma(`synchronous = ${synchronous}`);
  return saver;
}

// ---------------------------------------------------------------------------------------------
// Workload 1: counter steps per second

function durastateCounter({ parallel, steps, durability = 'flush' }) {
  let dir;
  let rt;
  let store;
  let round = 0;
  return {
    name: durability === 'flush' ? 'durastate (LMDB, flush)' : `durastate (LMDB, durability: '${durability}') (ref.)`,
    unit: 'steps',
    async setup() {
      dir = tempDir('peers-ds-');
      store = lmdbStore({ path: dir.path, durability });
      rt = await createRuntime({ store, machines: [counterMachine], recover: false });
    },
    async round() {
      const ids = Array.from({ length: parallel }, (_, i) => `r${round}-${i}`);
      round++;
      const c0 = store.lastCommitId?.();
      const t = now();
      await Promise.all(
        ids.map(async (id) => {
          await rt.start('counter', { id });
          for (let s = 0; s < steps; s++) await rt.send(id, inc());
        }),
      );
      const ms = now() - t;
      const c1 = store.lastCommitId?.();
      const info = await rt.get(ids[0]);
      check(info?.context?.count === steps, `durastate count ${info?.context?.count} !== ${steps}`);
      return { ops: parallel * steps, ms, ...(c0 !== undefined && c1 !== undefined ? { commits: c1 - c0 } : {}) };
    },
    async teardown() {
      await rt.close();
      dir.remove();
    },
  };
}

function langgraphCounter({ parallel, steps, saver: kind }) {
  let dir;
  let saver;
  let graph;
  let round = 0;
  const names = { memory: 'LangGraph.js + MemorySaver', sqlite: 'LangGraph.js + SqliteSaver', sqliteFull: 'LangGraph.js + SqliteSaver, synchronous=FULL (ref.)' };
  const checkpoints = [];
  return {
    name: names[kind],
    unit: 'steps',
    checkpoints,
    setup() {
      if (kind === 'memory') saver = new MemorySaver();
      else {
        dir = tempDir('peers-lg-');
        saver = sqliteSaver(join(dir.path, 'checkpoints.sqlite'), kind === 'sqliteFull' ? 'FULL' : undefined);
      }
      graph = counterGraph(saver, steps);
    },
    async round() {
      const threads = Array.from({ length: parallel }, (_, i) => `r${round}-${i}`);
      round++;
      const t = now();
      const outs = await Promise.all(
        threads.map((thread_id) => graph.invoke({ count: 0, total: 0, label: 'counter' }, { configurable: { thread_id }, recursionLimit: steps + 10 })),
      );
      const ms = now() - t;
      check(outs.every((o) => o.count === steps), `LangGraph count ${outs[0]?.count} !== ${steps}`);
      const cps = kind === 'memory' ? memorySaverCheckpoints(saver, threads[0]) : sqliteCheckpoints(saver, threads[0]);
      checkpoints.push(cps);
      return { ops: parallel * steps, ms };
    },
    teardown() {
      if (kind !== 'memory') {
        saver.db.close();
        dir.remove();
      }
    },
  };
}

/**
 * Plain XState actors, each step followed by an awaited LMDB write of `value(actor)` under the
 * actor's key (XState + LMDB, and the floor: see the header).
 */
function xstateWritingCounter({ parallel, steps, name, prefix, openEnv, dbName, value, stored, write }) {
  let dir;
  let env;
  let db;
  let round = 0;
  return {
    name,
    unit: 'steps',
    setup() {
      dir = tempDir(prefix);
      env = openEnv(dir.path);
      db = env.openDB({ name: dbName });
    },
    async round() {
      const ids = Array.from({ length: parallel }, (_, i) => `r${round}-${i}`);
      round++;
      const c0 = env.getStats().lastTxnId;
      const t = now();
      await Promise.all(
        ids.map(async (id) => {
          const actor = createActor(counterMachine).start();
          await write(db.put(id, value(actor)));
          for (let s = 0; s < steps; s++) {
            actor.send(inc());
            await write(db.put(id, value(actor)));
          }
          actor.stop();
        }),
      );
      const ms = now() - t;
      const commits = env.getStats().lastTxnId - c0;
      const count = stored(db.get(ids[0]));
      check(count === steps, `${name}: count ${count} !== ${steps}`);
      return { ops: parallel * steps, ms, commits };
    },
    async teardown() {
      await env.close();
      dir.remove();
    },
  };
}

function xstateLmdbCounter({ parallel, steps }) {
  return xstateWritingCounter({
    parallel,
    steps,
    name: 'XState + LMDB, full snapshot per step',
    prefix: 'peers-xs-',
    openEnv: openLmdb,
    dbName: 'snapshots',
    value: (actor) => actor.getPersistedSnapshot(),
    stored: (snapshot) => snapshot?.context?.count,
    write: durable,
  });
}

/** The floor (see the header): XState and the smallest durable write per step. */
function floorCounter({ parallel, steps }) {
  return xstateWritingCounter({
    parallel,
    steps,
    name: 'floor: XState + smallest durable write per step (ref.)',
    prefix: 'peers-floor-',
    // As durastate's store opens LMDB: no overlapping sync, so the commit includes its flush.
    openEnv: (path) => open({ path, compression: false, overlappingSync: false, maxDbs: 16 }),
    dbName: 'floor',
    value: (actor) => actor.getSnapshot().context.count,
    stored: (count) => count,
    write: (p) => p,
  });
}

async function workload1() {
  log(`== 1. counter: steps per second ==`);
  log(`sequential: one execution / thread / actor, ${n(O.steps)} steps a round; ${O.warmup} warm-up + ${O.rounds} measured rounds, contenders alternating`);
  const seqShape = { parallel: 1, steps: O.steps };
  const seqLg = {
    memory: langgraphCounter({ ...seqShape, saver: 'memory' }),
    sqlite: langgraphCounter({ ...seqShape, saver: 'sqlite' }),
    sqliteFull: langgraphCounter({ ...seqShape, saver: 'sqliteFull' }),
  };
  const sequential = await alternate(
    [durastateCounter(seqShape), seqLg.memory, seqLg.sqlite, seqLg.sqliteFull, xstateLmdbCounter(seqShape), durastateCounter({ ...seqShape, durability: 'commit' }), floorCounter(seqShape)],
    { rounds: O.rounds, warmup: O.warmup, log },
  );
  log('');
  log(`parallel: ${O.parallel} executions / threads / actors at once, each ${O.parallelSteps} steps in a closed loop (${n(O.parallel * O.parallelSteps)} steps a round)`);
  const parShape = { parallel: O.parallel, steps: O.parallelSteps };
  const parLg = { memory: langgraphCounter({ ...parShape, saver: 'memory' }), sqlite: langgraphCounter({ ...parShape, saver: 'sqlite' }) };
  const parallel = await alternate(
    [durastateCounter(parShape), parLg.memory, parLg.sqlite, xstateLmdbCounter(parShape), durastateCounter({ ...parShape, durability: 'commit' }), floorCounter(parShape)],
    { rounds: O.rounds, warmup: O.warmup, log },
  );
  const checkpointsPerRun = {
    sequential: median(seqLg.sqlite.checkpoints),
    parallel: median(parLg.sqlite.checkpoints),
  };
  return { sequential, parallel, checkpointsPerRun };
}

function formatThroughput(results) {
  const base = results[0];
  return table(
    ['contender', 'median steps/s', 'best', 'worst', 'CPU µs/step', 'steps/commit', 'durastate ÷ this'],
    results.map((r) => [
      r.name,
      formatRate(r.median),
      formatRate(r.best),
      formatRate(r.worst),
      r.cpuPerOp.toFixed(1),
      r.opsPerCommit !== undefined ? r.opsPerCommit.toFixed(1) : '',
      formatRatio(base.median / r.median),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// Workload 2: a growing conversation, time and bytes

/** Wraps a contender whose round records `{ ms, bytes, ... }` extras for the tables. */
function withExtras(contender) {
  contender.extras = [];
  return contender;
}

/** durastate's store as it comes (compressed since the store keeps its setting), or `compression: false` (reference). */
function durastateChat(uncompressed = false) {
  return withExtras({
    name: uncompressed ? 'durastate (LMDB, compression: false) (ref.)' : 'durastate (LMDB, flush)',
    unit: 'turns',
    async round() {
      const dir = tempDir('peers-ds-chat-');
      try {
        const rt = await createRuntime({ store: lmdbStore({ path: dir.path, ...(uncompressed ? { compression: false } : {}) }), machines: [chatMachine], recover: false });
        const t = now();
        const { id } = await rt.start('chat', { id: 'chat' });
        for (let i = 1; i <= O.turns; i++) await rt.send(id, { type: 'MESSAGE', message: message(i, O.messageBytes) });
        const ms = now() - t;
        const info = await rt.get(id);
        check(info?.context?.messages?.length === O.turns, `durastate chat has ${info?.context?.messages?.length} messages`);
        const lastState = JSON.stringify(info.context).length;
        await rt.close();
        this.extras.push({ ms, bytes: folderBytes(dir.path), allocated: allocatedBytes(dir.path), files: folderListing(dir.path), lastState });
        return { ops: O.turns, ms };
      } finally {
        dir.remove();
      }
    },
  });
}

function langgraphChatMemory() {
  return withExtras({
    name: 'LangGraph.js + MemorySaver',
    unit: 'turns',
    async round() {
      const saver = new MemorySaver();
      const graph = chatGraph(saver, O.turns, O.messageBytes);
      const t = now();
      const out = await graph.invoke(chatInput(), { configurable: { thread_id: 'chat' }, recursionLimit: O.turns + 10 });
      const ms = now() - t;
      check(out.messages.length === O.turns, `LangGraph chat has ${out.messages.length} messages`);
      this.extras.push({ ms, bytes: memorySaverBytes(saver), checkpoints: memorySaverCheckpoints(saver, 'chat'), inMemory: true });
      return { ops: O.turns, ms };
    },
  });
}

function langgraphChatSqlite() {
  return withExtras({
    name: 'LangGraph.js + SqliteSaver',
    unit: 'turns',
    async round() {
      const dir = tempDir('peers-lg-chat-');
      try {
        const saver = sqliteSaver(join(dir.path, 'checkpoints.sqlite'));
        const graph = chatGraph(saver, O.turns, O.messageBytes);
        const t = now();
        const out = await graph.invoke(chatInput(), { configurable: { thread_id: 'chat' }, recursionLimit: O.turns + 10 });
        const ms = now() - t;
        check(out.messages.length === O.turns, `LangGraph chat has ${out.messages.length} messages`);
        const checkpoints = sqliteCheckpoints(saver, 'chat');
        const open = { bytes: folderBytes(dir.path), files: folderListing(dir.path) };
        saver.db.close(); // folds the WAL back into the database file
        this.extras.push({ ms, bytes: folderBytes(dir.path), allocated: allocatedBytes(dir.path), files: folderListing(dir.path), open, checkpoints });
        return { ops: O.turns, ms };
      } finally {
        dir.remove();
      }
    },
  });
}

function xstateLmdbChat(history) {
  return withExtras({
    name: history ? 'XState + LMDB, snapshot per step kept (ref.)' : 'XState + LMDB, latest snapshot only',
    unit: 'turns',
    async round() {
      const dir = tempDir('peers-xs-chat-');
      try {
        const env = openLmdb(dir.path);
        const db = env.openDB({ name: 'snapshots' });
        const t = now();
        const actor = createActor(chatMachine).start();
        await durable(db.put(history ? ['chat', 0] : 'chat', actor.getPersistedSnapshot()));
        for (let i = 1; i <= O.turns; i++) {
          actor.send({ type: 'MESSAGE', message: message(i, O.messageBytes) });
          await durable(db.put(history ? ['chat', i] : 'chat', actor.getPersistedSnapshot()));
        }
        const ms = now() - t;
        actor.stop();
        const last = db.get(history ? ['chat', O.turns] : 'chat');
        check(last?.context?.messages?.length === O.turns, `XState+LMDB chat has ${last?.context?.messages?.length} messages`);
        await env.close();
        this.extras.push({ ms, bytes: folderBytes(dir.path), allocated: allocatedBytes(dir.path), files: folderListing(dir.path) });
        return { ops: O.turns, ms };
      } finally {
        dir.remove();
      }
    },
  });
}

async function workload2() {
  log(`== 2. conversation: ${n(O.turns)} steps, one ${O.messageBytes}-byte message appended to the state per step ==`);
  log(`fresh store per round; ${O.warmup} warm-up + ${O.rounds} measured rounds, contenders alternating`);
  const contenders = [durastateChat(), langgraphChatMemory(), langgraphChatSqlite(), xstateLmdbChat(false), xstateLmdbChat(true), durastateChat(true)];
  const results = await alternate(contenders, { rounds: O.rounds, warmup: O.warmup, log });
  return contenders.map((c, i) => {
    const measured = c.extras.slice(O.warmup);
    const last = measured[measured.length - 1];
    return {
      name: c.name,
      rate: results[i],
      ms: median(measured.map((e) => e.ms)),
      bytes: median(measured.map((e) => e.bytes)),
      allocated: last.allocated,
      files: last.files,
      open: last.open,
      checkpoints: last.checkpoints,
      inMemory: last.inMemory === true,
      lastState: last.lastState,
    };
  });
}

function formatConversation(rows) {
  const base = rows[0];
  return table(
    ['contender', 'total time (median)', 'steps/s', 'bytes (closed)', 'allocated on disk', 'this ÷ durastate bytes', 'this ÷ durastate time'],
    rows.map((r) => [
      r.name,
      formatMs(r.ms),
      formatRate(r.rate.median),
      r.inMemory ? `${formatBytes(r.bytes)} in memory` : formatBytes(r.bytes),
      r.inMemory ? 'n/a (no disk)' : formatBytes(r.allocated),
      formatRatio(r.bytes / base.bytes),
      formatRatio(r.ms / base.ms),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// Workload 3: resuming interrupted executions

function durastateResume() {
  let dir;
  return withExtras({
    name: 'durastate (LMDB, flush)',
    unit: 'executions',
    async setup() {
      dir = tempDir('peers-ds-resume-');
      const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [stuckMachine], recover: false });
      const t = now();
      for (let b = 0; b < O.resume; b += 500) {
        const ids = Array.from({ length: Math.min(500, O.resume - b) }, (_, i) => `e${b + i}`);
        await Promise.all(ids.map((id) => rt.start('stuck', { id })));
      }
      const stats = await rt.stats();
      check(stats.byStatus.running === O.resume, `durastate setup: ${stats.byStatus.running} running`);
      await rt.close(); // hosts stop; the executions stay `running` in the store, their owner gone
      this.setupMs = now() - t;
      this.setupNote = `${n(O.resume)} executions started (each running: an effect in flight that never settles), runtime closed`;
    },
    async round() {
      const t = now();
      const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [stuckMachine], recover: true });
      const ms = now() - t;
      const stats = await rt.stats();
      await rt.close();
      check(stats.hosted === O.resume, `durastate recovered ${stats.hosted} of ${O.resume}`);
      this.extras.push({ ms });
      return { ops: O.resume, ms };
    },
    teardown() {
      dir.remove();
    },
  });
}

/** A graph interrupted before its second node: a thread waiting to be resumed. */
function approvalGraph(checkpointer) {
  return new StateGraph(CounterState)
    .addNode('work', (s) => ({ count: s.count + 1, total: s.total + 1 }))
    .addNode('approve', () => ({ label: 'approved' }))
    .addEdge(START, 'work')
    .addEdge('work', 'approve')
    .addEdge('approve', END)
    .compile({ checkpointer, interruptBefore: ['approve'] });
}

function langgraphResume() {
  let dir;
  let file;
  return withExtras({
    name: 'LangGraph.js + SqliteSaver',
    unit: 'executions',
    async setup() {
      dir = tempDir('peers-lg-resume-');
      file = join(dir.path, 'checkpoints.sqlite');
      const t = now();
      const saver = sqliteSaver(file);
      const graph = approvalGraph(saver);
      // One thread run for real up to its interrupt, then its rows copied to `resume` thread ids in
      // one SQLite transaction (running 10,000 invokes would take ~25 s here). Only the thread id
      // differs, in the key columns and in the metadata, where LangGraph records it.
      await graph.invoke({ count: 0, total: 0, label: 'counter' }, { configurable: { thread_id: 'tpl' } });
      const tpl = await graph.getState({ configurable: { thread_id: 'tpl' } });
      check(tpl.next[0] === 'approve' && tpl.metadata?.thread_id === 'tpl', 'LangGraph template thread not interrupted as expected');
      const copyCheckpoints = saver.db.prepare(
        `INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
         SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
                CAST(replace(CAST(metadata AS TEXT), '"thread_id":"tpl"', '"thread_id":"' || ? || '"') AS BLOB)
         FROM checkpoints WHERE thread_id = 'tpl'`,
      );
      const copyWrites = saver.db.prepare(
        `INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value)
         SELECT ?, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value FROM writes WHERE thread_id = 'tpl'`,
      );
      saver.db.transaction(() => {
        for (let i = 0; i < O.resume; i++) {
          copyCheckpoints.run(`w${i}`, `w${i}`);
          copyWrites.run(`w${i}`);
        }
      })();
      this.rowsPerThread = {
        checkpoints: sqliteCheckpoints(saver, 'tpl'),
        writes: saver.db.prepare(`SELECT count(*) AS n FROM writes WHERE thread_id = 'tpl'`).get().n,
      };
      // The copies are real threads: one of them resumes and finishes.
      const probe = `w${O.resume - 1}`;
      const s = await graph.getState({ configurable: { thread_id: probe } });
      check(s.next[0] === 'approve' && s.metadata?.thread_id === probe && s.values.count === 1, `LangGraph copied thread ${probe}: ${JSON.stringify(s.metadata)}`);
      saver.db.close();
      this.setupMs = now() - t;
      this.setupNote = `1 thread run to its interrupt (before node "approve"; ${this.rowsPerThread.checkpoints} checkpoints, ${this.rowsPerThread.writes} writes), its rows copied to ${n(O.resume)} thread ids`;
    },
    async round() {
      const t = now();
      const saver = SqliteSaver.fromConnString(file);
      const graph = approvalGraph(saver);
      let ok = 0;
      for (let i = 0; i < O.resume; i++) {
        const s = await graph.getState({ configurable: { thread_id: `w${i}` } });
        if (s.next[0] === 'approve' && s.values.count === 1) ok++;
      }
      const ms = now() - t;
      saver.db.close();
      check(ok === O.resume, `LangGraph getState: ${ok} of ${O.resume} threads interrupted as expected`);
      this.extras.push({ ms });
      return { ops: O.resume, ms };
    },
    async teardown() {
      // Reference, after the rounds: resuming threads for real (invoke(null) runs node "approve"
      // and checkpoints), one after the other.
      const saver = SqliteSaver.fromConnString(file);
      const graph = approvalGraph(saver);
      const count = Math.min(O.invokeResume, O.resume);
      const t = now();
      for (let i = 0; i < count; i++) {
        const out = await graph.invoke(null, { configurable: { thread_id: `w${i}` } });
        check(out.label === 'approved', `LangGraph resume of w${i} gave ${JSON.stringify(out)}`);
      }
      this.invokeResume = { count, ms: now() - t };
      saver.db.close();
      dir.remove();
    },
  });
}

function xstateResume() {
  let dir;
  return withExtras({
    name: 'XState + LMDB, full snapshot per step',
    unit: 'executions',
    async setup() {
      dir = tempDir('peers-xs-resume-');
      const t = now();
      const env = openLmdb(dir.path);
      const db = env.openDB({ name: 'snapshots' });
      let last;
      for (let i = 0; i < O.resume; i++) {
        const actor = createActor(stuckMachine).start();
        last = db.put(`e${i}`, actor.getPersistedSnapshot());
        actor.stop();
      }
      await durable(last);
      await env.close();
      this.setupMs = now() - t;
      this.setupNote = `${n(O.resume)} actors started (invoking a promise that never settles), their persisted snapshots put`;
    },
    async round() {
      const t = now();
      const env = openLmdb(dir.path);
      const db = env.openDB({ name: 'snapshots' });
      const actors = [];
      for (const { value } of db.getRange()) {
        const actor = createActor(stuckMachine, { snapshot: value });
        actor.subscribe({ error: () => {} });
        actor.start();
        actors.push(actor);
      }
      const ms = now() - t;
      check(actors.length === O.resume && actors.every((a) => a.getSnapshot().value === 'calling'), `XState restored ${actors.length} of ${O.resume}`);
      for (const a of actors) a.stop();
      await env.close();
      this.extras.push({ ms });
      return { ops: O.resume, ms };
    },
    teardown() {
      dir.remove();
    },
  });
}

async function workload3() {
  log(`== 3. resuming ${n(O.resume)} interrupted executions ==`);
  const contenders = [durastateResume(), langgraphResume(), xstateResume()];
  const results = await alternate(contenders, { rounds: O.rounds, warmup: O.warmup, log });
  for (const c of contenders) log(`  setup (not timed) of ${c.name}: ${c.setupNote}, ${formatMs(c.setupMs)}`);
  const lg = contenders[1];
  return {
    rows: contenders.map((c, i) => ({ name: c.name, rate: results[i], ms: median(c.extras.slice(O.warmup).map((e) => e.ms)) })),
    invokeResume: lg.invokeResume,
  };
}

function formatResume(r) {
  const base = r.rows[0];
  const what = {
    'durastate (LMDB, flush)': 'createRuntime({ recover: true }) until all hosted',
    'LangGraph.js + SqliteSaver': 'open saver + graph.getState per thread',
    'XState + LMDB, full snapshot per step': 'open env + read all + createActor().start() each',
  };
  return table(
    ['contender', 'timed operation', 'total (median)', 'per execution', 'executions/s', 'this ÷ durastate time'],
    r.rows.map((row) => [row.name, what[row.name] ?? '', formatMs(row.ms), formatMs(row.ms / O.resume), formatRate(row.rate.median), formatRatio(row.ms / base.ms)]),
  );
}

// ---------------------------------------------------------------------------------------------

function verdict(met) {
  return met ? 'MET' : 'MISSED';
}

async function main() {
  const versions = {
    lmdb: version('../../node_modules/lmdb/package.json'),
    xstate: version('../../node_modules/xstate/package.json'),
    langgraph: version('./node_modules/@langchain/langgraph/package.json'),
    core: version('./node_modules/@langchain/core/package.json'),
    checkpointSqlite: version('./node_modules/@langchain/langgraph-checkpoint-sqlite/package.json'),
    checkpoint: version('./node_modules/@langchain/langgraph-checkpoint/package.json'),
    betterSqlite3: version('./node_modules/better-sqlite3/package.json'),
  };
  // The saver's settings as it opens a file (an in-memory database cannot be in WAL mode).
  const probeDir = tempDir('peers-probe-');
  const probe = sqliteSaver(join(probeDir.path, 'probe.sqlite'));
  const sqlite = {
    version: probe.db.prepare('SELECT sqlite_version() AS v').get().v,
    journalMode: probe.db.pragma('journal_mode', { simple: true }),
    synchronous: ['OFF', 'NORMAL', 'FULL', 'EXTRA'][probe.db.pragma('synchronous', { simple: true })] ?? '?',
  };
  probe.db.close();
  probeDir.remove();
  const machine = machineInfo({ lmdb: versions.lmdb, xstate: versions.xstate });
  const source = sourceRevision();
  console.log(`durastate peer benchmarks — ${describeMachine(machine)}`);
  console.log(
    `peers: @langchain/langgraph ${versions.langgraph}, @langchain/core ${versions.core}, @langchain/langgraph-checkpoint ${versions.checkpoint}, ` +
      `@langchain/langgraph-checkpoint-sqlite ${versions.checkpointSqlite}, better-sqlite3 ${versions.betterSqlite3} (SQLite ${sqlite.version}, ` +
      `SqliteSaver on a file: journal_mode=${sqlite.journalMode}, synchronous=${sqlite.synchronous}, its defaults); LangGraph durability: "async" (its default)`,
  );
  console.log(`source: ${source}`);
  const loadBefore = loadNote();
  console.log(`started ${new Date().toISOString()}, ${loadBefore.text}${quick ? ' (PEERS_QUICK: smoke run, figures not representative)' : ''}\n`);
  const started = now();
  const out = { machine, versions, sqlite, source, options: O };

  if (only.has('1')) {
    const w1 = await workload1();
    out.workload1 = w1;
    log(`\nsequential (one execution, ${n(O.steps)} awaited steps):\n${formatThroughput(w1.sequential)}`);
    log(`\nparallel (${O.parallel} at once × ${O.parallelSteps} steps each):\n${formatThroughput(w1.parallel)}`);
    log(
      `\nLangGraph checkpoints per run (SqliteSaver, counted): ${w1.checkpointsPerRun.sequential} for ${n(O.steps)} steps, ` +
        `${w1.checkpointsPerRun.parallel} for ${O.parallelSteps} (input, start, one per super-step). steps/commit: LMDB write transactions (durastate, XState+LMDB).\n`,
    );
  }
  if (only.has('2')) {
    collectGarbage();
    const w2 = await workload2();
    out.workload2 = w2;
    log(`\n${formatConversation(w2)}`);
    const ds = w2[0];
    const lgs = w2.find((r) => r.name === 'LangGraph.js + SqliteSaver');
    log('');
    log(`durastate's last state: ${formatBytes(ds.lastState)} of JSON context. Files once closed:`);
    for (const r of w2) if (!r.inMemory) log(`  ${r.name}: ${r.files}`);
    if (lgs?.open) log(`  LangGraph.js + SqliteSaver while open (before the close folds the WAL in): ${formatBytes(lgs.open.bytes)} (${lgs.open.files})`);
    log(`  LangGraph checkpoints for ${n(O.turns)} steps: ${lgs?.checkpoints}\n`);
  }
  if (only.has('3')) {
    collectGarbage();
    const w3 = await workload3();
    out.workload3 = w3;
    log(`\n${formatResume(w3)}`);
    if (w3.invokeResume) {
      log(
        `\nReference: LangGraph.js + SqliteSaver resuming ${n(w3.invokeResume.count)} of those threads for real, invoke(null) one after the other ` +
          `(runs node "approve", checkpoints): ${formatMs(w3.invokeResume.ms)}, ${formatMs(w3.invokeResume.ms / w3.invokeResume.count)} per thread.\n`,
      );
    }
  }

  // Goals of issue 7.
  if (out.workload1 || out.workload2) log('== goals ==');
  if (out.workload1) {
    const pick = (rs, name) => rs.find((r) => r.name === name);
    const seq = out.workload1.sequential;
    const par = out.workload1.parallel;
    const rSeq = seq[0].median / pick(seq, 'LangGraph.js + SqliteSaver').median;
    const rPar = par[0].median / pick(par, 'LangGraph.js + SqliteSaver').median;
    log(`durastate steps/s ≥ 100× LangGraph.js + SqliteSaver: sequential ${formatRatio(rSeq)} — ${verdict(rSeq >= 100)}; parallel (${O.parallel} at once) ${formatRatio(rPar)} — ${verdict(rPar >= 100)}`);
    const floorName = 'floor: XState + smallest durable write per step (ref.)';
    const fSeq = pick(seq, floorName).median / pick(seq, 'LangGraph.js + SqliteSaver').median;
    const fPar = pick(par, floorName).median / pick(par, 'LangGraph.js + SqliteSaver').median;
    log(`  the floor (no design that makes each step durable can pass it here) ÷ SqliteSaver: sequential ${formatRatio(fSeq)}, parallel ${formatRatio(fPar)}`);
    out.goals = { ...out.goals, stepsSequential: rSeq, stepsParallel: rPar, floorSequential: fSeq, floorParallel: fPar };
  }
  if (out.workload2) {
    const ds = out.workload2[0];
    const lgs = out.workload2.find((r) => r.name === 'LangGraph.js + SqliteSaver');
    const dsc = out.workload2.find((r) => r.name.startsWith('durastate (LMDB, compression: false)'));
    const frac = ds.bytes / lgs.bytes;
    log(
      `durastate bytes on disk ≤ 1/50 of LangGraph.js + SqliteSaver's for the conversation: ${formatBytes(ds.bytes)} vs ${formatBytes(lgs.bytes)} = 1/${(1 / frac).toFixed(1)} — ${verdict(frac <= 1 / 50)}` +
        (dsc ? ` (with compression: false: ${formatBytes(dsc.bytes)} = 1/${(lgs.bytes / dsc.bytes).toFixed(1)})` : ''),
    );
    out.goals = { ...out.goals, bytesFraction: frac, ...(dsc ? { bytesFractionUncompressed: dsc.bytes / lgs.bytes } : {}) };
  }
  const loadAfter = loadNote();
  log(`\ntotal ${((now() - started) / 1000).toFixed(1)} s; ${loadAfter.text}`);
  out.load = [loadBefore.load1, loadAfter.load1];
  if (process.env.PEERS_JSON) writeFileSync(process.env.PEERS_JSON, `${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
