/**
 * Errors durastate throws, classified by what the caller should do about them.
 *
 * Every error the runtime raises is a {@link DurastateError} with a stable `code`, so callers
 * branch on `err.code` (or `instanceof`) instead of parsing messages. Workflow code signals
 * what a failure means with {@link TerminalError} (do not retry) and {@link RetryableError}
 * (retry, optionally after `retryAfter` ms).
 *
 * @example
 * ```ts
 * try { await rt.send(id, { type: 'APPROVE' }); }
 * catch (err) {
 *   if (err instanceof DurastateError && err.code === 'EVENT_NOT_ACCEPTED') showAllowed(err);
 *   else throw err;
 * }
 * ```
 */
export type ErrorCode =
  | 'MACHINE_NOT_FOUND'
  | 'INVALID_MACHINE'
  | 'NON_JSON_STATE'
  | 'INVALID_EVENT'
  | 'INVALID_ARGUMENT'
  | 'EXECUTION_NOT_FOUND'
  | 'INVALID_UPDATE'
  | 'HAS_FORKS'
  | 'EXECUTION_EXISTS'
  | 'EXECUTION_FINISHED'
  | 'EXECUTION_LOCKED'
  | 'EXECUTION_BLOCKED'
  | 'EXECUTION_FAILED'
  | 'EXECUTION_CANCELLED'
  | 'EVENT_NOT_ACCEPTED'
  | 'SCHEMA_VERSION'
  | 'RUNTIME_CLOSED'
  | 'STORE_FAILURE'
  | 'STORE_BUSY'
  | 'SEND_TIMEOUT'
  | 'TERMINAL'
  | 'RETRYABLE';

/** Base class of every error durastate raises. */
export class DurastateError extends Error {
  override readonly name: string = 'DurastateError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** `start` named a machine id that is not registered with this runtime. */
export class MachineNotFoundError extends DurastateError {
  override readonly name = 'MachineNotFoundError';
  constructor(readonly machineId: string, registered: readonly string[]) {
    super(
      'MACHINE_NOT_FOUND',
      `No machine "${machineId}" is registered (registered: ${registered.join(', ') || 'none'})`,
    );
  }
}

/** A machine cannot run durably (for example an inline child actor); raised at registration. */
export class InvalidMachineError extends DurastateError {
  override readonly name = 'InvalidMachineError';
  constructor(readonly machineId: string, message: string) {
    super('INVALID_MACHINE', `Machine "${machineId}": ${message}`);
  }
}

/**
 * A transition produced state that is not JSON data (a Date, a Map, a class instance, a function,
 * undefined in an array, a non-finite number). Nothing was committed: the execution is still at
 * its last committed snapshot. `path` names the offending value, e.g. `context.order.createdAt`.
 */
export class NonJsonStateError extends DurastateError {
  override readonly name = 'NonJsonStateError';
  constructor(readonly path: string, readonly what: string) {
    super('NON_JSON_STATE', `${path} is ${what}; context must be JSON data (use assign with plain objects, arrays, strings, finite numbers, booleans, null)`);
  }
}

/** An event is not an object with a string `type`, or carries non-JSON data. */
export class InvalidEventError extends DurastateError {
  override readonly name = 'InvalidEventError';
  constructor(message: string) {
    super('INVALID_EVENT', message);
  }
}

/** An argument of an API call is malformed (bad id, bad option). */
export class InvalidArgumentError extends DurastateError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

export class ExecutionNotFoundError extends DurastateError {
  override readonly name = 'ExecutionNotFoundError';
  constructor(readonly executionId: string, message?: string) {
    super('EXECUTION_NOT_FOUND', message ?? `No execution "${executionId}"`);
  }
}

/**
 * A fork's `update` does not give a state the machine can continue from (not JSON, not a state
 * of the machine, or XState refused it). Nothing was written.
 */
export class InvalidUpdateError extends DurastateError {
  override readonly name = 'InvalidUpdateError';
  constructor(readonly executionId: string, readonly reason: string, options?: { cause?: unknown }) {
    super('INVALID_UPDATE', `Cannot fork "${executionId}": ${reason}`, options);
  }
}

/**
 * Deleting an execution whose forks still read their history from it. Delete them too
 * (`forks: 'delete'`) or let them copy the history they share first (`forks: 'materialise'`).
 */
export class ExecutionHasForksError extends DurastateError {
  override readonly name = 'ExecutionHasForksError';
  constructor(readonly executionId: string, readonly forks: readonly string[]) {
    super(
      'HAS_FORKS',
      `Execution "${executionId}" has ${forks.length} fork${forks.length === 1 ? '' : 's'} (${forks.slice(0, 5).join(', ')}${forks.length > 5 ? ', …' : ''}) that read their history from it; pass { forks: 'delete' } or { forks: 'materialise' }`,
    );
  }
}

export class ExecutionExistsError extends DurastateError {
  override readonly name = 'ExecutionExistsError';
  constructor(readonly executionId: string) {
    super('EXECUTION_EXISTS', `An execution "${executionId}" already exists`);
  }
}

/** The execution has completed, failed or been cancelled and accepts no more events. */
export class ExecutionFinishedError extends DurastateError {
  override readonly name = 'ExecutionFinishedError';
  constructor(readonly executionId: string, readonly status: string) {
    super('EXECUTION_FINISHED', `Execution "${executionId}" is ${status} and accepts no events`);
  }
}

/** Another live process owns the execution (its lease is valid). */
export class ExecutionLockedError extends DurastateError {
  override readonly name = 'ExecutionLockedError';
  constructor(
    readonly executionId: string,
    readonly owner: { id: string; pid: number; host: string; leaseUntil: number },
  ) {
    super(
      'EXECUTION_LOCKED',
      `Execution "${executionId}" is run by another process (owner ${owner.id}, pid ${owner.pid} on ${owner.host}, lease until ${new Date(owner.leaseUntil).toISOString()})`,
    );
  }
}

/** The error for a write refused because `ownerId` holds the execution; `owner` is its record, when it still has one. */
export function lockedBy(executionId: string, ownerId: string | undefined, owner?: { id: string; pid: number; host: string; leaseUntil: number }): ExecutionLockedError {
  return new ExecutionLockedError(executionId, owner ?? { id: ownerId ?? 'none', pid: 0, host: 'unknown', leaseUntil: 0 });
}

/**
 * The execution is kept in the store but cannot run here: its machine is not registered, or
 * the registered machine has another version than the one that started it.
 */
export class ExecutionBlockedError extends DurastateError {
  override readonly name = 'ExecutionBlockedError';
  constructor(readonly executionId: string, readonly reason: string) {
    super('EXECUTION_BLOCKED', `Execution "${executionId}" cannot run: ${reason}`);
  }
}

/** What `wait` rejects with when an execution failed; `record` is the error as recorded. */
export class ExecutionFailedError extends DurastateError {
  override readonly name = 'ExecutionFailedError';
  constructor(readonly executionId: string, readonly record: ErrorRecord) {
    super('EXECUTION_FAILED', `Execution "${executionId}" failed: ${record.name}: ${record.message}`);
  }
}

export class ExecutionCancelledError extends DurastateError {
  override readonly name = 'ExecutionCancelledError';
  constructor(readonly executionId: string, readonly reason?: string) {
    super('EXECUTION_CANCELLED', `Execution "${executionId}" was cancelled${reason ? `: ${reason}` : ''}`);
  }
}

export class EventNotAcceptedError extends DurastateError {
  override readonly name = 'EventNotAcceptedError';
  constructor(readonly executionId: string, readonly eventType: string, readonly state: unknown) {
    super(
      'EVENT_NOT_ACCEPTED',
      `Execution "${executionId}" does not accept "${eventType}" in state ${JSON.stringify(state)}`,
    );
  }
}

/** The store was written by a newer durastate whose layout this version cannot read. */
export class SchemaVersionError extends DurastateError {
  override readonly name = 'SchemaVersionError';
  constructor(readonly found: number, readonly supported: number) {
    super('SCHEMA_VERSION', `The store has schema version ${found}; this durastate reads up to ${supported}. Upgrade durastate.`);
  }
}

export class RuntimeClosedError extends DurastateError {
  override readonly name = 'RuntimeClosedError';
  constructor() {
    super('RUNTIME_CLOSED', 'The runtime is closed');
  }
}

/**
 * The owner of an execution run by another process did not apply a sent event in time. The
 * event stays in its inbox and may still be applied: resend with the same key to find out.
 */
export class SendTimeoutError extends DurastateError {
  override readonly name = 'SendTimeoutError';
  constructor(readonly executionId: string, readonly timeoutMs: number) {
    super('SEND_TIMEOUT', `Execution "${executionId}": its owner did not apply the event within ${timeoutMs} ms (it stays in the inbox)`);
  }
}

/** A write to the store failed; the transition it carried is not committed. */
export class StoreFailureError extends DurastateError {
  override readonly name = 'StoreFailureError';
  constructor(message: string, cause: unknown) {
    super('STORE_FAILURE', message, { cause });
  }
}

/**
 * An LMDB store could not be opened in time: another process is opening it, or has it open and
 * did not hold back its writes (see `lmdbStore`, "Opening a store another process writes").
 * Retry once that process is done, or stop it.
 */
export class StoreBusyError extends DurastateError {
  override readonly name = 'StoreBusyError';
  constructor(readonly path: string, readonly pid: number | undefined, reason: string) {
    super('STORE_BUSY', `The store in ${path} could not be opened: ${reason}`);
  }
}

/** Thrown by workflow code: this failure is final, do not retry. */
export class TerminalError extends DurastateError {
  override readonly name = 'TerminalError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TERMINAL', message, options);
  }
}

/** Thrown by workflow code: this failure is transient; retry, after `retryAfter` ms if given. */
export class RetryableError extends DurastateError {
  override readonly name = 'RetryableError';
  readonly retryAfter: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfter?: number }) {
    super('RETRYABLE', message, options);
    this.retryAfter = options?.retryAfter;
  }
}

/** An error as it is recorded in the store: JSON data, not an Error instance. */
export interface ErrorRecord {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  /** For a crash: the state it happened in, the event being processed, the attempts made. */
  state?: unknown;
  event?: string;
  attempts?: number;
}

/**
 * Normalises anything thrown into an `Error`, so that callers can rely on `message` and `name`.
 *
 * @example
 * ```ts
 * catch (thrown) { const err = ensureError(thrown); log(err.message); }
 * ```
 */
export function ensureError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'object' && thrown !== null && 'message' in thrown) {
    const err = new Error(String((thrown as { message: unknown }).message));
    if ('name' in thrown) err.name = String((thrown as { name: unknown }).name);
    return err;
  }
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown) ?? String(thrown));
}

/** Turns anything thrown into the JSON record kept in the store. */
export function toErrorRecord(thrown: unknown): ErrorRecord {
  const err = ensureError(thrown);
  const record: ErrorRecord = { name: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') record.code = code;
  if (err.stack) record.stack = err.stack;
  return record;
}
