/**
 * What only the LMDB store does: a store keeps the compression it was created with, so that
 * values are always read as they were written.
 */
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { assign, createMachine } from 'xstate';
import { InvalidArgumentError, createRuntime, lmdbStore } from '../src/index.js';
import { SCHEMA_VERSION } from '../src/internal.js';
import { tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function dir(): string {
  const d = tempDir();
  cleanups.push(d.remove);
  return d.path;
}

async function recorded(path: string, setting = 'compression'): Promise<unknown> {
  const env = open({ path, maxDbs: 16, readOnly: true });
  try {
    return env.openDB({ name: 'system' }).get(setting);
  } finally {
    await env.close();
  }
}

describe('lmdbStore compression', () => {
  it('a new store compresses by default and keeps it: reopened without the option it still does', async () => {
    const path = dir();
    const store = lmdbStore({ path });
    await store.open();
    await store.close();
    expect(await recorded(path)).toBe(true);
    const again = lmdbStore({ path });
    await again.open();
    await again.close();
    expect(await recorded(path)).toBe(true);
  });

  it('the other setting than the store was created with is refused, naming both', async () => {
    const path = dir();
    const store = lmdbStore({ path, compression: false });
    await store.open();
    await store.close();
    expect(await recorded(path)).toBe(false);
    const wrong = lmdbStore({ path, compression: true });
    const err = await wrong.open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain('created with compression off');
    const right = lmdbStore({ path });
    await right.open();
    await right.close();
  });

  it('a store made before the setting was kept (a schema, no setting) is read uncompressed', async () => {
    const path = dir();
    const env = open({ path, maxDbs: 16 });
    await env.openDB({ name: 'system' }).put('schema', 1);
    await env.close();
    const store = lmdbStore({ path });
    await store.open();
    await store.close();
    expect(await recorded(path)).toBe(false);
  });
});

describe('lmdbStore value encoding', () => {
  const entry = (seq: number) => ({ seq, at: seq, event: { type: 'E', n: seq }, patch: [{ op: 'replace' as const, path: '/context/n', value: seq }], value: 'on', status: 'waiting' as const });
  const machine = createMachine({ id: 'm', context: { n: 0 }, on: { E: { actions: assign({ n: ({ context }) => context.n + 1 }) } } });

  it('writes plain msgpack maps, with no record structures shared through the database', async () => {
    const path = dir();
    const rt = await createRuntime({ store: lmdbStore({ path }), machines: [machine], recover: false });
    const { id } = await rt.start('m');
    await rt.send(id, { type: 'E' });
    await rt.close();
    const env = open({ path, maxDbs: 16, readOnly: true });
    try {
      for (const name of ['executions', 'journal', 'keyframes']) {
        const db = env.openDB({ name, encoding: 'binary' });
        expect(db.getBinary(Symbol.for('structures')), name).toBeUndefined();
        for (const { value } of db.getRange({})) {
          // fixmap (0x80–0x8f) or map16 (0xde): a map, not a record (0x40–0x7f, or 0xd4 0x72 with its definition)
          const first = (value as Buffer)[name === 'executions' ? 8 : 0] as number; // after a row's 8-byte version
          expect(first >= 0x80 && first <= 0x8f || first === 0xde, `${name}: first byte ${first.toString(16)}`).toBe(true);
        }
      }
    } finally {
      await env.close();
    }
  });

  it('reads values an earlier version wrote as msgpackr records, and goes on writing next to them', async () => {
    const path = dir();
    // As an older durastate left it (schema 1): each value a record carrying its own definition.
    const env = open({ path, maxDbs: 16 });
    await env.openDB({ name: 'system' }).put('schema', 1);
    await env.openDB({ name: 'system' }).put('compression', false);
    await env.openDB({ name: 'journal', compression: false }).put(['old', 0], entry(0));
    await env.close();
    const store = lmdbStore({ path });
    await store.open();
    expect(await store.readJournal('old')).toEqual([entry(0)]);
    await store.close();
    // Marked as written by this version: an older durastate now refuses it (SchemaVersionError).
    expect(await recorded(path, 'schema')).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(2);
    const rt = await createRuntime({ store: lmdbStore({ path }), machines: [machine], recover: false });
    const { id } = await rt.start('m');
    await rt.send(id, { type: 'E' });
    expect((await rt.get(id))?.context).toEqual({ n: 1 });
    expect(await rt.store.readJournal('old')).toEqual([entry(0)]);
    await rt.close();
  });
});
