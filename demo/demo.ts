/**
 * `npm start`: the research agent survives a `kill -9`, and its past can be forked.
 *
 * 1. Starts `durastate worker` (the package's own command) on the embedded LMDB store and hands
 *    it a research-agent execution (`rt.start(..., { detach: true })`).
 * 2. Follows its progress from this process, through the store.
 * 3. Midway through the tool calls, kills the worker with SIGKILL, starts a second worker,
 *    which recovers the execution and goes on from its last committed transition.
 * 4. Acts as the human: asks for a revision, then approves; the events reach the worker through
 *    its inbox. The worker is stopped cleanly (SIGTERM).
 * 5. Prints the history, then forks the execution from the moment the first draft awaited
 *    approval, with another approver in its context, who rejects it: the other path.
 *
 * The store is left in place for the `durastate` command to inspect.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, filter, tap } from 'rxjs';
import { createRuntime, lmdbStore, type Progress } from '../src/index.js';
import { researchAgentMachine, type ResearchOutput } from '../machines/index.js';

const storePath = process.env.DURASTATE_STORE ?? './.durastate';
const latency = process.env.DURASTATE_SIM_LATENCY_MS ?? '300';
const cli = fileURLToPath(new URL('../../bin/durastate.js', import.meta.url));
const id = `research-${Date.now().toString(36)}`;
const input = { topic: 'durable execution for AI agents', approver: 'ada' };

/** A `durastate worker` child process; its lines are printed with a label. */
function startWorker(label: string): { child: ChildProcess; exited: Promise<string> } {
  const child = spawn(process.execPath, [cli, '--store', storePath, 'worker', '--recover-every', '200ms'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, DURASTATE_SIM_LATENCY_MS: latency },
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => console.log(`    [${label}] ${line}`));
  const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? `exit ${code}`)));
  return { child, exited };
}

const bar = (p: Progress): string => `${'█'.repeat(Math.round(p.percent / 5)).padEnd(20, '░')} ${String(p.percent).padStart(3)}%  seq ${p.seq}  ${p.status}  ${JSON.stringify(p.value)}`;

console.log(`durastate demo — store ${storePath}, execution ${id}\n`);
console.log('The research agent plans tool calls, runs them as durable effects, drafts, waits for a person, publishes.');
console.log(`Its simulated services answer in ${latency} ms. Two worker processes will run it; this process only watches and decides.\n`);

const rt = await createRuntime({ store: lmdbStore({ path: storePath }), machines: [researchAgentMachine], recover: false, pollMs: 50 });
let worker = startWorker('worker 1');
await rt.start('researchAgent', { id, input, detach: true });
console.log(`>>> started ${id}, detached: the worker picks it up\n`);

// Follow it through the store; kill the first worker once two tool calls are committed, and
// start the second as soon as the first is dead.
let killed = false;
const untilApproval = (): Promise<Progress> =>
  firstValueFrom(
    rt.progress$(id).pipe(
      tap((p) => console.log(`  ${bar(p)}`)),
      tap((p) => {
        if (killed || p.percent < 40 || p.status === 'waiting') return;
        killed = true;
        console.log(`\n>>> kill -9 worker 1 (pid ${worker.child.pid}) in the middle of the tool calls\n`);
        worker.child.kill('SIGKILL');
        void worker.exited.then((how) => {
          console.log(`\n>>> worker 1 ended by ${how}; starting worker 2 on the same store\n`);
          worker = startWorker('worker 2');
        });
      }),
      filter((p) => p.status === 'waiting' || p.status === 'completed'),
    ),
  );

const at = await untilApproval();
if (!killed) throw new Error('the tools finished before the demo could kill the worker: raise DURASTATE_SIM_LATENCY_MS');
console.log(`\n>>> ${id} waits for a person at seq ${at.seq}; accepts ${(await rt.get(id))?.accepts.join(', ')}`);
console.log('>>> as ada: REVISE "add a comparison with Temporal"');
await rt.send(id, { type: 'REVISE', by: 'ada', feedback: 'add a comparison with Temporal' });
await firstValueFrom(rt.progress$(id).pipe(filter((p) => p.status === 'waiting' && p.seq > at.seq + 1)));
console.log('>>> as ada: APPROVE');
await rt.send(id, { type: 'APPROVE', by: 'ada' });
const output = await rt.wait<ResearchOutput>(id);
console.log(`\n${id} completed: ${output.outcome}, ${output.revisions} revision(s), ${output.publishedUrl}`);
worker.child.kill('SIGTERM');
console.log(`worker 2 ended by ${await worker.exited}\n`);

console.log('history (every committed transition, contiguous across the crash):');
const history = await rt.history(id);
for (const h of history) {
  console.log(`  ${String(h.seq).padStart(3)}  ${h.at.toISOString().slice(11, 23)}  ${(h.event as { type: string }).type.padEnd(42)} ${JSON.stringify(h.value)}`);
}

// The other path: the first draft, shown to someone else, who rejects it.
const firstDraft = history.find((h) => JSON.stringify(h.value) === '"awaitingApproval"');
if (!firstDraft) throw new Error('no approval point in the history');
console.log(`\n>>> fork ${id} at seq ${firstDraft.seq} (the first draft, awaiting approval) with approver "grace", who rejects it`);
const fork = await rt.fork(id, { seq: firstDraft.seq, update: { approver: 'grace' }, id: `${id}-grace` });
await rt.send(fork.id, { type: 'REJECT', by: 'grace', reason: 'out of scope for this quarter' });
const forked = await rt.wait<ResearchOutput>(fork.id);
console.log(`${fork.id} completed: ${forked.outcome} by ${forked.by} (${forked.reason}); ${id} is untouched: ${output.outcome}`);
const lineage = await rt.lineage(id);
console.log(`lineage: ${lineage.tree.id} → ${lineage.tree.forks.map((f) => `${f.id} (at seq ${f.parent?.seq})`).join(', ')}`);
await rt.close();

console.log(`\nThe store is left in ${storePath}. Try:`);
console.log('  npx durastate ls');
console.log(`  npx durastate history ${fork.id}`);
console.log(`  npx durastate state ${id} --seq ${firstDraft.seq}`);
console.log(`  npx durastate diff ${id} ${firstDraft.seq} ${firstDraft.seq} --other ${fork.id}`);
console.log(`  npx durastate fork ${id} --seq ${firstDraft.seq} --set approver=linus`);
