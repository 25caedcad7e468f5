import { assign, setup } from 'xstate';
import { fromEffect, RetryableError, TerminalError, withRetry, type EffectArgs, type RetryPolicy } from '../src/index.js';

/**
 * Batch import: `records` records (numbered 1..N) from `source` go into a store in chunks of
 * `chunkSize`, each chunk imported, then validated, then indexed, by three durable effects.
 *
 * The work runs as a pipeline in one parallel state, `processing`, with a region per stage:
 *
 * - `import` imports chunk after chunk (`importChunk`).
 * - `validate` validates each chunk once it is imported (`validateChunk`): a record is invalid
 *   when {@link isInvalidRecord} says so (deterministic from its number); the store marks it,
 *   and the count goes into the context. Invalid records are counted, not fatal.
 * - `index` indexes the valid records of each chunk once it is validated (`indexChunk`).
 *
 * The regions share the context: each one's cursor (`chunk` and `processed` for the import,
 * `validatedChunks`, `indexedChunks`) is the checkpoint, committed with the transition that
 * records its chunk's result. A region waits (in its `next` state) until the region before it is
 * ahead, so while chunk 3 is imported, chunk 2 is validated and chunk 1 indexed. When all three
 * regions are `done`, the import ends in `imported` with output
 * `{ records, chunks, invalid, indexed }`.
 *
 * Recovery: after a crash the execution resumes from its last committed snapshot, so each region
 * continues from its last committed chunk. A chunk whose result was recorded is never processed
 * again; one that was in flight runs again with the same idempotency `key`, which the store
 * deduplicates on (it answers a repeated key with the first result).
 *
 * Progress: `processing` says `meta.progress` = the share of the 3·N record-steps done
 * ({@link batchProgress}), so `rt.progress$(id)` moves smoothly from 0 to 100, a little after
 * every committed chunk of any stage.
 *
 * Failures: a transient one (`RetryableError`) is retried by {@link CHUNK_RETRY}. A chunk effect
 * that still fails after its retries is not handled: the execution fails, with the error
 * recorded (`rt.retry(id)` goes on from the last committed chunk). Bad input (`records` not a
 * whole number ≥ 0, `chunkSize` not one ≥ 1) fails the execution at its start with a
 * `RangeError`.
 *
 * The store (`simulatedRecordStore`) is a deterministic, in-memory SIMULATION with a little
 * latency: no network.
 *
 * States: `processing` (parallel: `import` { `next`, `importing`, `done` }, `validate` { `next`,
 * `validating`, `done` }, `index` { `next`, `indexing`, `done` }) → `imported` (final). No
 * external events.
 *
 * @example
 * ```ts
 * const rt = await createRuntime({ machines: [batchImportMachine] });
 * const { id } = await rt.start('batchImport', { input: { records: 23, chunkSize: 5, source: 'crm.csv' } });
 * rt.progress$(id).subscribe((p) => console.log(`${p.percent.toFixed(0)}%`));
 * await rt.wait(id); // { records: 23, chunks: 5, invalid: 3, indexed: 20 }
 * ```
 */

/** Chunk size when the input names none. */
export const DEFAULT_CHUNK_SIZE = 100;

/** Retry policy of the chunk effects (no jitter, so that tests know when a retry falls due). */
export const CHUNK_RETRY = { attempts: 5, initialDelay: 200, factor: 2, maxDelay: 5_000, jitter: 0 } as const satisfies RetryPolicy;

/** Whether record `n` (1-based) is invalid: every seventh record is. */
export function isInvalidRecord(n: number): boolean {
  return n % 7 === 0;
}

export interface BatchInput {
  /** How many records (N), numbered 1..N. */
  records: number;
  /** Records per chunk; {@link DEFAULT_CHUNK_SIZE} when left out. */
  chunkSize?: number;
  /** Where the records come from; `'default'` when left out. */
  source?: string;
}

export interface BatchContext {
  source: string;
  records: number;
  chunkSize: number;
  chunks: number;
  /** Import checkpoint: the next chunk to import (= chunks imported). */
  chunk: number;
  /** Import checkpoint: records imported. */
  processed: number;
  /** Validation checkpoint: chunks validated. */
  validatedChunks: number;
  /** Invalid records found so far. */
  invalid: number;
  /** Indexing checkpoint: chunks indexed. */
  indexedChunks: number;
  /** Records indexed so far (the valid ones). */
  indexed: number;
}

export interface BatchOutput {
  records: number;
  chunks: number;
  invalid: number;
  indexed: number;
}

/** What a chunk effect is given: the chunk and its records `from`..`to` (inclusive, 1-based). */
export interface ChunkInput {
  source: string;
  chunk: number;
  from: number;
  to: number;
}

/** Records in the first `chunks` chunks. */
function recordsIn(context: BatchContext, chunks: number): number {
  return Math.min(chunks * context.chunkSize, context.records);
}

/**
 * 0–100: the share of the import's 3·N record-steps (import, validation, indexing of each
 * record) done, by the committed checkpoints. 0 for an empty import until it completes.
 */
export function batchProgress(context: BatchContext): number {
  if (context.records === 0) return 0;
  const done = context.processed + recordsIn(context, context.validatedChunks) + recordsIn(context, context.indexedChunks);
  return (100 * done) / (3 * context.records);
}

function chunkInput(context: BatchContext, chunk: number): ChunkInput {
  return { source: context.source, chunk, from: chunk * context.chunkSize + 1, to: recordsIn(context, chunk + 1) };
}

export type ChunkOp = 'import' | 'validate' | 'index';

/** One call to the simulated store, as it was made. */
export interface ChunkCall {
  op: ChunkOp;
  chunk: number;
  /** The durable effect's idempotency key. */
  key: string;
  attempt: number;
  /** `ok` (done now), `replayed` (a repeated key: the first result again), `retryable` / `terminal` (it threw), `pending` (no answer yet, or aborted). */
  outcome: 'ok' | 'replayed' | 'retryable' | 'terminal' | 'pending';
}

export interface StoredRecord {
  n: number;
  source: string;
  status: 'staged' | 'valid' | 'invalid';
  indexed: boolean;
  /** Times the record was written by an import: 1, unless a chunk was imported twice. */
  writes: number;
}

export interface ImportResult {
  chunk: number;
  imported: number;
}
export interface ValidateResult {
  chunk: number;
  checked: number;
  invalid: number;
}
export interface IndexResult {
  chunk: number;
  indexed: number;
}

function newStoreState() {
  return {
    /** The records stored, by number. */
    records: {} as Record<number, StoredRecord>,
    /** Every call, in call order. */
    calls: [] as ChunkCall[],
    /** Results by `op:key`, so that a repeated key gets the first result. */
    results: {} as Record<string, ImportResult | ValidateResult | IndexResult>,
    /** Knob: each call takes this long (real time), in ms. */
    latencyMs: 1,
    /**
     * Knob: calls for this chunk and operation wait until `release()` or until the effect is
     * aborted (a process stopping meanwhile): before doing anything, or with `after`, once the
     * work is done and before answering (the answer is lost if the process stops).
     */
    hold: null as { op: ChunkOp; chunk: number; after?: boolean } | null,
    /** Knob: how many of the next calls of each operation fail with a RetryableError (503). */
    unavailable: { import: 0, validate: 0, index: 0 } as Record<ChunkOp, number>,
    /** Wake-ups of the held calls (internal). */
    waiters: [] as Array<() => void>,
  };
}

function failCall(call: ChunkCall, message: string): never {
  call.outcome = 'terminal';
  throw new TerminalError(message);
}

/**
 * SIMULATED record store, in memory, deterministic, with a little (real) latency: no network.
 * Imports stage records, validation marks each valid or invalid, indexing indexes the valid
 * ones; each operation checks that the one before it was done on the chunk. Like a real store
 * that takes idempotency keys, it does a key's work once and answers a repeated key with the
 * first result. `hold` makes a chunk's call wait (for tests that stop the runtime midway),
 * `unavailable` makes calls fail transiently; `reset()` restores the defaults.
 */
export const simulatedRecordStore = {
  ...newStoreState(),

  reset(): void {
    this.release();
    Object.assign(this, newStoreState());
  },

  /** Lets held calls go on, and holds no more. */
  release(): void {
    this.hold = null;
    for (const wake of this.waiters.splice(0)) wake();
  },

  /** The calls made for a chunk's operation. */
  callsFor(op: ChunkOp, chunk: number): ChunkCall[] {
    return this.calls.filter((c) => c.op === op && c.chunk === chunk);
  },

  /** Logs the call, applies latency, holds and transient failures; the first result again for a repeated key. */
  async begin<T extends ImportResult | ValidateResult | IndexResult>(op: ChunkOp, input: ChunkInput, ctx: { key: string; attempt: number; signal: AbortSignal }): Promise<{ call: ChunkCall; earlier?: T }> {
    const call: ChunkCall = { op, chunk: input.chunk, key: ctx.key, attempt: ctx.attempt, outcome: 'pending' };
    this.calls.push(call);
    await this.pause(op, input, ctx.signal, false);
    if (this.unavailable[op] > 0) {
      this.unavailable[op]--;
      call.outcome = 'retryable';
      throw new RetryableError(`simulated record store unavailable (503) for ${op} of chunk ${input.chunk}`);
    }
    const earlier = this.results[`${op}:${ctx.key}`] as T | undefined;
    if (earlier) call.outcome = 'replayed';
    return earlier ? { call, earlier } : { call };
  },

  /** The call's latency, or its hold (`after`: the hold after the work). Rejects when the effect is aborted. */
  pause(op: ChunkOp, input: ChunkInput, signal: AbortSignal, after: boolean): Promise<void> {
    const held = this.hold !== null && this.hold.op === op && this.hold.chunk === input.chunk && (this.hold.after ?? false) === after;
    if (!held && after) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = held ? undefined : setTimeout(done, this.latencyMs);
      if (held) this.waiters.push(done);
      signal.addEventListener('abort', onAbort, { once: true });
      function done(): void {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort(): void {
        clearTimeout(timer);
        reject(signal.reason);
      }
    });
  },

  /** Records the result under the key, and answers (after the `after` hold, if any). */
  async finish<T extends ImportResult | ValidateResult | IndexResult>(op: ChunkOp, input: ChunkInput, ctx: { key: string; signal: AbortSignal }, call: ChunkCall, result: T): Promise<T> {
    this.results[`${op}:${ctx.key}`] = result;
    await this.pause(op, input, ctx.signal, true);
    call.outcome = 'ok';
    return result;
  },

  async importChunk(input: ChunkInput, ctx: { key: string; attempt: number; signal: AbortSignal }): Promise<ImportResult> {
    const { call, earlier } = await this.begin<ImportResult>('import', input, ctx);
    if (earlier) return earlier;
    for (let n = input.from; n <= input.to; n++) {
      const had = this.records[n];
      this.records[n] = { n, source: input.source, status: 'staged', indexed: false, writes: (had?.writes ?? 0) + 1 };
    }
    const result = { chunk: input.chunk, imported: input.to - input.from + 1 };
    return this.finish('import', input, ctx, call, result);
  },

  async validateChunk(input: ChunkInput, ctx: { key: string; attempt: number; signal: AbortSignal }): Promise<ValidateResult> {
    const { call, earlier } = await this.begin<ValidateResult>('validate', input, ctx);
    if (earlier) return earlier;
    let invalid = 0;
    for (let n = input.from; n <= input.to; n++) {
      const record = this.records[n];
      if (!record) failCall(call, `record ${n} of chunk ${input.chunk} is not imported`);
      record.status = isInvalidRecord(n) ? 'invalid' : 'valid';
      if (record.status === 'invalid') invalid++;
    }
    const result = { chunk: input.chunk, checked: input.to - input.from + 1, invalid };
    return this.finish('validate', input, ctx, call, result);
  },

  async indexChunk(input: ChunkInput, ctx: { key: string; attempt: number; signal: AbortSignal }): Promise<IndexResult> {
    const { call, earlier } = await this.begin<IndexResult>('index', input, ctx);
    if (earlier) return earlier;
    let indexed = 0;
    for (let n = input.from; n <= input.to; n++) {
      const record = this.records[n];
      if (!record || record.status === 'staged') failCall(call, `record ${n} of chunk ${input.chunk} is not validated`);
      if (record.status === 'valid') {
        record.indexed = true;
        indexed++;
      }
    }
    const result = { chunk: input.chunk, indexed };
    return this.finish('index', input, ctx, call, result);
  },
};

const store = simulatedRecordStore;

export const batchImportMachine = setup({
  types: {
    context: {} as BatchContext,
    input: {} as BatchInput,
    output: {} as BatchOutput,
  },
  actors: {
    importChunk: withRetry(
      fromEffect(({ input, key, attempt, signal }: EffectArgs<ChunkInput>) => store.importChunk(input, { key, attempt, signal })),
      CHUNK_RETRY,
    ),
    validateChunk: withRetry(
      fromEffect(({ input, key, attempt, signal }: EffectArgs<ChunkInput>) => store.validateChunk(input, { key, attempt, signal })),
      CHUNK_RETRY,
    ),
    indexChunk: withRetry(
      fromEffect(({ input, key, attempt, signal }: EffectArgs<ChunkInput>) => store.indexChunk(input, { key, attempt, signal })),
      CHUNK_RETRY,
    ),
  },
  guards: {
    allImported: ({ context }) => context.chunk >= context.chunks,
    allValidated: ({ context }) => context.validatedChunks >= context.chunks,
    importedAhead: ({ context }) => context.validatedChunks < context.chunk,
    allIndexed: ({ context }) => context.indexedChunks >= context.chunks,
    validatedAhead: ({ context }) => context.indexedChunks < context.validatedChunks,
  },
}).createMachine({
  id: 'batchImport',
  context: ({ input }) => {
    const chunkSize = input.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isSafeInteger(input.records) || input.records < 0) throw new RangeError(`records must be a whole number ≥ 0, not ${input.records}`);
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a whole number ≥ 1, not ${chunkSize}`);
    return {
      source: input.source ?? 'default',
      records: input.records,
      chunkSize,
      chunks: Math.ceil(input.records / chunkSize),
      chunk: 0,
      processed: 0,
      validatedChunks: 0,
      invalid: 0,
      indexedChunks: 0,
      indexed: 0,
    };
  },
  initial: 'processing',
  states: {
    processing: {
      type: 'parallel',
      meta: { progress: (context: BatchContext) => batchProgress(context) },
      states: {
        import: {
          initial: 'next',
          states: {
            next: { always: [{ guard: 'allImported', target: 'done' }, { target: 'importing' }] },
            importing: {
              invoke: {
                src: 'importChunk',
                input: ({ context }) => chunkInput(context, context.chunk),
                onDone: {
                  target: 'next',
                  actions: assign({
                    chunk: ({ context }) => context.chunk + 1,
                    processed: ({ context, event }) => context.processed + event.output.imported,
                  }),
                },
              },
            },
            done: { type: 'final' },
          },
        },
        validate: {
          initial: 'next',
          states: {
            // Waits here until the import is ahead.
            next: { always: [{ guard: 'allValidated', target: 'done' }, { guard: 'importedAhead', target: 'validating' }] },
            validating: {
              invoke: {
                src: 'validateChunk',
                input: ({ context }) => chunkInput(context, context.validatedChunks),
                onDone: {
                  target: 'next',
                  actions: assign({
                    validatedChunks: ({ context }) => context.validatedChunks + 1,
                    invalid: ({ context, event }) => context.invalid + event.output.invalid,
                  }),
                },
              },
            },
            done: { type: 'final' },
          },
        },
        index: {
          initial: 'next',
          states: {
            // Waits here until the validation is ahead.
            next: { always: [{ guard: 'allIndexed', target: 'done' }, { guard: 'validatedAhead', target: 'indexing' }] },
            indexing: {
              invoke: {
                src: 'indexChunk',
                input: ({ context }) => chunkInput(context, context.indexedChunks),
                onDone: {
                  target: 'next',
                  actions: assign({
                    indexedChunks: ({ context }) => context.indexedChunks + 1,
                    indexed: ({ context, event }) => context.indexed + event.output.indexed,
                  }),
                },
              },
            },
            done: { type: 'final' },
          },
        },
      },
      onDone: 'imported',
    },
    imported: { type: 'final' },
  },
  output: ({ context }) => ({ records: context.records, chunks: context.chunks, invalid: context.invalid, indexed: context.indexed }),
});
