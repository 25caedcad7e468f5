/**
 * `npm start`'s demo, end to end: its real child processes (`durastate worker`, killed with
 * SIGKILL midway), then the store it leaves behind, read back.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { createRuntime, lmdbStore } from '../src/index.js';
import { researchAgentMachine } from '../machines/index.js';
import { tempDir } from './helpers.js';

const demo = fileURLToPath(new URL('../dist/demo/demo.js', import.meta.url));
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

it("npm start's demo kills its worker with SIGKILL, a second worker recovers and finishes, and a fork takes the other path", async () => {
  expect(existsSync(demo), `${demo} is missing: run npm run build first`).toBe(true);
  const dir = tempDir();
  cleanups.push(dir.remove);
  const { stdout } = await promisify(execFile)(process.execPath, [demo], {
    env: { ...process.env, DURASTATE_STORE: dir.path, DURASTATE_SIM_LATENCY_MS: '200' },
    timeout: 60_000,
  });
  expect(stdout).toContain('>>> kill -9 worker 1');
  expect(stdout).toContain('worker 1 ended by SIGKILL');
  const id = /execution (research-\S+)/.exec(stdout)?.[1] as string;
  expect(id).toBeDefined();
  const recoveredAt = Number(new RegExp(`\\[worker 2\\] recovered\\s+${id} \\(researchAgent\\) at seq (\\d+)`).exec(stdout)?.[1]);
  expect(recoveredAt).toBeGreaterThanOrEqual(2);

  const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [researchAgentMachine], recover: false });
  try {
    // The execution: published after one revision, its history contiguous across the crash.
    const info = await rt.get(id);
    expect(info?.status).toBe('completed');
    expect(info?.output).toMatchObject({ outcome: 'published', revisions: 1, by: 'ada' });
    const history = await rt.history(id);
    expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i));
    const types = history.map((h) => (h.event as { type: string }).type);
    expect(types.filter((t) => t === 'REVISE')).toHaveLength(1);
    expect(types.filter((t) => t === 'APPROVE')).toHaveLength(1);
    // Worker 2 went on from where worker 1's last commit left it: no step twice.
    expect(types.filter((t) => t === 'xstate.done.actor.plan')).toHaveLength(1);
    expect(types.filter((t) => t === 'xstate.done.actor.search')).toHaveLength(1);

    // The fork: from the first approval point, with another approver, rejected.
    const fork = await rt.get(`${id}-grace`);
    expect(fork?.status).toBe('completed');
    expect(fork?.output).toMatchObject({ outcome: 'rejected', by: 'grace' });
    const forkPoint = history.findIndex((h) => h.value === 'awaitingApproval');
    expect(fork?.parent).toEqual({ id, seq: forkPoint });
    const forkHistory = await rt.history(`${id}-grace`);
    expect(forkHistory[forkPoint]).toMatchObject({ from: id, forkPoint: true });
    expect((await rt.lineage(id)).tree.forks.map((f) => f.id)).toEqual([`${id}-grace`]);
  } finally {
    await rt.close();
  }
});
