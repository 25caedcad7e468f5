/**
 * The human-approval example (machines/humanApproval.ts) on a real LMDB store and a simulated
 * clock: days pass in milliseconds. Each path checks what the execution accepts at every step
 * (`rt.get(id).accepts`, what a UI would offer), its pending timers, the notifications the
 * simulated service delivered and when (simulated time), and the output.
 */
import { describe, expect, it } from 'vitest';
import { EventNotAcceptedError, simulatedClock, type ExecutionInfo, type Runtime, type SimulatedClock } from '../src/index.js';
import { DEADLINE_MS, humanApprovalMachine, MAX_REMINDERS, REMINDER_MS, simulatedNotifier } from '../machines/index.js';
import { committed } from './fixtures/timerSettle.js';
import { exampleHarness, info, until } from './fixtures/exampleHarness.js';

const T0 = Date.UTC(2026, 0, 5, 9); // a Monday, 09:00 UTC
const HOUR = 3600_000;
const DAY = 24 * HOUR;

const input = { request: 'PO-1042: 12 laptops', requester: 'dana', approver: 'alice', manager: 'mo' };

const { storePath, open } = exampleHarness({
  prefix: 'durastate-approval-',
  machines: [humanApprovalMachine],
  reset: () => simulatedNotifier.reset(),
  useClock: (clock) => (simulatedNotifier.now = () => clock.now()),
});

/**
 * Moves the clock to `at`, then waits (real time, polling; a bail-out, not a measurement) until
 * what the fired timers caused is committed and no effect is in flight.
 */
async function advanceTo(rt: Runtime, clock: SimulatedClock, id: string, at: number): Promise<ExecutionInfo> {
  await clock.advanceTo(at);
  const deadline = Date.now() + 10_000;
  for (;;) {
    await committed(rt);
    const now = await info(rt, id);
    if (now.status !== 'running') return now;
    if (Date.now() > deadline) throw new Error(`${id} still running: ${JSON.stringify(now)}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** The pending timers as [event type, due time], earliest first. */
function timers(i: ExecutionInfo): Array<[string, number]> {
  return i.timers.map((t) => [(t.event as { type: string }).type, t.dueAt.getTime()]);
}

const REMINDER_EVENT = 'xstate.after.REMINDER_MS.humanApproval.awaitingDecision.waiting';
const DEADLINE_EVENT = 'xstate.after.DEADLINE_MS.humanApproval.awaitingDecision';

describe('human approval (machines/humanApproval.ts)', () => {
  it('names its delays: a reminder a day, escalation after three days, at most two reminders', () => {
    const delays = humanApprovalMachine.implementations.delays as Record<string, unknown>;
    expect(delays.REMINDER_MS).toBe(REMINDER_MS);
    expect(delays.DEADLINE_MS).toBe(DEADLINE_MS);
    expect([REMINDER_MS, DEADLINE_MS, MAX_REMINDERS]).toEqual([DAY, 3 * DAY, 2]);
  });

  it('approve path: waits with APPROVE/REJECT on offer, approval ends it with the decision and cancels its timers', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('humanApproval', { id: 'po-1042', input });
    const waiting = await info(rt, id);
    expect(waiting).toMatchObject({ status: 'waiting', value: { awaitingDecision: 'waiting' } });
    expect(waiting.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    expect(timers(waiting)).toEqual([
      [REMINDER_EVENT, T0 + REMINDER_MS],
      [DEADLINE_EVENT, T0 + DEADLINE_MS],
    ]);

    await advanceTo(rt, clock, id, T0 + 2 * HOUR);
    await rt.send(id, { type: 'APPROVE', by: 'alice', comment: 'within budget' });
    expect(await rt.wait(id)).toEqual({
      request: input.request,
      decision: 'approved',
      decidedBy: 'alice',
      escalated: false,
      reminders: 0,
      note: 'within budget',
    });
    const done = await info(rt, id);
    expect(done).toMatchObject({ status: 'completed', value: 'approved', accepts: [], timers: [] });
    expect(await rt.store.dueTimers(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    // The timers are gone for good: days later nothing is sent.
    await advanceTo(rt, clock, id, T0 + 10 * DAY);
    expect(simulatedNotifier.outbox).toEqual([]);
    expect((await rt.history(id)).map((h) => [(h.event as { type: string }).type, h.at.getTime()])).toEqual([
      ['xstate.init', T0],
      ['APPROVE', T0 + 2 * HOUR],
    ]);
  });

  it('reject path: a rejection with a reason ends it rejected; events are no longer accepted', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('humanApproval', { id: 'po-1043', input });
    await advanceTo(rt, clock, id, T0 + 5 * HOUR);
    expect((await info(rt, id)).accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    await rt.send(id, { type: 'REJECT', by: 'alice', reason: 'use the refurbished stock' });
    expect(await rt.wait(id)).toEqual({
      request: input.request,
      decision: 'rejected',
      decidedBy: 'alice',
      escalated: false,
      reminders: 0,
      note: 'use the refurbished stock',
    });
    expect(await info(rt, id)).toMatchObject({ status: 'completed', value: 'rejected', accepts: [], timers: [] });
    await expect(rt.send(id, { type: 'APPROVE', by: 'alice' })).rejects.toMatchObject({ code: 'EXECUTION_FINISHED' });
  });

  it('reminder path: one reminder a day at the right simulated time, each sent exactly once across a restart', async () => {
    const path = storePath();
    let clock = simulatedClock(T0);
    let rt = await open(path, clock);
    const { id } = await rt.start('humanApproval', { id: 'po-1044', input });

    await advanceTo(rt, clock, id, T0 + REMINDER_MS - 1);
    expect(simulatedNotifier.outbox).toEqual([]);
    const afterFirst = await advanceTo(rt, clock, id, T0 + REMINDER_MS);
    expect(simulatedNotifier.outbox.map((m) => [m.kind, m.to, m.n, m.sentAt])).toEqual([['reminder', 'alice', 1, T0 + DAY]]);
    expect(afterFirst).toMatchObject({ status: 'waiting', value: { awaitingDecision: 'waiting' }, context: { reminders: 1 } });
    expect(afterFirst.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    // The next reminder a day after this one; the deadline unchanged.
    expect(timers(afterFirst)).toEqual([
      [REMINDER_EVENT, T0 + 2 * DAY],
      [DEADLINE_EVENT, T0 + DEADLINE_MS],
    ]);
    const firstKey = simulatedNotifier.outbox[0]!.key;
    expect((await info(rt, id)).effects).toEqual([expect.objectContaining({ key: firstKey, status: 'done', attempts: 1 })]);

    // The process stops at 1.5 days; the next one starts at 1.75 days.
    await advanceTo(rt, clock, id, T0 + 1.5 * DAY);
    await rt.close();
    clock = simulatedClock(T0 + 1.75 * DAY);
    rt = await open(path, clock);
    const restored = await advanceTo(rt, clock, id, T0 + 1.75 * DAY);
    expect(restored).toMatchObject({ value: { awaitingDecision: 'waiting' }, context: { reminders: 1 } });
    expect(simulatedNotifier.outbox).toHaveLength(1); // the recorded reminder is not sent again
    expect(simulatedNotifier.calls).toHaveLength(1);

    await advanceTo(rt, clock, id, T0 + 2 * DAY - 1);
    expect(simulatedNotifier.outbox).toHaveLength(1);
    await advanceTo(rt, clock, id, T0 + 2 * DAY);
    expect(simulatedNotifier.outbox.map((m) => [m.n, m.sentAt])).toEqual([
      [1, T0 + DAY],
      [2, T0 + 2 * DAY],
    ]);
    expect(new Set(simulatedNotifier.outbox.map((m) => m.key)).size).toBe(2);
    expect(simulatedNotifier.calls).toHaveLength(2);

    await advanceTo(rt, clock, id, T0 + 2.5 * DAY);
    await rt.send(id, { type: 'APPROVE', by: 'alice' });
    expect(await rt.wait(id)).toMatchObject({ decision: 'approved', decidedBy: 'alice', reminders: 2, escalated: false, note: null });
    const history = await rt.history(id);
    expect(history.filter((h) => (h.event as { type: string }).type === REMINDER_EVENT).map((h) => h.at.getTime())).toEqual([T0 + DAY, T0 + 2 * DAY]);
  });

  it('a reminder cut by a restart during its retry is sent once, with the same key, when the service is back', async () => {
    const path = storePath();
    let clock = simulatedClock(T0);
    let rt = await open(path, clock);
    const { id } = await rt.start('humanApproval', { id: 'po-1045', input });
    simulatedNotifier.outage = 1; // the first call gets a 503, retry after 60 s
    await clock.advanceTo(T0 + DAY);
    // The deadline timer, and the backoff once attempt 1's failure is committed.
    await until(async () => clock.pending() === 2 && (await info(rt, id)).effects[0]?.status === 'pending', 'the failed attempt and its backoff');
    const reminding = await info(rt, id);
    expect(reminding).toMatchObject({ status: 'running', value: { awaitingDecision: 'reminding' } });
    expect(reminding.accepts.sort()).toEqual(['APPROVE', 'REJECT']); // a decision is still possible meanwhile
    expect(reminding.effects).toEqual([expect.objectContaining({ status: 'pending', attempts: 1, retryAt: T0 + DAY + 60_000, error: expect.objectContaining({ name: 'RetryableError' }) })]);
    expect(simulatedNotifier.outbox).toEqual([]);
    await rt.close();

    // The next process starts 30 s into the backoff: the retry is still due at +60 s.
    clock = simulatedClock(T0 + DAY + 30_000);
    rt = await open(path, clock);
    await until(() => clock.pending() === 2, 'the deadline and the backoff re-armed');
    await clock.advanceTo(T0 + DAY + 59_999);
    await committed(rt);
    expect(simulatedNotifier.calls).toHaveLength(1);
    expect(simulatedNotifier.outbox).toEqual([]);
    const sent = await advanceTo(rt, clock, id, T0 + DAY + 60_000);
    expect(sent).toMatchObject({ value: { awaitingDecision: 'waiting' }, context: { reminders: 1 } });
    expect(simulatedNotifier.outbox.map((m) => [m.n, m.sentAt])).toEqual([[1, T0 + DAY + 60_000]]);
    expect(simulatedNotifier.calls.map((c) => [c.attempt, c.key])).toEqual([
      [1, simulatedNotifier.outbox[0]!.key],
      [2, simulatedNotifier.outbox[0]!.key],
    ]);
    // The next reminder counts from when this one went out.
    expect(timers(sent)).toContainEqual([REMINDER_EVENT, T0 + 2 * DAY + 60_000]);
  });

  it('deadline path: undecided after three days it escalates to the manager, who alone decides', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('humanApproval', { id: 'po-1046', input });
    await advanceTo(rt, clock, id, T0 + DAY);
    await advanceTo(rt, clock, id, T0 + 2 * DAY);
    const lastWait = await advanceTo(rt, clock, id, T0 + DEADLINE_MS - 1);
    expect(lastWait).toMatchObject({ value: { awaitingDecision: 'waiting' }, context: { reminders: 2, escalated: false } });
    expect(lastWait.accepts.sort()).toEqual(['APPROVE', 'REJECT']);

    const escalated = await advanceTo(rt, clock, id, T0 + DEADLINE_MS);
    expect(escalated).toMatchObject({ status: 'waiting', value: { escalated: 'awaitingManager' }, context: { escalated: true, reminders: 2 }, timers: [] });
    expect(escalated.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    // Two reminders to the approver (no third: at most MAX_REMINDERS), then the manager.
    expect(simulatedNotifier.outbox.map((m) => [m.kind, m.to, m.sentAt])).toEqual([
      ['reminder', 'alice', T0 + DAY],
      ['reminder', 'alice', T0 + 2 * DAY],
      ['escalation', 'mo', T0 + DEADLINE_MS],
    ]);
    expect((escalated.context as { notifications: string[] }).notifications).toEqual(simulatedNotifier.outbox.map((m) => m.messageId));

    // The approver no longer decides; the manager does.
    await expect(rt.send(id, { type: 'APPROVE', by: 'alice' })).rejects.toBeInstanceOf(EventNotAcceptedError);
    await advanceTo(rt, clock, id, T0 + DEADLINE_MS + 4 * HOUR);
    await rt.send(id, { type: 'REJECT', by: 'mo', reason: 'over budget' });
    expect(await rt.wait(id)).toEqual({
      request: input.request,
      decision: 'rejected',
      decidedBy: 'mo',
      escalated: true,
      reminders: 2,
      note: 'over budget',
    });
    const values = (await rt.history(id)).map((h) => [JSON.stringify(h.value), h.at.getTime() - T0]);
    expect(values).toEqual([
      ['{"awaitingDecision":"waiting"}', 0],
      ['{"awaitingDecision":"reminding"}', DAY],
      ['{"awaitingDecision":"waiting"}', DAY],
      ['{"awaitingDecision":"reminding"}', 2 * DAY],
      ['{"awaitingDecision":"waiting"}', 2 * DAY],
      ['{"escalated":"notifyingManager"}', 3 * DAY],
      ['{"escalated":"awaitingManager"}', 3 * DAY],
      ['"rejected"', 3 * DAY + 4 * HOUR],
    ]);
  });

  it('a reminder and then the deadline that fell due while no process ran fire at once on recovery', async () => {
    const path = storePath();
    let clock = simulatedClock(T0);
    let rt = await open(path, clock);
    const { id } = await rt.start('humanApproval', { id: 'po-1047', input });
    await advanceTo(rt, clock, id, T0 + DAY);
    await advanceTo(rt, clock, id, T0 + 1.5 * DAY);
    await rt.close();

    // Back at 2.5 days: the second reminder (due at 2 days) goes out at once.
    clock = simulatedClock(T0 + 2.5 * DAY);
    rt = await open(path, clock);
    const reminded = await advanceTo(rt, clock, id, T0 + 2.5 * DAY);
    expect(reminded).toMatchObject({ value: { awaitingDecision: 'waiting' }, context: { reminders: 2, escalated: false } });
    expect(simulatedNotifier.outbox.map((m) => [m.kind, m.n, m.sentAt])).toEqual([
      ['reminder', 1, T0 + DAY],
      ['reminder', 2, T0 + 2.5 * DAY],
    ]);
    await advanceTo(rt, clock, id, T0 + 2.75 * DAY);
    await rt.close();

    // Back after a long weekend, at 4 days: the deadline (3 days) is overdue and escalates at once.
    clock = simulatedClock(T0 + 4 * DAY);
    rt = await open(path, clock);
    const escalated = await advanceTo(rt, clock, id, T0 + 4 * DAY);
    expect(escalated).toMatchObject({ value: { escalated: 'awaitingManager' }, context: { escalated: true, reminders: 2 }, timers: [] });
    expect(escalated.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    expect(simulatedNotifier.outbox.map((m) => [m.kind, m.to, m.sentAt])).toEqual([
      ['reminder', 'alice', T0 + DAY],
      ['reminder', 'alice', T0 + 2.5 * DAY],
      ['escalation', 'mo', T0 + 4 * DAY],
    ]);
    expect(simulatedNotifier.calls).toHaveLength(3);
    await rt.send(id, { type: 'APPROVE' }); // no `by`: after the escalation it is the manager's decision
    expect(await rt.wait(id)).toMatchObject({ decision: 'approved', decidedBy: 'mo', escalated: true, reminders: 2 });
  });
});
