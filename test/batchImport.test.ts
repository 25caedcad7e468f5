/**
 * The batch import (machines/batchImport.ts) on a real LMDB store and a simulated clock: the
 * three-stage pipeline over chunks (import, validate, index in parallel regions), its output and
 * what the simulated store holds afterwards, the progress percentage through `rt.progress$`, a
 * recovery midway that does not import a recorded chunk again, and transient failures retried.
 */
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ExecutionFailedError, simulatedClock } from '../src/index.js';
import {
  batchImportMachine,
  batchProgress,
  CHUNK_RETRY,
  DEFAULT_CHUNK_SIZE,
  isInvalidRecord,
  simulatedRecordStore as store,
  type BatchContext,
  type ChunkOp,
} from '../machines/batchImport.js';
import { exampleHarness, info, until, runToEnd } from './fixtures/exampleHarness.js';

const T0 = Date.UTC(2026, 0, 5, 9);

const { storePath, open } = exampleHarness({ prefix: 'durastate-batch-', machines: [batchImportMachine], reset: () => store.reset() });

/** Calls per chunk and operation: `{ import: [1, 1, ...], validate: [...], index: [...] }`. */
function callsPerChunk(chunks: number): Record<ChunkOp, number[]> {
  const per = (op: ChunkOp) => Array.from({ length: chunks }, (_, c) => store.callsFor(op, c).length);
  return { import: per('import'), validate: per('validate'), index: per('index') };
}

/** The invalid record numbers among 1..n. */
function invalidUpTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter(isInvalidRecord);
}

describe('batch import (machines/batchImport.ts)', () => {
  it('happy path, N not a multiple of chunkSize: every chunk imported, validated and indexed once; invalid records counted', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('batchImport', { id: 'b-1', input: { records: 23, chunkSize: 5, source: 'crm.csv' } });
    const done = await runToEnd(rt, clock, id);
    expect(done).toMatchObject({ status: 'completed', value: 'imported' });
    expect(await rt.wait(id)).toEqual({ records: 23, chunks: 5, invalid: 3, indexed: 20 });
    expect(done.context).toMatchObject({ chunk: 5, processed: 23, validatedChunks: 5, indexedChunks: 5, invalid: 3, indexed: 20 });

    expect(callsPerChunk(5)).toEqual({ import: [1, 1, 1, 1, 1], validate: [1, 1, 1, 1, 1], index: [1, 1, 1, 1, 1] });
    expect(store.calls.every((c) => c.attempt === 1 && c.outcome === 'ok')).toBe(true);
    expect(new Set(store.calls.map((c) => c.key)).size).toBe(15);
    // The last chunk holds the 3 records left over.
    const last = store.calls.find((c) => c.op === 'import' && c.chunk === 4)!;
    expect(store.results[`import:${last.key}`]).toEqual({ chunk: 4, imported: 3 });

    const records = Object.values(store.records);
    expect(records.map((r) => r.n)).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(records.every((r) => r.writes === 1 && r.source === 'crm.csv')).toBe(true);
    expect(records.filter((r) => r.status === 'invalid').map((r) => r.n)).toEqual([7, 14, 21]);
    expect(records.filter((r) => r.indexed).length).toBe(20);
    expect(records.some((r) => r.status === 'invalid' && r.indexed)).toBe(false);
    expect(done.effects).toHaveLength(15);
    expect(done.effects.every((e) => e.status === 'done' && e.attempts === 1)).toBe(true);
  });

  it('runs the stages as a pipeline: a chunk is validated after it is imported, indexed after it is validated', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('batchImport', { id: 'b-2', input: { records: 12, chunkSize: 4 } });
    await runToEnd(rt, clock, id);
    expect(await rt.wait(id)).toEqual({ records: 12, chunks: 3, invalid: 1, indexed: 11 });
    const order = store.calls.map((c) => `${c.op}${c.chunk}`);
    for (let c = 0; c < 3; c++) {
      expect(order.indexOf(`validate${c}`)).toBeGreaterThan(order.indexOf(`import${c}`));
      expect(order.indexOf(`index${c}`)).toBeGreaterThan(order.indexOf(`validate${c}`));
    }
    // The regions overlap: chunk 0 is validated while chunk 1 is imported.
    const values = (await rt.history(id)).map((h) => JSON.stringify(h.value));
    expect(values[0]).toBe('{"processing":{"import":"importing","validate":"next","index":"next"}}');
    expect(values).toContain('{"processing":{"import":"importing","validate":"validating","index":"next"}}');
    expect(values.at(-1)).toBe('"imported"');
  });

  it('progress: rt.progress$ goes from 0 to 100 without going back, a step after each committed chunk', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    // The import is held at each chunk in turn, so the stream is seen at every checkpoint.
    store.hold = { op: 'import', chunk: 0 };
    const { id } = await rt.start('batchImport', { id: 'b-3', input: { records: 23, chunkSize: 5 } });
    const seen: number[] = [];
    const ended = new Promise<void>((resolve, reject) => rt.progress$(id).subscribe({ next: (p) => seen.push(p.percent), complete: resolve, error: reject }));
    const near = (a: number | undefined, b: number) => a !== undefined && Math.abs(a - b) < 1e-9;
    await until(() => near(seen.at(-1), 0) && store.callsFor('import', 0).length === 1, 'the start, at 0%');
    for (let k = 1; k <= 4; k++) {
      store.release();
      store.hold = { op: 'import', chunk: k };
      // Chunks 0..k-1 through all three stages: 3·5k of the 3·23 record-steps.
      await until(() => near(seen.at(-1), (100 * 15 * k) / 69), `${k} chunks through every stage`);
    }
    store.release();
    await runToEnd(rt, clock, id);
    await ended;

    expect(seen[0]).toBe(0);
    expect(seen.at(-1)).toBe(100);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    for (let k = 1; k <= 4; k++) expect(seen.some((p) => near(p, (100 * 15 * k) / 69))).toBe(true);

    // Every committed transition moved it on by one chunk of one stage: 15 steps, all smooth.
    const history = await rt.history(id);
    const steps: number[] = [];
    for (const h of history) {
      const at = await rt.stateAt(id, { seq: h.seq });
      steps.push(h.status === 'completed' ? 100 : batchProgress(at.context as unknown as BatchContext));
    }
    expect(steps).toHaveLength(16);
    const deltas = steps.slice(1).map((p, i) => Math.round(((p - steps[i]!) * 69) / 100));
    expect(deltas.sort()).toEqual([3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]); // in records: chunk sizes, the last chunk 3
  });

  it('recovery: closed midway, reopened on the same store, it finishes from its checkpoints; recorded chunks are not imported again', async () => {
    const path = storePath();
    let clock = simulatedClock(T0);
    let rt = await open(path, clock);
    // Chunk 2's import is written, and then the process stops before its answer is recorded.
    store.hold = { op: 'import', chunk: 2, after: true };
    const { id } = await rt.start('batchImport', { id: 'b-4', input: { records: 23, chunkSize: 5, source: 'erp' } });
    await until(async () => {
      const ctx = (await info(rt, id)).context as unknown as BatchContext;
      return store.callsFor('import', 2).length === 1 && ctx.validatedChunks === 2 && ctx.indexedChunks === 2;
    }, 'chunks 0 and 1 through every stage, chunk 2 held');
    const midway = await info(rt, id);
    expect(midway).toMatchObject({
      status: 'running',
      value: { processing: { import: 'importing', validate: 'next', index: 'next' } },
      context: { chunk: 2, processed: 10, validatedChunks: 2, indexedChunks: 2, invalid: 1, indexed: 9 },
    });
    // Progress by the checkpoints: 10 records imported, 10 validated, 10 indexed, of 3·23.
    expect((await firstValueFrom(rt.progress$(id))).percent).toBeCloseTo((100 * 30) / 69);
    const before = await rt.history(id);
    await rt.close();
    expect(store.records[11]).toMatchObject({ status: 'staged', writes: 1 }); // the held chunk was written

    store.release(); // the next process's calls are not held
    clock = simulatedClock(T0 + 60_000);
    rt = await open(path, clock);
    const done = await runToEnd(rt, clock, id);
    expect(done).toMatchObject({ status: 'completed', value: 'imported' });
    expect(await rt.wait(id)).toEqual({ records: 23, chunks: 5, invalid: 3, indexed: 20 });

    // Chunks 0 and 1 were recorded before the close: never called again. Chunk 2 was in flight:
    // called again with the same key, and the store answered with the first result.
    expect(callsPerChunk(5)).toEqual({ import: [1, 1, 2, 1, 1], validate: [1, 1, 1, 1, 1], index: [1, 1, 1, 1, 1] });
    const chunk2 = store.callsFor('import', 2);
    expect(chunk2.map((c) => [c.key, c.outcome])).toEqual([
      [chunk2[0]!.key, 'pending'],
      [chunk2[0]!.key, 'replayed'],
    ]);
    expect(Object.values(store.records).every((r) => r.writes === 1)).toBe(true);
    expect(Object.keys(store.records)).toHaveLength(23);
    // The history goes on from where the first process stopped: the same entries, then the rest
    // (from the second process's time), its seqs contiguous.
    const history = await rt.history(id);
    expect(history.slice(0, before.length)).toEqual(before);
    expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i));
    expect(history.slice(before.length).every((h) => h.at.getTime() >= T0 + 60_000)).toBe(true);
    expect(history.length - before.length).toBeGreaterThanOrEqual(3 * 3); // chunks 2-4, three stages each
  });

  it('a store outage is retried by the chunk policy, in simulated time; the import goes on', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    store.unavailable.validate = 2;
    const { id } = await rt.start('batchImport', { id: 'b-5', input: { records: 10, chunkSize: 5 } });
    const done = await runToEnd(rt, clock, id);
    expect(await rt.wait(id)).toEqual({ records: 10, chunks: 2, invalid: 1, indexed: 9 });
    expect(store.callsFor('validate', 0).map((c) => [c.attempt, c.outcome])).toEqual([
      [1, 'retryable'],
      [2, 'retryable'],
      [3, 'ok'],
    ]);
    expect(new Set(store.callsFor('validate', 0).map((c) => c.key)).size).toBe(1);
    expect(done.effects.find((e) => e.key === store.callsFor('validate', 0)[0]!.key)).toMatchObject({ status: 'done', attempts: 3 });
    // Two backoffs: 200 ms, then 400 ms.
    const validated = (await rt.history(id)).find((h) => (h.event as { type: string }).type.includes('validate'));
    expect(validated!.at.getTime() - T0).toBe(CHUNK_RETRY.initialDelay * (1 + CHUNK_RETRY.factor));
  });

  it('a chunk that fails after its retries fails the execution; rt.retry goes on from the last committed chunk', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    store.unavailable.index = CHUNK_RETRY.attempts; // indexing chunk 0 fails at every attempt
    const { id } = await rt.start('batchImport', { id: 'b-9', input: { records: 10, chunkSize: 5 } });
    const failed = await runToEnd(rt, clock, id);
    expect(failed).toMatchObject({ status: 'failed', error: { name: 'RetryableError' } });
    expect(store.callsFor('index', 0).map((c) => c.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(failed.context).toMatchObject({ chunk: 2, validatedChunks: 2, indexedChunks: 0 });
    await expect(rt.wait(id)).rejects.toBeInstanceOf(ExecutionFailedError);

    await rt.retry(id);
    // Not rt.get after the retry: see the KNOWN BUG test below.
    expect(await rt.wait(id)).toEqual({ records: 10, chunks: 2, invalid: 1, indexed: 9 });
    // Only the failed chunk's indexing ran again (a new invocation); nothing was imported twice.
    expect(callsPerChunk(2)).toEqual({ import: [1, 1], validate: [1, 1], index: [6, 1] });
    expect(Object.values(store.records).every((r) => r.writes === 1)).toBe(true);
  });

  // rt.retry after an effect's failure reached no onError resumes from the snapshot before
  // XState's error snapshot: the retry's transition is a keyframe, so the patches after it do not
  // rest on the error snapshot in between.
  it('after rt.retry of a failed effect, the journal rebuilds the retried snapshots', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    store.unavailable.index = CHUNK_RETRY.attempts;
    const { id } = await rt.start('batchImport', { id: 'b-10', input: { records: 10, chunkSize: 5 } });
    expect(await runToEnd(rt, clock, id)).toMatchObject({ status: 'failed' });
    await rt.retry(id);
    expect(await rt.wait(id)).toEqual({ records: 10, chunks: 2, invalid: 1, indexed: 9 });
    const history = await rt.history(id);
    const retried = history.find((h) => (h.event as { type: string }).type === 'durastate.retry')!;
    // The retried execution is active again, not XState's error snapshot.
    expect(((await rt.stateAt(id, { seq: retried.seq })).snapshot as { status: string }).status).toBe('active');
    // And every transition after it can be rebuilt.
    expect((await rt.stateAt(id, { seq: history.at(-2)!.seq })).context).toMatchObject({ indexedChunks: 1 });
  });

  it('edge sizes: no records completes at once; the default chunk size applies when none is given', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id: empty } = await rt.start('batchImport', { id: 'b-6', input: { records: 0 } });
    expect(await rt.wait(empty)).toEqual({ records: 0, chunks: 0, invalid: 0, indexed: 0 });
    expect(store.calls).toEqual([]);

    const { id } = await rt.start('batchImport', { id: 'b-7', input: { records: 250 } });
    await runToEnd(rt, clock, id);
    const invalid = invalidUpTo(250).length;
    expect(await rt.wait(id)).toEqual({ records: 250, chunks: Math.ceil(250 / DEFAULT_CHUNK_SIZE), invalid, indexed: 250 - invalid });
    expect(callsPerChunk(3)).toEqual({ import: [1, 1, 1], validate: [1, 1, 1], index: [1, 1, 1] });
    expect((await info(rt, id)).context).toMatchObject({ source: 'default', chunkSize: DEFAULT_CHUNK_SIZE });
  });

  it('bad input fails the execution at its start, with the reason; nothing is called', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('batchImport', { id: 'b-8', input: { records: 10, chunkSize: 0 } });
    const failed = await info(rt, id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ name: 'RangeError', message: 'chunkSize must be a whole number ≥ 1, not 0' });
    await expect(rt.wait(id)).rejects.toBeInstanceOf(ExecutionFailedError);
    expect(store.calls).toEqual([]);
  });

  it('batchProgress: the share of the 3·N record-steps done', () => {
    const base: BatchContext = { source: 's', records: 23, chunkSize: 5, chunks: 5, chunk: 0, processed: 0, validatedChunks: 0, invalid: 0, indexedChunks: 0, indexed: 0 };
    expect(batchProgress(base)).toBe(0);
    expect(batchProgress({ ...base, chunk: 2, processed: 10, validatedChunks: 1 })).toBeCloseTo((100 * 15) / 69);
    expect(batchProgress({ ...base, chunk: 5, processed: 23, validatedChunks: 5, indexedChunks: 5 })).toBe(100);
    expect(batchProgress({ ...base, records: 0, chunks: 0 })).toBe(0);
  });
});
