/**
 * What only the LMDB store does: a store keeps the compression it was created with, so that
 * values are always read as they were written.
 */
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, lmdbStore } from '../src/index.js';
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

async function recorded(path: string): Promise<unknown> {
  const env = open({ path, maxDbs: 16, readOnly: true });
  try {
    return env.openDB({ name: 'system' }).get('compression');
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
    await env.openDB({ name: 'system' }).put('schema', SCHEMA_VERSION);
    await env.close();
    const store = lmdbStore({ path });
    await store.open();
    await store.close();
    expect(await recorded(path)).toBe(false);
  });
});
