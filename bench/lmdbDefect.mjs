#!/usr/bin/env node
// A reproduction of an lmdb-js defect with several processes writing to one environment, for an
// upstream report; it uses lmdb-js alone (no durastate code). Seen with lmdb 3.5.6 and 3.4.4 on
// Linux (Node 20), about one round in fifty to a hundred, more often under CPU load:
//
//   mdb_page_touch error
//   do_write error 0 4294936517
//   Error: MDB_PROBLEM: Unexpected problem - txn should abort: mdb_page_touch no parent
//
// and, rarer, `MDB_BAD_TXN … mdb_page_touch no parent`, `Assertion 'mp->mp_pgno != pgno' failed
// in mdb_page_touch()` (SIGABRT) or a segfault, in openDB's transaction or in a process's first
// asynchronous writes. No synchronous write transaction is used apart from openDB's own.
//
// Usage: node bench/lmdbDefect.mjs [rounds=200] [processes=6]   (LMDB_OVERLAPPING_SYNC=0: open with overlappingSync: false)
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
  const env = open({ path, maxDbs: 16, ...(process.env.LMDB_OVERLAPPING_SYNC === '0' ? { overlappingSync: false } : {}) });
  const names = ['executions', 'journal', 'keyframes', 'index', 'owners', 'effects', 'timers', 'inbox', 'keys', 'forks'];
  const dbs = Object.fromEntries(names.map((name) => [name, env.openDB({ name, compression: true, useVersions: name === 'executions' })]));
  const { executions, journal, timers, effects } = dbs;
  const pad = 'x'.repeat(200);
  const ids = [0, 1, 2].map((i) => `${me}-${i}`);
  const created = await Promise.all(ids.map((id) => executions.ifNoExists(id, () => {
    journal.put([id, 0], { seq: 0, pad });
    executions.put(id, { id, seq: 0 }, 1);
  })));
  if (created.includes(false)) throw new Error(`a create was refused: ${created}`);
  for (let step = 1; step <= 5; step++) {
    const applied = await Promise.all(ids.map((id) => executions.ifVersion(id, step, () => {
      journal.put([id, step], { seq: step, pad });
      timers.put([Date.now() + step, id], null);
      effects.put([id, `e${step}`], { pad });
      executions.put(id, { id, seq: step, pad }, step + 1);
    })));
    if (applied.includes(false)) throw new Error(`step ${step}: a conditional block was refused (${applied}); versions now ${ids.map((id) => executions.getEntry(id)?.version)}`);
  }
  await env.close();
}

async function parent(rounds, processes) {
  const script = fileURLToPath(import.meta.url);
  let failed = 0;
  let lostRounds = 0;
  for (let r = 1; r <= rounds; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'lmdb-defect-'));
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
    rmSync(dir, { recursive: true, force: true });
    const bad = stderr.filter(Boolean);
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
