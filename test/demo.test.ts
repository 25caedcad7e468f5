import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { createRuntime, lmdbStore } from '../src/index.js';
import { onboardingMachine } from '../machines/index.js';
import { tempDir } from './helpers.js';

const demo = fileURLToPath(new URL('../dist/demo/demo.js', import.meta.url));
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

it("npm start's demo kills its worker with SIGKILL, recovers in a new one and finishes", async () => {
  expect(existsSync(demo), `${demo} is missing: run npm run build first`).toBe(true);
  const dir = tempDir();
  cleanups.push(dir.remove);
  const { stdout } = await promisify(execFile)(process.execPath, [demo], {
    env: { ...process.env, DURASTATE_STORE: dir.path, DURASTATE_DEMO_LATENCY: '150' },
    timeout: 60_000,
  });
  expect(stdout).toContain('with SIGKILL');
  expect(stdout).toContain('worker 1 ended by SIGKILL');
  expect(stdout).toMatch(/\[worker 2\] recovered onboarding-\S+ at seq [2-9]/);
  const id = /execution (onboarding-\S+)/.exec(stdout)?.[1];
  expect(id).toBeDefined();

  // The store it leaves behind: completed, every step once, seqs contiguous.
  const rt = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [onboardingMachine], recover: false });
  try {
    const info = await rt.get(id as string);
    expect(info?.status).toBe('completed');
    expect(info?.output).toEqual({
      customer: 'ada@example.com',
      receipts: ['account:ada@example.com', 'welcome-email:ada@example.com', 'workspace:ada@example.com', 'kickoff:ada@example.com'],
    });
    expect((await rt.history(id as string)).map((h) => h.seq)).toEqual([0, 1, 2, 3, 4]);
  } finally {
    await rt.close();
  }
});
