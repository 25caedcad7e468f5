/**
 * The waker's scan of the timers table, alone: a fake store holds only due rows (a plain array
 * in key order), the wake callback refuses or loads. What is checked is which executions are
 * asked for and how many pages are read, not time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedClock, type Store } from '../src/index.js';
import { Waker } from '../src/internal.js';

const NOW = Date.UTC(2026, 0, 1);
type Row = { id: string; timer: string; dueAt: number };

/** A store of due rows, in (dueAt, id, timer) order, that counts its page reads. */
function rowsStore(rows: Row[]): { store: Store; reads: () => number } {
  let reads = 0;
  const order = (a: Row, b: Row): number => a.dueAt - b.dueAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || (a.timer < b.timer ? -1 : a.timer > b.timer ? 1 : 0);
  const store = {
    async dueTimers(until: number, limit: number, from = 0, after?: Row): Promise<Row[]> {
      reads++;
      return rows.filter((r) => r.dueAt <= until && r.dueAt >= from && (!after || order(r, after) > 0)).slice(0, limit);
    },
  } as unknown as Store;
  return { store, reads: () => reads };
}

const wakers: Waker[] = [];
afterEach(() => {
  for (const w of wakers.splice(0)) w.stop();
});

describe('Waker: the scan of due rows', () => {
  it('5,000 due rows of executions it may not wake ahead of a sleeper: the sleeper is asked for, and each page is read about once (no rescan from the start per batch)', async () => {
    const rows: Row[] = Array.from({ length: 5_000 }, (_, i) => ({ id: `blocked-${String(i).padStart(5, '0')}`, timer: 't', dueAt: NOW - 10_000 + i }));
    rows.push({ id: 'sleeper', timer: 't', dueAt: NOW - 1 });
    const { store, reads } = rowsStore(rows);
    const asked: string[] = [];
    const waker = new Waker(store, simulatedClock(NOW), () => false, async (ids) => {
      asked.push(...ids);
      return ids.includes('sleeper') ? { loaded: 1, refused: ids.filter((id) => id !== 'sleeper') } : { loaded: 0, refused: ids };
    });
    wakers.push(waker);
    await waker.check();
    expect(asked).toContain('sleeper');
    expect(new Set(asked).size).toBe(asked.length); // nobody asked twice while refused
    // One read per batch of 256 asked, plus the look ahead for the clock: linear in the rows.
    expect(reads()).toBeLessThanOrEqual(Math.ceil(5_001 / 256) + 2);
  });

  it('rows of executions being woken here are passed over page after page, and the scan starts again from the earliest once it reached the end', async () => {
    const hosted = new Set(Array.from({ length: 3_000 }, (_, i) => `busy-${String(i).padStart(4, '0')}`));
    const rows: Row[] = [...hosted].map((id, i) => ({ id, timer: 't', dueAt: NOW - 5_000 + i }));
    rows.push({ id: 'late', timer: 't', dueAt: NOW - 1 });
    const { store } = rowsStore(rows);
    const asked: string[][] = [];
    const waker = new Waker(store, simulatedClock(NOW), (id) => hosted.has(id), async (ids) => {
      asked.push(ids);
      return { loaded: ids.length, refused: [] };
    });
    wakers.push(waker);
    await waker.check();
    expect(asked).toEqual([['late']]);
    // The late one is loaded (its row would go once its transition commits; the fake keeps it):
    // a second look starts from the earliest again and asks for it again, since it is not hosted.
    await waker.check();
    expect(asked).toEqual([['late'], ['late']]);
  });
});
