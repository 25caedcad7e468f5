#!/usr/bin/env node
// A reproduction of an lmdb-js defect with several processes on one environment, for an
// upstream report; it uses lmdb-js alone (no durastate code) unless LMDB_GATE=1. Seen with lmdb
// 3.5.6 and 3.4.4 on Linux (Node 20), a few rounds in a hundred, more often under CPU load:
// acknowledged writes lost without an error (a process finds its previous step undone, or its
// last step is missing after it exited cleanly), and loudly
//
//   mdb_page_touch error
//   do_write error 0 4294936517
//   Error: MDB_PROBLEM: Unexpected problem - txn should abort: mdb_page_touch no parent
//
// or `MDB_BAD_TXN … no parent`, `Assertion 'mp->mp_pgno != pgno' failed in mdb_page_touch()`
// (SIGABRT), a segfault, a hang.
//
// The cause (found 2026-12-02 with a rebuilt lmdb-js logging the lock file's txn id at every
// write transaction's start): lmdb-js's mdb.c, mdb_env_open2, ends with
//     if (env->me_txns) env->me_txns->mti_txnid = meta.mm_txnid;
// on every open, without the write mutex, `meta` being the meta page read at the start of the
// open; upstream LMDB has `if (prev && env->me_txns)` (only for MDB_PREVSNAPSHOT). A commit of
// another process landing during the open is undone: the shared id goes back, the next write
// transaction of any process starts from the older meta page (or meets pages of a later txn id:
// "no parent"). Logged: "ti 26, newest meta page 27" at the next write transaction, right after
// a process's open. With upstream's condition restored (bench/lmdb-open-defect.patch, lmdb-js
// rebuilt with node-gyp): 0 of 400 rounds failed (0 of 300 with LMDB_OVERLAPPING_SYNC=0),
// against 16 of 400 with the stock build.
//
// Usage: node bench/lmdbDefect.mjs [rounds=200] [processes=6]
//   LMDB_OVERLAPPING_SYNC=0  open with overlappingSync: false (what durastate does)
//   LMDB_GATE=1              open and write the way durastate's lmdbStore does: every other
//                            process holds back its writes while one opens (npm run build first)
//   LMDB_SETUP=create|hold   this process creates the environment first (and keeps it open)
//   LMDB_MAP_SIZE=bytes      a fixed map size
//   KEEP=1                   keep a failed round's folder (printed)
// Each round: that many processes open one new environment at once, open ten named databases,
// create three records each (ifNoExists blocks), update them five times (ifVersion blocks),
// then close. A round fails when any process writes to stderr, or when a journal entry that a
// process wrote and saw committed (and then exited 0) is missing afterwards.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';

const [mode, ...args] = process.argv.slice(2);

async function child(path, me) {
  // LMDB_GATE=1: open and write the way durastate's lmdbStore does (needs `npm run build`):
  // while this process opens the environment every other one holds back its writes.
  const gate = process.env.LMDB_GATE === '1' ? await import(new URL('../dist/src/store/openGate.js', import.meta.url).href) : undefined;
  let held;
  let unhold;
  const done = gate ? await gate.enterOpen(path, Number(process.env.LMDB_GATE_TIMEOUT ?? 10000)) : () => {};
  let env, dbs, registration;
  try {
    env = open({
      path,
      maxDbs: 16,
      ...(process.env.LMDB_OVERLAPPING_SYNC === '0' ? { overlappingSync: false } : {}),
      ...(process.env.LMDB_MAP_SIZE ? { mapSize: Number(process.env.LMDB_MAP_SIZE) } : {}),
    });
    const names = ['executions', 'journal', 'keyframes', 'index', 'owners', 'effects', 'timers', 'inbox', 'keys', 'forks'];
    dbs = Object.fromEntries(names.map((name) => [name, env.openDB({ name, compression: true, useVersions: name === 'executions' })]));
    registration = gate?.registerWriter(path, {
      hold: async () => {
        held ??= new Promise((resolve) => (unhold = resolve));
        await env.committed;
      },
      release: () => {
        held = undefined;
        unhold?.();
      },
    });
  } finally {
    done();
  }
  const writable = async () => {
    while (held) await held;
  };
  const { executions, journal, timers, effects } = dbs;
  const pad = 'x'.repeat(200);
  const ids = [0, 1, 2].map((i) => `${me}-${i}`);
  await writable();
  const created = await Promise.all(ids.map((id) => executions.ifNoExists(id, () => {
    journal.put([id, 0], { seq: 0, pad });
    executions.put(id, { id, seq: 0 }, 1);
  })));
  if (created.includes(false)) throw new Error(`a create was refused: ${created}`);
  for (let step = 1; step <= 5; step++) {
    await writable();
    const applied = await Promise.all(ids.map((id) => executions.ifVersion(id, step, () => {
      journal.put([id, step], { seq: step, pad });
      timers.put([Date.now() + step, id], null);
      effects.put([id, `e${step}`], { pad });
      executions.put(id, { id, seq: step, pad }, step + 1);
    })));
    if (applied.includes(false)) throw new Error(`step ${step}: a conditional block was refused (${applied}); versions now ${ids.map((id) => executions.getEntry(id)?.version)}`);
  }
  // As the store closes: in its own turn, registered until the environment is closed.
  const closing = gate ? await gate.enterClose(path) : () => {};
  try {
    await env.close();
  } finally {
    registration?.close();
    closing();
  }
}

async function parent(rounds, processes) {
  const script = fileURLToPath(import.meta.url);
  let failed = 0;
  let lostRounds = 0;
  for (let r = 1; r <= rounds; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'lmdb-defect-'));
    // LMDB_SETUP=create: this process creates the environment and its databases and closes it
    // before the children start; =hold: it keeps it open while they run.
    let held;
    if (process.env.LMDB_SETUP) {
      held = open({ path: dir, maxDbs: 16, ...(process.env.LMDB_OVERLAPPING_SYNC === '0' ? { overlappingSync: false } : {}) });
      for (const name of ['executions', 'journal', 'keyframes', 'index', 'owners', 'effects', 'timers', 'inbox', 'keys', 'forks']) held.openDB({ name, compression: true, useVersions: name === 'executions' });
      if (process.env.LMDB_SETUP === 'create') {
        await held.close();
        held = undefined;
      }
    }
    const stderr = await Promise.all(Array.from({ length: processes }, (_, k) => new Promise((resolve) => {
      const p = spawn(process.execPath, [script, 'child', dir, `p${k}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve(err || code || signal ? `exit ${code ?? signal}: ${err}` : '');
      });
    })));
    // Every acknowledged write of the processes that exited cleanly must be there.
    const lost = [];
    const env = open({ path: dir, maxDbs: 16 });
    const journal = env.openDB({ name: 'journal', compression: true });
    stderr.forEach((err, k) => {
      if (err) return;
      for (let i = 0; i < 3; i++) for (let seq = 0; seq <= 5; seq++) if (journal.get([`p${k}-${i}`, seq]) === undefined) lost.push(`p${k}-${i}@${seq}`);
    });
    await env.close();
    if (held) await held.close();
    const bad = stderr.filter(Boolean);
    if (process.env.KEEP && (bad.length || lost.length)) console.log('kept', dir); else rmSync(dir, { recursive: true, force: true });
    if (lost.length) lostRounds++;
    if (bad.length || lost.length) {
      failed++;
      console.log(`round ${r}: ${lost.length ? `acknowledged writes missing: ${lost.join(', ')}` : ''}${bad.length ? ` ${bad[0].split('\n').slice(0, 4).join(' | ')}` : ''}`);
    }
  }
  console.log(`${failed} of ${rounds} rounds failed; in ${lostRounds} of them acknowledged writes of processes that exited cleanly were missing`);
}

if (mode === 'child') await child(args[0], args[1]).catch((err) => {
  console.error(String(err));
  process.exit(1);
});
else await parent(Number(mode ?? 200), Number(args[0] ?? 6));
