/**
 * A restore that changes nothing writes nothing (its persisted snapshot diffs empty against the
 * stored one); one that XState carries out differently from what was stored is a transition
 * like any other. Each test restores a store written by a process that has gone,
 * where XState's restore of the same snapshot now comes out otherwise, and checks that what is
 * stored says so, and that frozen parts stay frozen. Also: a runtime closed between two steps
 * of a recovery ends it with `RuntimeClosedError`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, createMachine, fromPromise, sendTo, setup, type AnyStateMachine } from 'xstate';
import { createRuntime, lmdbStore, NonJsonStateError, RuntimeClosedError, type Runtime, type Store } from '../src/index.js';
import { committed } from './fixtures/timerSettle.js';
import { tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open(path: string, machines: AnyStateMachine[], recover = true, store: Store = lmdbStore({ path })): Promise<Runtime> {
  const rt = await createRuntime({ store, machines, recover, passivateAfterMs: Infinity });
  cleanups.push(() => rt.close());
  return rt;
}

function storePath(): string {
  const dir = tempDir();
  cleanups.push(dir.remove);
  return dir.path;
}

/** A parent that keeps a child machine `kid` and forwards MOVE and BUMP to it. */
const parentOf = (kid: AnyStateMachine) =>
  setup({ actors: { kid } }).createMachine({
    id: 'parent',
    // The same version whatever the child: the child machine is not part of the parent's definition.
    version: '1',
    context: { n: 0 },
    invoke: { src: 'kid', id: 'kid' },
    initial: 'idle',
    states: {
      idle: {
        on: {
          MOVE: { actions: sendTo('kid', { type: 'MOVE' }) },
          BUMP: { actions: sendTo('kid', { type: 'BUMP' }) },
          INC: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        },
      },
    },
  });

describe('a restore XState carries out otherwise is recorded', () => {
  it('a child machine whose stored state no longer exists: the execution fails at recovery, as a transition to it would', async () => {
    const path = storePath();
    const before = createMachine({ id: 'kid', initial: 'a', states: { a: { on: { MOVE: 'b' } }, b: {} } });
    const after = createMachine({ id: 'kid', initial: 'a', states: { a: { on: { MOVE: 'c' } }, c: {} } });
    const first = await open(path, [parentOf(before)], false);
    const { id } = await first.start('parent');
    await first.send(id, { type: 'MOVE' });
    await first.close();

    const rt = await open(path, [parentOf(after)]);
    await committed(rt);
    // XState restores the child in status 'error' (its state 'b' is gone), with no event.
    const info = await rt.get(id);
    expect(info?.status).toBe('failed');
    expect(info?.error?.message).toMatch(/children.kid/);
    await expect(rt.send(id, { type: 'INC' })).rejects.toThrow();
  });

  it('a child dropped by XState (its logic is gone): the row says what is running now', async () => {
    const path = storePath();
    const kid = (src: string) =>
      setup({ actors: { [src]: fromPromise(() => new Promise<never>(() => {})) } }).createMachine({
        id: 'kid',
        initial: 'a',
        states: { a: { invoke: { src, id: 'job' } } },
      });
    const first = await open(path, [parentOf(kid('work'))], false);
    const { id } = await first.start('parent');
    expect((await first.get(id))?.status).toBe('running'); // its child's effect is in flight
    await first.close();

    // The child machine's effect was renamed: XState drops the grandchild it cannot find.
    const rt = await open(path, [parentOf(kid('work2'))]);
    await committed(rt);
    const info = await rt.get(id);
    expect(info).toMatchObject({ status: 'waiting', seq: 1 });
    expect((await rt.history(id)).map((h) => (h.event as { type: string }).type)).toEqual(['xstate.init', 'durastate.restore']);
  });

  it("an in-place mutation of a child machine's context is refused after a recovery, as in a fresh run", async () => {
    const path = storePath();
    const kid = createMachine({
      id: 'kid',
      context: { log: [] as string[] },
      on: {
        BUMP: {
          actions: ({ context }) => {
            context.log.push('x');
          },
        },
      },
    });
    const refusal = async (rt: Runtime, id: string): Promise<unknown> => rt.send(id, { type: 'BUMP' }).then(() => 'accepted', (err: unknown) => err);
    const kidContext = async (rt: Runtime, id: string): Promise<unknown> => {
      const state = await rt.stateAt(id, { seq: (await rt.get(id))?.seq ?? 0 });
      return (state.snapshot as { children: Record<string, { snapshot: { context: unknown } }> }).children.kid?.snapshot.context;
    };
    const first = await open(path, [parentOf(kid)], false);
    const { id: fresh } = await first.start('parent');
    // The child crashes on its frozen context: the transition is refused, nothing is written.
    const inFresh = await refusal(first, fresh);
    expect(inFresh).toBeInstanceOf(NonJsonStateError);
    expect(await kidContext(first, fresh)).toEqual({ log: [] });
    const { id } = await first.start('parent');
    await first.close();

    const rt = await open(path, [parentOf(kid)]);
    const afterRecovery = await refusal(rt, id);
    expect(afterRecovery).toBeInstanceOf(NonJsonStateError);
    expect((afterRecovery as Error).message).toBe((inFresh as Error).message);
    expect(await kidContext(rt, id)).toEqual({ log: [] });
  });
});

describe('recovery and close', () => {
  it('a runtime closed between listing a page and claiming it ends the recovery with RuntimeClosedError, claiming nothing', async () => {
    const path = storePath();
    const job = setup({ actors: { work: fromPromise(() => new Promise<never>(() => {})) } }).createMachine({
      id: 'job',
      initial: 'working',
      states: { working: { invoke: { src: 'work' } } },
    });
    const first = await open(path, [job], false);
    for (let i = 0; i < 20; i++) await first.start('job', { id: `j${i}`, detach: true });
    await first.close();

    // Closes the runtime on the turn after the first page is listed.
    const store = lmdbStore({ path });
    const list = store.list.bind(store);
    let rt: Runtime | undefined;
    let closing: Promise<void> | undefined;
    store.list = async (query) => {
      const page = await list(query);
      if (!closing && page.items.length) setImmediate(() => (closing = rt?.close()));
      return page;
    };
    rt = await open(path, [job], false, store);
    await expect(rt.recover()).rejects.toBeInstanceOf(RuntimeClosedError);
    await closing;

    const other = await open(path, [job], false);
    const page = await other.list({ limit: 100 });
    expect(page.items).toHaveLength(20);
    expect(page.items.filter((i) => i.owner === rt?.ownerId)).toEqual([]);
  });
});
