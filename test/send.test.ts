import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, InvalidArgumentError, type Runtime } from '../src/index.js';
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
