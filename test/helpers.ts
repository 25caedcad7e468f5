import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lmdbStore, memoryStore, type Store } from '../src/index.js';

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'durastate-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface StoreConfig {
  name: string;
  /** Whether reopening the same location sees the same data. */
  persistent: boolean;
  make(dir: string): Store;
}

/** Every store configuration the contract suites run against. */
export const storeConfigs: StoreConfig[] = [
  { name: 'lmdb', persistent: true, make: (dir) => lmdbStore({ path: dir }) },
  { name: 'lmdb+compression', persistent: true, make: (dir) => lmdbStore({ path: dir, compression: true }) },
  { name: 'memory', persistent: false, make: () => memoryStore() },
];
