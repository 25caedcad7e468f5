/**
 * A worker process for the demo: hosts the onboarding workflow (recovering it when the store
 * already holds it) and prints every committed transition until the execution finishes.
 *
 * Usage: node dist/demo/worker.js <store-path> <execution-id> <customer>
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createRuntime, lmdbStore } from '../src/index.js';
import { onboardingMachine } from '../machines/index.js';

const [storePath, id, customer] = process.argv.slice(2);
if (!storePath || !id || !customer) {
  console.error('usage: worker <store-path> <execution-id> <customer>');
  process.exit(2);
}

const rt = await createRuntime({ store: lmdbStore({ path: storePath }), machines: [onboardingMachine] });
const existing = await rt.get(id);
let next = 0;
if (existing) {
  console.log(`recovered ${id} at seq ${existing.seq} (${JSON.stringify(existing.value)}), continuing (pid ${process.pid})`);
  next = existing.seq + 1;
} else {
  await rt.start('onboarding', { id, input: { customer } });
  console.log(`started ${id} (pid ${process.pid})`);
}

for (;;) {
  const entries = await rt.history(id, { from: next });
  for (const e of entries) {
    const event = (e.event as { type: string }).type;
    console.log(`  seq ${e.seq}  ${event.padEnd(44)} → ${JSON.stringify(e.value)} (${e.status})`);
    next = e.seq + 1;
  }
  const last = entries.at(-1);
  if (last && ['completed', 'failed', 'cancelled'].includes(last.status)) break;
  await sleep(20);
}
await rt.close();
