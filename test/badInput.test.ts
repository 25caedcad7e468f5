import { afterEach, describe, expect, it } from 'vitest';
import { assign, createMachine, fromCallback, fromPromise, sendTo, setup, spawnChild, type AnyStateMachine } from 'xstate';
import {
  createRuntime,
  DurastateError,
  EventNotAcceptedError,
  ExecutionBlockedError,
  ExecutionExistsError,
  ExecutionFailedError,
  ExecutionFinishedError,
  ExecutionNotFoundError,
  InvalidArgumentError,
  InvalidEventError,
  InvalidMachineError,
  lmdbStore,
  MachineNotFoundError,
  NonJsonStateError,
  type Runtime,
} from '../src/index.js';
import { stepsMachine } from './fixtures/machines.js';
import { tempDir } from './helpers.js';

/** Each test: the error class and code, and that the store still holds the last good state. */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(machines: AnyStateMachine[] = [stepsMachine, datesMachine], path?: string): Promise<{ rt: Runtime; path: string }> {
  let dir = path;
  if (!dir) {
    const t = tempDir();
    cleanups.push(t.remove);
    dir = t.path;
  }
  const rt = await createRuntime({ store: lmdbStore({ path: dir }), machines });
  cleanups.push(() => rt.close());
  return { rt, path: dir };
}

async function expectCode(p: Promise<unknown>, cls: new (...a: never[]) => DurastateError, code: string): Promise<DurastateError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(cls);
  expect(err).toBeInstanceOf(DurastateError);
  expect((err as DurastateError).code).toBe(code);
  return err as DurastateError;
}

const datesMachine = setup({
  types: { context: {} as { order: { id: string; createdAt?: unknown }; n: number } },
}).createMachine({
  id: 'dates',
  context: { order: { id: 'o-1' }, n: 0 },
  initial: 'open',
  states: {
    open: {
      on: {
        BUMP: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        STAMP: { actions: assign({ order: ({ context }) => ({ ...context.order, createdAt: new Date(0) }) }) },
        MAP: { actions: assign({ order: ({ context }) => ({ ...context.order, createdAt: new Map() }) }) },
        MUTATE: {
          actions: assign({
            order: ({ context }) => {
              // In-place mutation instead of a new object: forbidden (invisible to the diff).
              (context.order as { id: string }).id = 'changed';
              return context.order;
            },
          }),
        },
      },
    },
  },
});

describe('bad input gets a typed error and loses nothing', () => {
  it('unknown machine id', async () => {
    const { rt } = await open();
    const err = await expectCode(rt.start('nope'), MachineNotFoundError, 'MACHINE_NOT_FOUND');
    expect(err.message).toContain('"nope"');
    expect(err.message).toContain('steps');
    expect((await rt.stats()).total).toBe(0);
  });

  it('an inline invoked child is rejected at registration, naming the state and the child', async () => {
    const inline = createMachine({
      id: 'inlineInvoke',
      initial: 'a',
      states: { a: { invoke: { id: 'fetcher', src: fromPromise(async () => 1) } } },
    });
    const dir = tempDir();
    cleanups.push(dir.remove);
    const err = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [inline] }).then(
      (rt) => rt.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidMachineError);
    expect((err as InvalidMachineError).code).toBe('INVALID_MACHINE');
    expect((err as Error).message).toContain('inlineInvoke.a');
    expect((err as Error).message).toContain('fetcher');
  });

  it('an inline spawned child is rejected at registration', async () => {
    const spawning = createMachine({
      id: 'inlineSpawn',
      initial: 'a',
      states: { a: { entry: spawnChild(fromPromise(async () => 1), { id: 'worker' }) } },
    });
    const dir = tempDir();
    cleanups.push(dir.remove);
    const err = await createRuntime({ store: lmdbStore({ path: dir.path }), machines: [spawning] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidMachineError);
    expect((err as Error).message).toContain('inlineSpawn.a');
    expect((err as Error).message).toContain('worker');
  });

  it('context that is not JSON: the send fails naming the path, the execution stays at its last commit', async () => {
    const { rt } = await open();
    const { id } = await rt.start('dates');
    await rt.send(id, { type: 'BUMP' });
    const before = await rt.get(id);
    const err = await expectCode(rt.send(id, { type: 'STAMP' }), NonJsonStateError, 'NON_JSON_STATE');
    expect(err.message).toContain('context.order.createdAt is a Date');
    expect((err as NonJsonStateError).path).toBe('context.order.createdAt');
    await expectCode(rt.send(id, { type: 'MAP' }), NonJsonStateError, 'NON_JSON_STATE');
    const after = await rt.get(id);
    expect(after?.seq).toBe(before?.seq);
    expect(after?.context).toEqual({ order: { id: 'o-1' }, n: 1 });
    expect((await rt.history(id)).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init', 'BUMP']);
    // The live actor was put back too: the next good event continues from the committed state.
    await rt.send(id, { type: 'BUMP' });
    expect((await rt.get(id))?.context).toEqual({ order: { id: 'o-1' }, n: 2 });
  });

  it('a send whose later synchronous transition cannot be committed changes nothing, not even its first transition', async () => {
    // E moves on and tells a callback child, which answers at once with BAD; BAD's transition
    // puts a Date into context. The send is refused as a whole: E is not committed either.
    const echo = setup({
      types: { context: {} as { n: number; at?: unknown } },
      actors: {
        echo: fromCallback(({ sendBack, receive }) => {
          receive(() => sendBack({ type: 'BAD' }));
        }),
      },
    }).createMachine({
      id: 'echo',
      context: { n: 0 },
      invoke: { id: 'child', src: 'echo' },
      on: {
        E: { actions: [assign({ n: ({ context }) => context.n + 1 }), sendTo('child', { type: 'PING' })] },
        BAD: { actions: assign({ at: () => new Date(0) }) },
      },
    });
    const { rt, path } = await open([echo]);
    const { id } = await rt.start('echo');
    await expectCode(rt.send(id, { type: 'E' }), NonJsonStateError, 'NON_JSON_STATE');
    // Closing waits for every write issued; reopened, the store shows what was committed.
    await rt.close();
    const reopened = await open([echo], path);
    expect((await reopened.rt.get(id))?.context).toEqual({ n: 0 });
    expect((await reopened.rt.history(id)).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init']);
  });

  it('an in-place mutation of context is refused instead of silently lost', async () => {
    const { rt } = await open();
    const { id } = await rt.start('dates');
    // Mutating frozen context throws inside the action: the actor crashes, and the supervisor's
    // restarts hit the same mutation until it gives up; the failure is recorded with the last
    // good context (nothing half-applied), and the send that caused it is refused.
    await expectCode(rt.send(id, { type: 'MUTATE' }), ExecutionFailedError, 'EXECUTION_FAILED');
    const info = await rt.get(id);
    expect(info?.status).toBe('failed');
    expect(info?.error?.message).toMatch(/read.only|not extensible|Cannot assign/);
    expect(info?.context).toEqual({ order: { id: 'o-1' }, n: 0 });
  });

  it('an in-place mutation of context is refused after a recovery too (the restored context is frozen)', async () => {
    const first = await open();
    const { id } = await first.rt.start('dates');
    await first.rt.close();
    const { rt } = await open(undefined, first.path);
    await expectCode(rt.send(id, { type: 'MUTATE' }), ExecutionFailedError, 'EXECUTION_FAILED');
    const info = await rt.get(id);
    expect(info?.status).toBe('failed');
    expect(info?.context).toEqual({ order: { id: 'o-1' }, n: 0 });
  });

  it('non-JSON input is refused at start, and nothing is stored', async () => {
    const { rt } = await open();
    const err = await expectCode(rt.start('steps', { input: { total: 3, when: new Date() } }), NonJsonStateError, 'NON_JSON_STATE');
    expect(err.message).toContain('input.when is a Date');
    expect((await rt.stats()).total).toBe(0);
  });

  it('events that are not an object with a string type, or carry non-JSON data', async () => {
    const { rt } = await open();
    const { id } = await rt.start('steps', { input: { total: 3 } });
    for (const bad of [null, 'STEP', 42, [], {}, { type: 7 }, { type: '' }, { type: 'xstate.init' }]) {
      await expectCode(rt.send(id, bad as never), InvalidEventError, 'INVALID_EVENT');
    }
    const err = await expectCode(rt.send(id, { type: 'STEP', n: 1, at: new Date() }), InvalidEventError, 'INVALID_EVENT');
    expect(err.message).toContain('event.at is a Date');
    const info = await rt.get(id);
    expect(info?.seq).toBe(0);
    expect(info?.context).toMatchObject({ done: 0 });
  });

  it('an event the current state does not accept', async () => {
    const { rt } = await open();
    const { id } = await rt.start('steps', { input: { total: 3 } });
    const err = await expectCode(rt.send(id, { type: 'NOPE' }), EventNotAcceptedError, 'EVENT_NOT_ACCEPTED');
    expect(err.message).toContain('"NOPE"');
    expect((await rt.get(id))?.seq).toBe(0);
    expect((await rt.get(id))?.accepts).toEqual(['STEP', 'ADD']);
  });

  it('send to an unknown execution, and to a finished one', async () => {
    const { rt } = await open();
    await expectCode(rt.send('missing', { type: 'STEP', n: 1 }), ExecutionNotFoundError, 'EXECUTION_NOT_FOUND');
    const { id } = await rt.start('steps', { input: { total: 1 } });
    await rt.send(id, { type: 'STEP', n: 1 });
    const err = await expectCode(rt.send(id, { type: 'STEP', n: 2 }), ExecutionFinishedError, 'EXECUTION_FINISHED');
    expect(err.message).toContain('completed');
    expect((await rt.get(id))?.output).toEqual({ done: 1, sum: 0, log: ['step 1 (n=1)'] });
  });

  it('starting an id that exists, and malformed ids and options', async () => {
    const { rt } = await open();
    await rt.start('steps', { id: 'same', input: { total: 5 } });
    await rt.send('same', { type: 'STEP', n: 1 });
    await expectCode(rt.start('steps', { id: 'same' }), ExecutionExistsError, 'EXECUTION_EXISTS');
    await expectCode(rt.start('steps', { id: '' }), InvalidArgumentError, 'INVALID_ARGUMENT');
    await expectCode(rt.list({ status: 'sleeping' as never }), InvalidArgumentError, 'INVALID_ARGUMENT');
    await expectCode(rt.list({ cursor: '!!not-a-cursor' }), InvalidArgumentError, 'INVALID_ARGUMENT');
    expect((await rt.get('same'))?.context).toMatchObject({ done: 1, total: 5 });
  });

  it('starting an existing id with a machine that moves on at once cannot write into the existing execution', async () => {
    // The new machine's second transition is issued in the same turn as its create: it must be
    // fenced off when the create is refused, not land in the existing execution's history.
    const eager = setup({ actors: { ping: fromCallback(({ sendBack }) => sendBack({ type: 'PONG' })) } }).createMachine({
      id: 'eager',
      initial: 'a',
      states: { a: { invoke: { src: 'ping' }, on: { PONG: 'b' } }, b: {} },
    });
    const { rt } = await open([stepsMachine, eager]);
    await rt.start('steps', { id: 'taken', input: { total: 1 } });
    await rt.send('taken', { type: 'STEP', n: 1 });
    const before = await rt.get('taken');
    await expectCode(rt.start('eager', { id: 'taken' }), ExecutionExistsError, 'EXECUTION_EXISTS');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await rt.get('taken')).toEqual(before);
    expect((await rt.history('taken')).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init', 'STEP']);
  });

  it('an id that exists in the store but not in this process is refused too', async () => {
    const first = await open();
    await first.rt.start('steps', { id: 'x', input: { total: 5 } });
    await first.rt.close();
    const second = await open(undefined, first.path);
    await expectCode(second.rt.start('steps', { id: 'x' }), ExecutionExistsError, 'EXECUTION_EXISTS');
    expect((await second.rt.get('x'))?.context).toMatchObject({ total: 5 });
  });

  it('an execution whose machine is no longer registered, or changed version, is kept, reported, and not run', async () => {
    const first = await open();
    await first.rt.start('steps', { id: 'gone', input: { total: 5 } });
    await first.rt.start('dates', { id: 'changed' });
    await first.rt.close();

    const datesV2 = setup({}).createMachine({ id: 'dates', version: '2', initial: 'open', states: { open: {} } });
    const second = await open([datesV2], first.path);
    expect((await second.rt.stats()).hosted).toBe(0);

    const gone = await second.rt.get('gone');
    expect(gone?.status).toBe('waiting');
    expect(gone?.blocked?.code).toBe('MACHINE_NOT_REGISTERED');
    expect(gone?.context).toMatchObject({ total: 5 });
    const changed = await second.rt.get('changed');
    expect(changed?.blocked?.code).toBe('MACHINE_VERSION_CHANGED');
    const listed = await second.rt.list();
    expect(listed.items.map((i) => [i.id, i.blocked?.code])).toEqual([
      ['changed', 'MACHINE_VERSION_CHANGED'],
      ['gone', 'MACHINE_NOT_REGISTERED'],
    ]);
    await expectCode(second.rt.send('gone', { type: 'STEP', n: 1 }), ExecutionBlockedError, 'EXECUTION_BLOCKED');
    await expectCode(second.rt.send('changed', { type: 'BUMP' }), ExecutionBlockedError, 'EXECUTION_BLOCKED');
    await second.rt.close();

    // Registered again, it runs again from where it was.
    const third = await open([stepsMachine], first.path);
    await third.rt.send('gone', { type: 'STEP', n: 1 });
    expect((await third.rt.get('gone'))?.context).toMatchObject({ done: 1 });
  });
});
