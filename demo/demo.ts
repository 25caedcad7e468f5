/**
 * `npm start`: a workflow survives a `kill -9`.
 *
 * Starts the onboarding workflow in a worker process on the embedded LMDB store, kills that
 * process with SIGKILL midway, starts a new worker that recovers the execution from the store
 * and finishes it, then prints the committed history. The store is left in place for the
 * `durastate` command to inspect.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRuntime, lmdbStore } from '../src/index.js';
import { onboardingMachine } from '../machines/index.js';

const storePath = process.env.DURASTATE_STORE ?? './.durastate';
const worker = fileURLToPath(new URL('./worker.js', import.meta.url));
const id = `onboarding-${Date.now().toString(36)}`;
const KILL_AFTER_SEQ = 2;

function runWorker(label: string, killAfterSeq?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [worker, storePath, id, 'ada@example.com'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, DURASTATE_DEMO_LATENCY: process.env.DURASTATE_DEMO_LATENCY ?? '300' },
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    console.log(`[${label}] ${line}`);
    const seq = /^\s+seq (\d+)/.exec(line)?.[1];
    if (killAfterSeq !== undefined && seq !== undefined && Number(seq) >= killAfterSeq && child.exitCode === null) {
      console.log(`\n>>> killing ${label} (pid ${child.pid}) with SIGKILL, midway through the workflow\n`);
      child.kill('SIGKILL');
    }
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

console.log(`durastate demo: store ${storePath}, execution ${id}\n`);
const first = await runWorker('worker 1', KILL_AFTER_SEQ);
console.log(`worker 1 ended by ${first.signal ?? `exit ${first.code}`}; starting worker 2 on the same store\n`);
const second = await runWorker('worker 2');
if (second.code !== 0) {
  console.error(`worker 2 failed (exit ${second.code})`);
  process.exit(1);
}

const rt = await createRuntime({ store: lmdbStore({ path: storePath }), machines: [onboardingMachine], recover: false });
const info = await rt.get(id);
console.log(`\n${id}: ${info?.status}, output ${JSON.stringify(info?.output)}`);
console.log('\nhistory (every committed transition, contiguous across the crash):');
for (const h of await rt.history(id)) {
  console.log(`  ${String(h.seq).padStart(3)}  ${h.at.toISOString()}  ${(h.event as { type: string }).type.padEnd(44)} ${JSON.stringify(h.value)}`);
}
await rt.close();
console.log(`\nThe store is left in ${storePath}: inspect it with  npx durastate ls  and  npx durastate history ${id}`);
