import { afterEach, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { createRuntime, InvalidArgumentError, SendTimeoutError, type Runtime } from '../src/index.js';
import { stepsMachine } from './fixtures/machines.js';
import { storeConfigs, tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.each(storeConfigs)('send with an idempotency key on $name', (config) => {
  async function open(path?: string): Promise<{ rt: Runtime; path: string }> {
    let dir = path;
    if (!dir) {
      const t = tempDir();
      cleanups.push(t.remove);
      dir = t.path;
    }
    const rt = await createRuntime({ store: config.make(dir), machines: [stepsMachine] });
    cleanups.push(() => rt.close());
    return { rt, path: dir };
  }

  it('an event whose key was applied is not applied again; the resend gets the first seq', async () => {
    const { rt } = await open();
    const { id } = await rt.start('steps', { input: { total: 10 } });
    expect(await rt.send(id, { type: 'STEP', n: 1 }, { key: 'k1' })).toEqual({ seq: 1, duplicate: false });
    expect(await rt.send(id, { type: 'STEP', n: 2 }, { key: 'k2' })).toEqual({ seq: 2, duplicate: false });
    expect(await rt.send(id, { type: 'STEP', n: 1 }, { key: 'k1' })).toEqual({ seq: 1, duplicate: true });
    expect(await rt.send(id, { type: 'STEP', n: 3 })).toEqual({ seq: 3, duplicate: false });
    expect((await rt.history(id)).map((h) => (h.event as { n?: number }).n ?? null)).toEqual([null, 1, 2, 3]);
    expect((await rt.get(id))?.context).toMatchObject({ done: 3 });
  });

  it('the same key sent concurrently is applied once', async () => {
    const { rt } = await open();
    const { id } = await rt.start('steps', { input: { total: 10 } });
    const results = await Promise.all([1, 2, 3].map(() => rt.send(id, { type: 'ADD', amount: 5 }, { key: 'once' })));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(results.map((r) => r.seq))).toEqual(new Set([1]));
    expect((await rt.get(id))?.context).toMatchObject({ sum: 5 });
  });

  it('keys are per execution', async () => {
    const { rt } = await open();
    const a = await rt.start('steps', { input: { total: 10 } });
    const b = await rt.start('steps', { input: { total: 10 } });
    expect(await rt.send(a.id, { type: 'ADD', amount: 1 }, { key: 'same' })).toEqual({ seq: 1, duplicate: false });
    expect(await rt.send(b.id, { type: 'ADD', amount: 1 }, { key: 'same' })).toEqual({ seq: 1, duplicate: false });
  });

  it('a malformed key is refused', async () => {
    const { rt } = await open();
    const { id } = await rt.start('steps');
    await expect(rt.send(id, { type: 'STEP', n: 1 }, { key: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await rt.get(id))?.seq).toBe(0);
  });

  it('send never throws: bad input, null options (from JavaScript) and a closed runtime all come back as rejections', async () => {
    const { rt } = await open();
    const { id } = await rt.start('steps', { input: { total: 10 } });
    const send = rt.send.bind(rt) as (id: string, event: unknown, options?: unknown) => Promise<unknown>;
    let thrown: unknown;
    const attempts: Promise<unknown>[] = [];
    try {
      attempts.push(send(id, { type: 'STEP', n: 1 }, null));
      attempts.push(send(id, { notAType: 1 }, null));
      attempts.push(send(id, 'STEP'));
      attempts.push(send('nobody', { type: 'STEP', n: 1 }, null));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeUndefined();
    const outcomes = await Promise.allSettled(attempts);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    expect((await rt.get(id))?.seq).toBe(1);
  });

  it.runIf(config.persistent)('a key applied before a restart is still known after it', async () => {
    const first = await open();
    const { id } = await first.rt.start('steps', { input: { total: 10 } });
    await first.rt.send(id, { type: 'ADD', amount: 7 }, { key: 'pay-1' });
    await first.rt.close();
    const second = await open(first.path);
    expect(await second.rt.send(id, { type: 'ADD', amount: 7 }, { key: 'pay-1' })).toEqual({ seq: 1, duplicate: true });
    expect((await second.rt.get(id))?.context).toMatchObject({ sum: 7 });
  });
});

describe.each(storeConfigs.filter((c) => c.persistent))('send to an execution whose live owner does not answer, on $name', (config) => {
  it('rejects with SEND_TIMEOUT after timeoutMs; the event stays in the inbox; a sweep leaves unsettled entries alone', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const first = await createRuntime({ store: config.make(t.path), machines: [stepsMachine] });
    await first.start('steps', { id: 'ghosted', input: { total: 5 } });
    await first.close();
    // Another "process" owns it now and never looks at its inbox.
    const store = config.make(t.path);
    await store.open();
    await store.registerOwner({ id: 'ghost', pid: process.pid, host: hostname(), startedAt: 0, leaseUntil: Date.now() + 60_000 });
    expect((await store.claim('ghosted', 'ghost', Date.now())).ok).toBe(true);
    await store.close();

    const rt = await createRuntime({ store: config.make(t.path), machines: [stepsMachine] });
    cleanups.push(() => rt.close());
    const err = await rt.send('ghosted', { type: 'STEP', n: 1 }, { key: 'k', timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SendTimeoutError);
    expect((err as SendTimeoutError).code).toBe('SEND_TIMEOUT');
    expect((await rt.store.pendingInbox('ghosted')).map((p) => p.entry.event)).toEqual([{ type: 'STEP', n: 1 }]);
    expect(await rt.store.sweepInbox(Date.now() + 1)).toBe(0);
    expect((await rt.get('ghosted'))?.seq).toBe(0);
  });
});

describe('two runtimes sending to an execution nobody hosts, at once', () => {
  // Adversarial: both see no live owner, both try to claim it; the loser must not refuse the
  // event (EXECUTION_LOCKED) but hand it to the winner through its inbox.
  it('every event is applied once, whichever runtime claims the execution', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const { lmdbStore } = await import('../src/index.js');
    const first = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [stepsMachine] });
    for (let i = 0; i < 10; i++) await first.start('steps', { id: `free-${i}`, input: { total: 100 }, detach: true });
    await first.close();
    const a = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [stepsMachine], recover: false });
    const b = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [stepsMachine], recover: false });
    cleanups.push(() => a.close(), () => b.close());
    for (let i = 0; i < 10; i++) {
      const id = `free-${i}`;
      const sent = await Promise.all([a.send(id, { type: 'STEP', n: 1 }), b.send(id, { type: 'STEP', n: 2 }), a.send(id, { type: 'STEP', n: 3 })]);
      expect(sent.map((s) => s.seq).sort()).toEqual([1, 2, 3]);
      const steps = (await a.history(id)).slice(1).map((h) => (h.event as { n: number }).n);
      expect(steps.sort()).toEqual([1, 2, 3]);
    }
  });
});
