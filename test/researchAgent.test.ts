/**
 * The research-agent example (machines/researchAgent.ts) on a real LMDB store and a simulated
 * clock: plan → tools → draft → approval → publish, with revisions, rejection, the approval
 * deadline and its escalation, expiry, transient tool failures retried, tools that keep
 * failing, and a runtime closed while a tool call is in flight and reopened on the same store.
 * The services are the example's deterministic simulation; their real-time latency is a few ms.
 */
import { describe, expect, it } from 'vitest';
import { EventNotAcceptedError, simulatedClock, type ExecutionInfo, type Progress, type Runtime, type SimulatedClock } from '../src/index.js';
import {
  APPROVAL_DEADLINE_MS,
  DEFAULT_ESCALATE_TO,
  DEFAULT_MAX_REVISIONS,
  ESCALATION_DEADLINE_MS,
  planFor,
  researchAgentMachine,
  simulatedResearchServices as services,
  TOOL_ATTEMPTS,
  type ResearchContext,
  type ResearchInput,
  type ResearchOutput,
  type ToolName,
} from '../machines/researchAgent.js';
import { committed } from './fixtures/timerSettle.js';
import { exampleHarness, info, until } from './fixtures/exampleHarness.js';

const T0 = Date.UTC(2026, 2, 2, 9); // a Monday, 09:00 UTC
const HOUR = 3600_000;

/** Three words: search, fetch hit 1, fetch hit 2, summarise. */
const input: ResearchInput = { topic: 'durable execution engines', approver: 'ada' };
const TOOLS: ToolName[] = ['search', 'fetch', 'summarise'];
const DEADLINE_EVENT = 'xstate.after.APPROVAL_DEADLINE_MS.researchAgent.awaitingApproval';
const EXPIRY_EVENT = 'xstate.after.ESCALATION_DEADLINE_MS.researchAgent.escalated';

const { cleanups, storePath, open } = exampleHarness({
  prefix: 'durastate-research-',
  machines: [researchAgentMachine],
  reset: () => {
    services.reset();
    services.latencyMs = 2;
  },
  useClock: (clock) => (services.now = () => clock.now()),
});

const ctx = (i: ExecutionInfo): ResearchContext => i.context as unknown as ResearchContext;

/**
 * Lets the execution run (real time, polling; a bail-out, not a measurement) until `done` holds
 * of it. An effect waiting for its retry gets there: the simulated clock is moved to the
 * recorded `retryAt`, and only then.
 */
async function runUntil(rt: Runtime, clock: SimulatedClock, id: string, done: (i: ExecutionInfo) => boolean, what: string): Promise<ExecutionInfo> {
  const deadline = Date.now() + 8_000;
  for (;;) {
    await committed(rt);
    const now = await info(rt, id);
    if (done(now)) return now;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(now)}`);
    const retryAt = now.effects.find((e) => e.status === 'pending' && e.retryAt !== undefined)?.retryAt;
    if (retryAt !== undefined && now.status === 'running') await clock.advanceTo(Math.max(clock.now(), retryAt));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Until it waits for a person (or has finished). */
const idle = (rt: Runtime, clock: SimulatedClock, id: string): Promise<ExecutionInfo> => runUntil(rt, clock, id, (i) => i.status !== 'running', 'the execution to wait');

/** The output, typed (`wait` resolves with JSON). */
const outputOf = async (rt: Runtime, id: string): Promise<ResearchOutput> => (await rt.wait(id)) as unknown as ResearchOutput;

const timers = (i: ExecutionInfo): Array<[string, number]> => i.timers.map((t) => [(t.event as { type: string }).type, t.dueAt.getTime()]);
const states = async (rt: Runtime, id: string): Promise<string[]> => (await rt.history(id)).map((h) => JSON.stringify(h.value));

/** The states of a run from plan to publish, one per transition, as `states` gives them. */
const PUBLISHED_PATH = ['"planning"', '{"tools":"search"}', '{"tools":"fetch"}', '{"tools":"fetch"}', '{"tools":"summarise"}', '"drafting"', '"awaitingApproval"', '"publishing"', '"published"'];

describe('research agent (machines/researchAgent.ts)', () => {
  it('names its delays; the simulated planner asks for 2–4 steps, the same for the same topic', () => {
    const delays = researchAgentMachine.implementations.delays as Record<string, unknown>;
    expect(delays.APPROVAL_DEADLINE_MS).toBe(APPROVAL_DEADLINE_MS);
    expect(delays.ESCALATION_DEADLINE_MS).toBe(ESCALATION_DEADLINE_MS);
    expect([APPROVAL_DEADLINE_MS, ESCALATION_DEADLINE_MS, DEFAULT_MAX_REVISIONS]).toEqual([24 * HOUR, 48 * HOUR, 2]);
    expect(planFor('lmdb').map((s) => s.tool)).toEqual(['search', 'summarise']);
    expect(planFor('xstate actors').map((s) => s.tool)).toEqual(['search', 'fetch', 'summarise']);
    expect(planFor(input.topic)).toEqual([
      { tool: 'search', arg: input.topic },
      { tool: 'fetch', arg: '1' },
      { tool: 'fetch', arg: '2' },
      { tool: 'summarise', arg: 'findings' },
    ]);
    expect(planFor(input.topic)).toEqual(planFor(input.topic));
  });

  it('happy path: plan, every tool once with its own key, draft, APPROVE, publish; progress rises to 100', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('researchAgent', { id: 'r-happy', input });
    const percents: number[] = [];
    const sub = rt.progress$(id).subscribe((p: Progress) => percents.push(p.percent));
    cleanups.push(() => sub.unsubscribe());

    const waiting = await idle(rt, clock, id);
    expect(waiting).toMatchObject({ status: 'waiting', value: 'awaitingApproval' });
    expect(waiting.accepts.sort()).toEqual(['APPROVE', 'REJECT', 'REVISE']);
    expect(timers(waiting)).toEqual([[DEADLINE_EVENT, T0 + APPROVAL_DEADLINE_MS]]);
    const c = ctx(waiting);
    expect(c.stepIndex).toBe(4);
    expect(c.plan).toEqual(planFor(input.topic));
    expect(c.results.map((r) => [r.step, r.tool, r.ok])).toEqual([
      [0, 'search', true],
      [1, 'fetch', true],
      [2, 'fetch', true],
      [3, 'summarise', true],
    ]);
    expect(c.draft).toContain('# durable execution engines');
    expect(c.draft).toContain('https://sim.example/durable-execution-engines/2');

    // Each tool step ran once, with a key of its own; nothing was retried.
    const toolCalls = services.calls.filter((k) => (TOOLS as string[]).includes(k.service));
    expect(toolCalls.map((k) => [k.service, k.detail, k.attempt, k.outcome])).toEqual([
      ['search', input.topic, 1, 'ok'],
      ['fetch', '1', 1, 'ok'],
      ['fetch', '2', 1, 'ok'],
      ['summarise', 'findings', 1, 'ok'],
    ]);
    expect(new Set(toolCalls.map((k) => k.key)).size).toBe(4);
    expect(toolCalls.every((k) => k.key.startsWith(`${id}/${k.service}@`))).toBe(true);

    // Someone other than the approver cannot decide before the deadline.
    await expect(rt.send(id, { type: 'APPROVE', by: 'mallory' })).rejects.toMatchObject({ code: 'EVENT_NOT_ACCEPTED' });
    await rt.send(id, { type: 'APPROVE', by: 'ada' });
    const output = await outputOf(rt, id);
    expect(output).toEqual({
      topic: input.topic,
      outcome: 'published',
      revisions: 0,
      draft: c.draft,
      publishedUrl: 'https://sim.example/published/durable-execution-engines-1',
      by: 'ada',
    });
    expect(services.published).toEqual([expect.objectContaining({ url: output.publishedUrl, approvedBy: 'ada', at: T0 })]);
    expect(services.calls.map((k) => k.service)).toEqual(['plan', 'search', 'fetch', 'fetch', 'summarise', 'draft', 'publish']);

    const done = await info(rt, id);
    expect(done).toMatchObject({ status: 'completed', value: 'published', accepts: [], timers: [] });
    expect(done.effects.map((e) => [e.key.replace(/@\d+$/, ''), e.status, e.attempts])).toEqual(
      expect.arrayContaining([
        [`${id}/plan`, 'done', 1],
        [`${id}/search`, 'done', 1],
        [`${id}/fetch`, 'done', 1],
        [`${id}/summarise`, 'done', 1],
        [`${id}/draft`, 'done', 1],
        [`${id}/publish`, 'done', 1],
      ]),
    );
    expect(done.effects).toHaveLength(7);
    expect(await states(rt, id)).toEqual(PUBLISHED_PATH);

    await until(() => percents.at(-1) === 100, 'progress 100');
    expect(percents.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < percents.length; i++) expect(percents[i]!).toBeGreaterThan(percents[i - 1]!);
    expect(percents[0]).toBeLessThan(50);
  });

  it('revise path: REVISE redrafts with the feedback, until maxRevisions is used up; then APPROVE', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('researchAgent', { id: 'r-revise', input });
    const percents: number[] = [];
    const sub = rt.progress$(id).subscribe((p: Progress) => percents.push(p.percent));
    cleanups.push(() => sub.unsubscribe());
    const first = await idle(rt, clock, id);
    const firstDraft = ctx(first).draft;

    await clock.advanceTo(T0 + 2 * HOUR);
    await expect(rt.send(id, { type: 'REVISE', by: 'bob', feedback: 'shorter' })).rejects.toBeInstanceOf(EventNotAcceptedError);
    await rt.send(id, { type: 'REVISE', by: 'ada', feedback: 'compare with Temporal' });
    const second = await idle(rt, clock, id);
    expect(second).toMatchObject({ value: 'awaitingApproval', context: { revisions: 1, feedback: ['compare with Temporal'] } });
    expect(ctx(second).draft).not.toBe(firstDraft);
    expect(ctx(second).draft).toContain('Revision 1: addressed "compare with Temporal"');
    // Each draft gets a day of its own.
    expect(timers(second)).toEqual([[DEADLINE_EVENT, T0 + 2 * HOUR + APPROVAL_DEADLINE_MS]]);
    expect(second.accepts.sort()).toEqual(['APPROVE', 'REJECT', 'REVISE']);

    await rt.send(id, { type: 'REVISE', by: 'ada', feedback: 'add a table' });
    const third = await idle(rt, clock, id);
    expect(third).toMatchObject({ value: 'awaitingApproval', context: { revisions: 2, feedback: ['compare with Temporal', 'add a table'] } });
    // maxRevisions (2) is used up: REVISE is no longer offered, nor accepted.
    expect(third.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    const refused = await rt.send(id, { type: 'REVISE', by: 'ada', feedback: 'one more' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(EventNotAcceptedError);
    expect(refused).toMatchObject({ code: 'EVENT_NOT_ACCEPTED' });

    await rt.send(id, { type: 'APPROVE', by: 'ada' });
    const output = await outputOf(rt, id);
    expect(output).toMatchObject({ outcome: 'published', revisions: 2, by: 'ada', draft: ctx(third).draft });
    expect(output.draft).toContain('Revision 2: addressed "add a table"');
    // Three drafts, three keys; the tools ran once (a revision does not research again).
    const drafts = services.callsOf('draft');
    expect(drafts.map((k) => k.detail)).toEqual(['revision 0', 'revision 1', 'revision 2']);
    expect(new Set(drafts.map((k) => k.key)).size).toBe(3);
    expect(services.callsOf('search')).toHaveLength(1);
    expect(await states(rt, id)).toEqual(expect.arrayContaining(['"drafting"', '"awaitingApproval"', '"published"']));
    // A revision does not move the progress bar back.
    await until(() => percents.at(-1) === 100, 'progress 100');
    for (let i = 1; i < percents.length; i++) expect(percents[i]!).toBeGreaterThanOrEqual(percents[i - 1]!);
  });

  it('a smaller maxRevisions from the input: one REVISE, then it is refused', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('researchAgent', { id: 'r-max1', input: { topic: 'lmdb', approver: 'ada', maxRevisions: 1 } });
    await idle(rt, clock, id);
    await rt.send(id, { type: 'REVISE', by: 'ada', feedback: 'more detail' });
    const after = await idle(rt, clock, id);
    expect(after.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    await expect(rt.send(id, { type: 'REVISE', by: 'ada', feedback: 'again' })).rejects.toMatchObject({ code: 'EVENT_NOT_ACCEPTED' });
    await rt.send(id, { type: 'REJECT', by: 'ada', reason: 'not needed after all' });
    expect(await rt.wait(id)).toMatchObject({ outcome: 'rejected', revisions: 1 });
  });

  it('rejection path: REJECT ends it rejected, nothing is published, no event is accepted any more', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('researchAgent', { id: 'r-reject', input: { topic: 'xstate actors', approver: 'ada' } });
    const waiting = await idle(rt, clock, id);
    expect(ctx(waiting).plan.map((s) => s.tool)).toEqual(['search', 'fetch', 'summarise']);
    await clock.advanceTo(T0 + 3 * HOUR);
    await rt.send(id, { type: 'REJECT', by: 'ada', reason: 'out of scope' });
    expect(await rt.wait(id)).toEqual({
      topic: 'xstate actors',
      outcome: 'rejected',
      revisions: 0,
      draft: ctx(waiting).draft,
      by: 'ada',
      reason: 'out of scope',
    });
    expect(await info(rt, id)).toMatchObject({ status: 'completed', value: 'rejected', accepts: [], timers: [] });
    expect(services.published).toEqual([]);
    expect(services.callsOf('publish')).toEqual([]);
    await expect(rt.send(id, { type: 'APPROVE', by: 'ada' })).rejects.toMatchObject({ code: 'EXECUTION_FINISHED' });
    // Days later nothing escalates: the deadline went with the state.
    await clock.advanceTo(T0 + 5 * APPROVAL_DEADLINE_MS);
    expect(services.notices).toEqual([]);
  });

  it('deadline path: undecided after a day it escalates, notifies once, and then anyone may approve', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('researchAgent', { id: 'r-deadline', input });
    await idle(rt, clock, id);

    await clock.advanceTo(T0 + APPROVAL_DEADLINE_MS - 1);
    expect(await info(rt, id)).toMatchObject({ value: 'awaitingApproval', context: { escalated: false } });
    await clock.advanceTo(T0 + APPROVAL_DEADLINE_MS);
    const escalated = await idle(rt, clock, id);
    expect(escalated).toMatchObject({ status: 'waiting', value: { escalated: 'awaitingDecision' }, context: { escalated: true, notification: 'sim-notice-1' } });
    expect(timers(escalated)).toEqual([[EXPIRY_EVENT, T0 + APPROVAL_DEADLINE_MS + ESCALATION_DEADLINE_MS]]);
    // After the deadline: no more revisions; APPROVE and REJECT from anyone.
    expect(escalated.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    await expect(rt.send(id, { type: 'REVISE', by: 'ada', feedback: 'late' })).rejects.toMatchObject({ code: 'EVENT_NOT_ACCEPTED' });
    expect(services.notices).toEqual([expect.objectContaining({ to: DEFAULT_ESCALATE_TO, at: T0 + APPROVAL_DEADLINE_MS, messageId: 'sim-notice-1' })]);
    expect(services.callsOf('notify')).toHaveLength(1);

    await clock.advanceTo(T0 + APPROVAL_DEADLINE_MS + 5 * HOUR);
    expect(services.callsOf('notify')).toHaveLength(1);
    await rt.send(id, { type: 'APPROVE', by: 'grace' });
    expect(await rt.wait(id)).toMatchObject({ outcome: 'published', by: 'grace', revisions: 0, publishedUrl: expect.stringMatching(/^https:\/\/sim\.example\/published\//) });
    expect(services.published).toEqual([expect.objectContaining({ approvedBy: 'grace', at: T0 + APPROVAL_DEADLINE_MS + 5 * HOUR })]);
    expect(await states(rt, id)).toEqual(
      expect.arrayContaining(['"awaitingApproval"', '{"escalated":"notifying"}', '{"escalated":"awaitingDecision"}', '"publishing"', '"published"']),
    );
    // The timers went with the states: nothing more fires.
    await clock.advanceTo(T0 + 10 * APPROVAL_DEADLINE_MS);
    expect(services.callsOf('notify')).toHaveLength(1);
  });

  it('expiry: escalated and still undecided two days later, it ends expired with nobody deciding', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    const { id } = await rt.start('researchAgent', { id: 'r-expire', input: { ...input, escalateTo: 'lead-team' } });
    await idle(rt, clock, id);
    await clock.advanceTo(T0 + APPROVAL_DEADLINE_MS);
    await runUntil(rt, clock, id, (i) => JSON.stringify(i.value) === '{"escalated":"awaitingDecision"}', 'the escalation');
    await clock.advanceTo(T0 + APPROVAL_DEADLINE_MS + ESCALATION_DEADLINE_MS - 1);
    expect((await info(rt, id)).status).toBe('waiting');
    await clock.advanceTo(T0 + APPROVAL_DEADLINE_MS + ESCALATION_DEADLINE_MS);
    const output = await outputOf(rt, id);
    expect(output).toEqual({ topic: input.topic, outcome: 'expired', revisions: 0, draft: expect.stringContaining('# durable'), by: null });
    expect(await info(rt, id)).toMatchObject({ status: 'completed', value: 'expired', timers: [] });
    expect(services.notices.map((n) => [n.to, n.at])).toEqual([['lead-team', T0 + APPROVAL_DEADLINE_MS]]);
    expect(services.published).toEqual([]);
    const history = await rt.history(id);
    expect(history.at(-1)).toMatchObject({ event: { type: EXPIRY_EVENT }, value: 'expired' });
    expect(history.at(-1)?.at.getTime()).toBe(T0 + APPROVAL_DEADLINE_MS + ESCALATION_DEADLINE_MS);
  });

  it('a tool with transient failures is retried after retryAfter, with the same key; effects show the attempts', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.failures = { fetch: 2 };
    services.retryAfterMs = 30_000;
    const { id } = await rt.start('researchAgent', { id: 'r-retry', input });

    // The first fetch fails; its retry is recorded as due in 30 s of workflow time.
    const pending = await runUntil(rt, clock, id, (i) => i.effects.some((e) => e.key.includes('/fetch@') && e.retryAt !== undefined), 'the first failure');
    expect(pending).toMatchObject({ status: 'running', value: { tools: 'fetch' }, context: { stepIndex: 1 } });
    // (An effect in flight is listed as pending with 0 attempts; one waiting for its retry has a retryAt.)
    expect(pending.effects.find((e) => e.key.includes('/fetch@'))).toMatchObject({
      status: 'pending',
      attempts: 1,
      retryAt: T0 + 30_000,
      error: expect.objectContaining({ name: 'RetryableError', message: 'simulated fetch unavailable (503)' }),
    });

    const waiting = await idle(rt, clock, id);
    expect(waiting).toMatchObject({ value: 'awaitingApproval', context: { stepIndex: 4 } });
    expect(ctx(waiting).results.every((r) => r.ok)).toBe(true);
    const fetches = services.callsOf('fetch');
    expect(fetches.map((k) => [k.detail, k.attempt, k.outcome, k.at])).toEqual([
      ['1', 1, 'failed', T0],
      ['1', 2, 'failed', T0 + 30_000],
      ['1', 3, 'ok', T0 + 60_000],
      ['2', 1, 'ok', T0 + 60_000],
    ]);
    expect(new Set(fetches.slice(0, 3).map((k) => k.key)).size).toBe(1);
    expect(fetches[3]!.key).not.toBe(fetches[0]!.key);
    const firstFetch = waiting.effects.find((e) => e.key === fetches[0]!.key);
    expect(firstFetch).toMatchObject({ status: 'done', attempts: 3 });
    expect(waiting.effects.filter((e) => e.key !== fetches[0]!.key).every((e) => e.attempts === 1)).toBe(true);

    await rt.send(id, { type: 'APPROVE', by: 'ada' });
    expect(await rt.wait(id)).toMatchObject({ outcome: 'published' });
  });

  it('a tool that keeps failing is given up after its attempts and the agent carries on without it', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.failures = { search: 99 };
    const { id } = await rt.start('researchAgent', { id: 'r-down', input: { topic: 'xstate actors', approver: 'ada' } });
    const waiting = await idle(rt, clock, id);
    expect(waiting).toMatchObject({ value: 'awaitingApproval' });
    expect(ctx(waiting).results.map((r) => [r.tool, r.ok, r.text])).toEqual([
      ['search', false, 'simulated search unavailable (503)'],
      // Nothing to fetch: a TerminalError, not retried.
      ['fetch', false, 'no search hit 1 to fetch'],
      ['summarise', true, 'xstate actors: nothing found'],
    ]);
    expect(services.callsOf('search').map((k) => k.attempt)).toEqual([1, 2, 3, 4].slice(0, TOOL_ATTEMPTS));
    expect(services.callsOf('fetch').map((k) => [k.attempt, k.outcome])).toEqual([[1, 'failed']]);
    const failed = waiting.effects.filter((e) => e.status === 'failed').map((e) => [e.key.replace(/@\d+$/, ''), e.attempts, e.error?.name]);
    expect(failed.sort()).toEqual([
      [`${id}/fetch`, 1, 'TerminalError'],
      [`${id}/search`, TOOL_ATTEMPTS, 'RetryableError'],
    ]);
    expect(ctx(waiting).draft).toContain('Unavailable: search (simulated search unavailable (503)), fetch (no search hit 1 to fetch)');
  });

  it('a publication that cannot be made after its retries ends the workflow failed, with the reason', async () => {
    const clock = simulatedClock(T0);
    const rt = await open(storePath(), clock);
    services.failures = { publish: 99 };
    const { id } = await rt.start('researchAgent', { id: 'r-nopub', input: { topic: 'lmdb', approver: 'ada' } });
    await idle(rt, clock, id);
    await rt.send(id, { type: 'APPROVE', by: 'ada' });
    const done = await runUntil(rt, clock, id, (i) => i.status === 'completed', 'the end');
    expect(done.value).toBe('failed');
    expect(await rt.wait(id)).toMatchObject({ outcome: 'failed', by: null, reason: 'simulated publish unavailable (503)' });
    expect(services.published).toEqual([]);
    expect(services.callsOf('publish')).toHaveLength(5);
  });

  it('a runtime closed while a tool call is in flight: the next one on the same store finishes it, recorded tools are not called again', async () => {
    const path = storePath();
    let clock = simulatedClock(T0);
    let rt = await open(path, clock);
    services.hold('fetch');
    const { id } = await rt.start('researchAgent', { id: 'r-crash', input });
    await until(() => services.callsOf('fetch').length === 1, 'the first fetch in flight');
    const inFlight = await info(rt, id);
    expect(inFlight).toMatchObject({ status: 'running', value: { tools: 'fetch' }, context: { stepIndex: 1 } });
    expect(ctx(inFlight).results.map((r) => r.tool)).toEqual(['search']);
    const fetchKey = services.callsOf('fetch')[0]!.key;
    await rt.close();
    expect(services.callsOf('fetch')[0]!.outcome).toBe('aborted');

    services.release('fetch');
    clock = simulatedClock(T0 + HOUR);
    rt = await open(path, clock);
    const waiting = await idle(rt, clock, id);
    expect(waiting).toMatchObject({ status: 'waiting', value: 'awaitingApproval', context: { stepIndex: 4 } });
    // The plan and the search were recorded: not called again. The cut fetch ran again, same key.
    expect(services.callsOf('plan')).toHaveLength(1);
    expect(services.callsOf('search')).toHaveLength(1);
    expect(services.callsOf('fetch').map((k) => [k.key === fetchKey, k.detail, k.outcome])).toEqual([
      [true, '1', 'aborted'],
      [true, '1', 'ok'],
      [false, '2', 'ok'],
    ]);
    expect(services.callsOf('summarise')).toHaveLength(1);

    await rt.send(id, { type: 'APPROVE', by: 'ada' });
    expect(await rt.wait(id)).toMatchObject({ outcome: 'published', by: 'ada' });
    expect(services.published).toHaveLength(1);
    expect(await states(rt, id)).toEqual(PUBLISHED_PATH);
  });

  it('a runtime closed while the draft waits: the deadline that passed meanwhile escalates on reopening', async () => {
    const path = storePath();
    let clock = simulatedClock(T0);
    let rt = await open(path, clock);
    const { id } = await rt.start('researchAgent', { id: 'r-away', input });
    await idle(rt, clock, id);
    await rt.close();

    clock = simulatedClock(T0 + 30 * HOUR);
    rt = await open(path, clock);
    // The overdue deadline was re-armed with no time left: the simulated clock fires it when moved.
    await clock.advanceTo(clock.now());
    const escalated = await runUntil(rt, clock, id, (i) => JSON.stringify(i.value) === '{"escalated":"awaitingDecision"}', 'the escalation');
    expect(escalated.accepts.sort()).toEqual(['APPROVE', 'REJECT']);
    expect(services.notices.map((n) => n.at)).toEqual([T0 + 30 * HOUR]);
    await rt.send(id, { type: 'REJECT', by: 'grace', reason: 'stale' });
    expect(await rt.wait(id)).toMatchObject({ outcome: 'rejected', by: 'grace', reason: 'stale' });
    expect(services.calls.map((k) => k.service)).toEqual(['plan', 'search', 'fetch', 'fetch', 'summarise', 'draft', 'notify']);
  });
});
