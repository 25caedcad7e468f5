import { assign, setup } from 'xstate';
import { fromEffect, RetryableError, TerminalError, withRetry, type EffectArgs } from '../src/index.js';

/**
 * Research agent: an AI-agent loop with a person in it. A (simulated) LLM plans a few tool
 * calls for a topic, the tools run one after another, the LLM writes a draft from their
 * results, and a person approves, asks for a revision or rejects it; an approved draft is
 * published.
 *
 * States, in order (`rt.progress$(id)` moves through them: each leaf says how far along it is
 * with `meta.progress`, and it never goes back, not even on a revision):
 *
 * - `planning` (5 %): the durable effect `plan` turns the topic into 2–4 {@link PlanStep}s —
 *   always a `search` first and a `summarise` last, with a `fetch` of one or two search hits in
 *   between for longer topics (see {@link planFor}).
 * - `tools.search` / `tools.fetch` / `tools.summarise` (10–70 %): one durable effect per step,
 *   with the tool's name as effect (`search`, `fetch`, `summarise`). `context.stepIndex` and
 *   `context.results` show how far the agent got. A transient tool failure (`RetryableError`)
 *   is retried after the service's `retryAfter` (at most {@link TOOL_ATTEMPTS} attempts); a tool
 *   that still fails, or fails with a `TerminalError`, becomes a result with `ok: false` and the
 *   agent carries on without it (the draft says what was unavailable).
 * - `drafting` (75 %; 85 % for a revision): the durable effect `draft` writes the draft from the
 *   results and the reviewer's feedback so far.
 * - `awaitingApproval` (85 %): waits for the approver. `rt.get(id).accepts` is what a UI should
 *   offer:
 *   - `APPROVE { by }` → `publishing`;
 *   - `REVISE { by, feedback }` → `drafting` again with the feedback, at most `maxRevisions`
 *     times (default {@link DEFAULT_MAX_REVISIONS}); after that `REVISE` is no longer accepted
 *     (`EVENT_NOT_ACCEPTED`) and is no longer listed in `accepts`;
 *   - `REJECT { by, reason }` → `rejected`.
 *   Before the deadline only the approver decides: an event whose `by` names someone else is not
 *   accepted (an event without `by` is taken as the approver's).
 * - `escalated` (88–90 %): a draft still undecided {@link APPROVAL_DEADLINE_MS} after it was
 *   ready (the deadline starts again with every revised draft) is escalated: the durable effect
 *   `notify` tells `escalateTo` (default `'research-leads'`), and then `APPROVE` or `REJECT`
 *   from anyone is accepted; `REVISE` is not (no more rounds after the deadline). Still
 *   undecided {@link ESCALATION_DEADLINE_MS} after the escalation, it ends `expired`.
 * - `publishing` (95 %): the durable effect `publish`, idempotent by its key, then `published`.
 * - Final states: `published`, `rejected`, `expired`, and `failed` (the plan, a draft or the
 *   publication could not be had after their retries: a tool may fail without failing the
 *   workflow, the LLM and the publisher may not). Every one of them completes the execution with
 *   a {@link ResearchOutput}.
 *
 * Every effect receives a stable idempotency `key` (one per invocation, the same across retries
 * and crashes) and the `attempt` number; the simulated services deduplicate on the key, as a
 * real provider taking an idempotency key would: a tool call or publication interrupted by a
 * crash and run again with the same key is done once.
 *
 * All the services are a deterministic, in-memory SIMULATION ({@link simulatedResearchServices}):
 * no network, no model. The delays are named (`setup({ delays })`), so they can be read from
 * `researchAgentMachine.implementations.delays`.
 *
 * @example
 * ```ts
 * const rt = await createRuntime({ machines: [researchAgentMachine] });
 * const { id } = await rt.start('researchAgent', { input: { topic: 'durable execution engines', approver: 'ada' } });
 * // ... once it waits for approval:
 * (await rt.get(id))?.accepts;                         // ['APPROVE', 'REVISE', 'REJECT']
 * await rt.send(id, { type: 'REVISE', by: 'ada', feedback: 'compare with Temporal' });
 * await rt.send(id, { type: 'APPROVE', by: 'ada' });
 * await rt.wait(id); // { topic, outcome: 'published', revisions: 1, draft: '# durable execution engines ...', publishedUrl, by: 'ada' }
 * ```
 */

/** How long a draft waits for its approver before it is escalated: one day. */
export const APPROVAL_DEADLINE_MS = 24 * 3600_000;
/** How long an escalated draft waits for anyone's decision before it expires: two days. */
export const ESCALATION_DEADLINE_MS = 48 * 3600_000;
/** Revisions allowed when the input does not say. */
export const DEFAULT_MAX_REVISIONS = 2;
/** Who is told of an escalation when the input does not say. */
export const DEFAULT_ESCALATE_TO = 'research-leads';
/** Attempts of a tool call (the first included) before the agent does without it. */
export const TOOL_ATTEMPTS = 4;
/** Attempts of an LLM call (`plan`, `draft`) before the workflow ends `failed`. */
export const LLM_ATTEMPTS = 3;
/** Attempts of the publication before the workflow ends `failed`. */
export const PUBLISH_ATTEMPTS = 5;
/** Attempts of the escalation notice; one that cannot be sent does not stop the escalation. */
export const NOTIFY_ATTEMPTS = 3;

export type ToolName = 'search' | 'fetch' | 'summarise';
/** Every simulated service, as named in the call log and the `failures` knob. */
export type ServiceName = 'plan' | ToolName | 'draft' | 'publish' | 'notify';

export interface ResearchInput {
  topic: string;
  /** Who approves, revises or rejects the draft until the deadline. */
  approver: string;
  /** `REVISE` rounds allowed (default {@link DEFAULT_MAX_REVISIONS}). */
  maxRevisions?: number;
  /** Who is notified at the escalation (default {@link DEFAULT_ESCALATE_TO}). */
  escalateTo?: string;
}

/** One tool call the planner asks for. */
export interface PlanStep {
  tool: ToolName;
  /** `search`: the query; `fetch`: the number (1-based) of the search hit to read; `summarise`: what to summarise. */
  arg: string;
}

/** What a step gave: a tool's answer, or (`ok: false`) why it is missing. */
export interface ToolResult {
  step: number;
  tool: ToolName;
  ok: boolean;
  text: string;
  sources: string[];
}

export type Outcome = 'published' | 'rejected' | 'expired' | 'failed';

/** The execution's context: JSON data only, replaced (never mutated) by every `assign`. */
export interface ResearchContext {
  topic: string;
  approver: string;
  maxRevisions: number;
  escalateTo: string;
  plan: PlanStep[];
  /** The step being run (or the number of steps done); `plan.length` once the tools are done. */
  stepIndex: number;
  results: ToolResult[];
  draft: string | null;
  /** `REVISE` rounds so far. */
  revisions: number;
  /** The reviewer's feedback, one entry per revision. */
  feedback: string[];
  escalated: boolean;
  /** Message id of the escalation notice, once sent. */
  notification: string | null;
  outcome: Outcome | null;
  /** Who approved or rejected. */
  decidedBy: string | null;
  /** The rejection's reason, or why it failed. */
  reason: string | null;
  publishedUrl: string | null;
}

export type ResearchEvent =
  | { type: 'APPROVE'; by: string }
  | { type: 'REVISE'; by: string; feedback: string }
  | { type: 'REJECT'; by: string; reason: string };

export interface ResearchOutput {
  topic: string;
  outcome: Outcome;
  revisions: number;
  /** The last draft (null when it failed before one was written). */
  draft: string | null;
  /** Where it was published (`outcome: 'published'` only). */
  publishedUrl?: string;
  /** Who decided; null when nobody did (expired, failed). */
  by: string | null;
  /** The rejection's reason, or why it failed. */
  reason?: string;
}

export interface ToolInput {
  topic: string;
  /** The step's index in the plan. */
  index: number;
  step: PlanStep;
  /** The results of the steps before it. */
  results: ToolResult[];
}

export interface DraftInput {
  topic: string;
  results: ToolResult[];
  /** All feedback so far, oldest first: a revision addresses the last one. */
  feedback: string[];
  revision: number;
}

export interface PublishInput {
  topic: string;
  draft: string;
  approvedBy: string;
}

export interface NotifyInput {
  to: string;
  topic: string;
  approver: string;
}

/** A call as the simulated services saw it. */
export interface ServiceCall {
  service: ServiceName;
  /** The durable effect's idempotency key. */
  key: string;
  attempt: number;
  /** `simulatedResearchServices.now()` when the call arrived. */
  at: number;
  /** The tool's argument, the topic, or the recipient. */
  detail: string;
  /** `replayed`: the key had been served before, and its first answer was given again. */
  outcome: 'pending' | 'ok' | 'replayed' | 'failed' | 'aborted';
}

export interface Publication {
  key: string;
  url: string;
  topic: string;
  approvedBy: string;
  at: number;
}

export interface Notice {
  key: string;
  to: string;
  text: string;
  at: number;
  messageId: string;
}

/**
 * SIMULATED services of the research agent — the LLM (`plan`, `draft`), the tools (`search`,
 * `fetch`, `summarise`), the publisher (`publish`) and the notifier (`notify`) — in memory,
 * deterministic, no network. Each serves an idempotency key once: a repeated key is answered
 * with the first answer (and nothing is published or sent twice).
 *
 * Knobs for tests: `failures[service]` makes the next calls of that service fail with a
 * `RetryableError` (retry after `retryAfterMs`); `latencyMs` is the real-time latency of every
 * call (0: none); `hold(service)` makes calls of that service wait until `release(service)` (or
 * until the workflow stops them), to catch one in flight; `now` is the services' clock (point it
 * at the runtime's simulated clock).
 */
export const simulatedResearchServices = {
  /** Every call, in arrival order, with its key, attempt and outcome. */
  calls: [] as ServiceCall[],
  /** How many of the next calls of each service fail with a RetryableError. */
  failures: {} as Partial<Record<ServiceName, number>>,
  /** The `retryAfter` of those failures, in ms of workflow time. */
  retryAfterMs: 1_000,
  /**
   * Real-time latency of each call, in ms: a little, to look like a remote call; 0 for none.
   * `DURASTATE_SIM_LATENCY_MS` sets it for a process (`npm start` slows the services down so
   * that a crash lands midway).
   */
  latencyMs: Number(process.env.DURASTATE_SIM_LATENCY_MS) || 5,
  /** The services' idea of the time. */
  now: (): number => Date.now(),
  /** What `publish` published. */
  published: [] as Publication[],
  /** What `notify` sent. */
  notices: [] as Notice[],
  /** Answers by idempotency key. */
  answers: new Map<string, unknown>(),
  /** Services whose calls wait for `release`. */
  held: new Set<ServiceName>(),
  waiters: [] as Array<{ service: ServiceName; resume: () => void }>,
  hold(service: ServiceName): void {
    this.held.add(service);
  },
  release(service: ServiceName): void {
    this.held.delete(service);
    const waiting = this.waiters.filter((w) => w.service === service);
    this.waiters = this.waiters.filter((w) => w.service !== service);
    for (const w of waiting) w.resume();
  },
  /** The calls of one service. */
  callsOf(service: ServiceName): ServiceCall[] {
    return this.calls.filter((c) => c.service === service);
  },
  reset(): void {
    this.calls = [];
    this.failures = {};
    this.retryAfterMs = 1_000;
    this.latencyMs = 5;
    this.now = () => Date.now();
    this.published = [];
    this.notices = [];
    this.answers = new Map();
    this.held = new Set();
    this.waiters = [];
  },
};

const services = simulatedResearchServices;

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** One simulated call: logged, held, delayed, failed, or answered (once per key). */
async function serve<T>(service: ServiceName, args: EffectArgs<unknown>, detail: string, work: () => T): Promise<T> {
  const call: ServiceCall = { service, key: args.key, attempt: args.attempt, at: services.now(), detail, outcome: 'pending' };
  services.calls.push(call);
  const stop = aborted(args.signal);
  stop.catch(() => {});
  try {
    if (services.held.has(service)) {
      await Promise.race([new Promise<void>((resume) => services.waiters.push({ service, resume })), stop]);
    }
    if (services.latencyMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, services.latencyMs))), stop]).finally(() => clearTimeout(timer));
    }
  } catch (err) {
    call.outcome = 'aborted';
    throw err;
  }
  const failing = services.failures[service] ?? 0;
  if (failing > 0) {
    services.failures[service] = failing - 1;
    call.outcome = 'failed';
    throw new RetryableError(`simulated ${service} unavailable (503)`, { retryAfter: services.retryAfterMs });
  }
  if (services.answers.has(args.key)) {
    call.outcome = 'replayed';
    return services.answers.get(args.key) as T;
  }
  let answer: T;
  try {
    answer = work();
  } catch (err) {
    call.outcome = 'failed';
    throw err;
  }
  services.answers.set(args.key, answer);
  call.outcome = 'ok';
  return answer;
}

const slug = (text: string): string =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'topic';

/**
 * The simulated planner's answer: `search` the topic, then `fetch` the first search hit for a
 * two-word topic, the first two for a longer one, then `summarise`. So 2–4 steps, the same for
 * the same topic.
 */
export function planFor(topic: string): PlanStep[] {
  const words = topic.trim().split(/\s+/).filter(Boolean).length;
  const fetches = Math.min(2, Math.max(0, words - 1));
  return [
    { tool: 'search', arg: topic },
    ...Array.from({ length: fetches }, (_, i): PlanStep => ({ tool: 'fetch', arg: String(i + 1) })),
    { tool: 'summarise', arg: 'findings' },
  ];
}

function runTool(input: ToolInput): ToolResult {
  const { topic, index, step, results } = input;
  const base = { step: index, tool: step.tool, ok: true };
  switch (step.tool) {
    case 'search': {
      const sources = [1, 2, 3].map((n) => `https://sim.example/${slug(step.arg)}/${n}`);
      return { ...base, text: `3 results for "${step.arg}"`, sources };
    }
    case 'fetch': {
      const hits = results.find((r) => r.tool === 'search' && r.ok)?.sources ?? [];
      const url = hits[Number(step.arg) - 1];
      if (url === undefined) throw new TerminalError(`no search hit ${step.arg} to fetch`);
      return { ...base, text: `${url}: notes on ${topic}, part ${step.arg}`, sources: [url] };
    }
    case 'summarise': {
      const found = results.filter((r) => r.ok);
      const sources = [...new Set(found.flatMap((r) => r.sources))];
      const text = found.length
        ? `${topic}: ${found.length} finding(s) from ${sources.length} source(s) — ${found.map((r) => r.text).join('; ')}`
        : `${topic}: nothing found`;
      return { ...base, text, sources };
    }
  }
}

function writeDraft(input: DraftInput): string {
  const summary = [...input.results].reverse().find((r) => r.tool === 'summarise' && r.ok);
  const missing = input.results.filter((r) => !r.ok);
  const sources = [...new Set(input.results.filter((r) => r.ok).flatMap((r) => r.sources))];
  const last = input.feedback[input.feedback.length - 1];
  return [
    `# ${input.topic}`,
    '',
    summary?.text ?? input.results.filter((r) => r.ok).map((r) => r.text).join('\n'),
    ...(missing.length ? ['', `Unavailable: ${missing.map((r) => `${r.tool} (${r.text})`).join(', ')}`] : []),
    '',
    `Sources: ${sources.length ? sources.join(', ') : 'none'}`,
    ...(input.revision > 0 && last !== undefined ? ['', `Revision ${input.revision}: addressed "${last}"`] : []),
  ].join('\n');
}

const tool = (name: ToolName) =>
  withRetry(
    fromEffect(async (args: EffectArgs<ToolInput>): Promise<ToolResult> => serve(name, args, args.input.step.arg, () => runTool(args.input))),
    { attempts: TOOL_ATTEMPTS, initialDelay: 1_000, jitter: 0 },
  );

/** The text of an effect's error, for the context (which holds JSON, not Error objects). */
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The runtime's progress for a leaf state, from its context (see `meta.progress`). */
const toolProgress = (context: unknown): number => {
  const c = context as ResearchContext;
  return 10 + (60 * c.stepIndex) / Math.max(1, c.plan.length);
};

export const researchAgentMachine = setup({
  types: {
    context: {} as ResearchContext,
    input: {} as ResearchInput,
    events: {} as ResearchEvent,
    output: {} as ResearchOutput,
  },
  delays: { APPROVAL_DEADLINE_MS, ESCALATION_DEADLINE_MS },
  actors: {
    plan: withRetry(
      fromEffect(async (args: EffectArgs<{ topic: string }>): Promise<PlanStep[]> => serve('plan', args, args.input.topic, () => planFor(args.input.topic))),
      { attempts: LLM_ATTEMPTS, initialDelay: 1_000, jitter: 0 },
    ),
    search: tool('search'),
    fetch: tool('fetch'),
    summarise: tool('summarise'),
    draft: withRetry(
      fromEffect(async (args: EffectArgs<DraftInput>): Promise<string> => serve('draft', args, `revision ${args.input.revision}`, () => writeDraft(args.input))),
      { attempts: LLM_ATTEMPTS, initialDelay: 1_000, jitter: 0 },
    ),
    publish: withRetry(
      fromEffect(async (args: EffectArgs<PublishInput>): Promise<string> =>
        serve('publish', args, args.input.topic, () => {
          const url = `https://sim.example/published/${slug(args.input.topic)}-${services.published.length + 1}`;
          services.published.push({ key: args.key, url, topic: args.input.topic, approvedBy: args.input.approvedBy, at: services.now() });
          return url;
        }),
      ),
      { attempts: PUBLISH_ATTEMPTS, initialDelay: 1_000, jitter: 0 },
    ),
    notify: withRetry(
      fromEffect(async (args: EffectArgs<NotifyInput>): Promise<string> =>
        serve('notify', args, args.input.to, () => {
          const messageId = `sim-notice-${services.notices.length + 1}`;
          const text = `Draft on "${args.input.topic}" is past its approval deadline (approver: ${args.input.approver}); anyone may now approve or reject it.`;
          services.notices.push({ key: args.key, to: args.input.to, text, at: services.now(), messageId });
          return messageId;
        }),
      ),
      { attempts: NOTIFY_ATTEMPTS, initialDelay: 1_000, jitter: 0 },
    ),
  },
  guards: {
    nextToolIs: ({ context }, params: { tool: ToolName }) => context.plan[context.stepIndex]?.tool === params.tool,
    // Before the deadline only the approver decides. An event without `by` (a UI asking what is
    // accepted, or a caller leaving it out) is the approver's.
    byApprover: ({ context, event }) => {
      const by = (event as { by?: string }).by;
      return by === undefined || by === context.approver;
    },
    mayRevise: ({ context, event }) => {
      const by = (event as { by?: string }).by;
      return context.revisions < context.maxRevisions && (by === undefined || by === context.approver);
    },
  },
  actions: {
    recordResult: assign(({ context, event }) => ({
      results: [...context.results, (event as unknown as { output: ToolResult }).output],
      stepIndex: context.stepIndex + 1,
    })),
    recordToolFailure: assign(({ context, event }) => {
      const step = context.plan[context.stepIndex];
      const failed: ToolResult = {
        step: context.stepIndex,
        tool: step?.tool ?? 'search',
        ok: false,
        text: messageOf((event as unknown as { error: unknown }).error),
        sources: [],
      };
      return { results: [...context.results, failed], stepIndex: context.stepIndex + 1 };
    }),
    fail: assign(({ event }) => ({ outcome: 'failed' as const, reason: messageOf((event as unknown as { error: unknown }).error) })),
  },
}).createMachine({
  id: 'researchAgent',
  context: ({ input }) => ({
    topic: input.topic,
    approver: input.approver,
    maxRevisions: input.maxRevisions ?? DEFAULT_MAX_REVISIONS,
    escalateTo: input.escalateTo ?? DEFAULT_ESCALATE_TO,
    plan: [],
    stepIndex: 0,
    results: [],
    draft: null,
    revisions: 0,
    feedback: [],
    escalated: false,
    notification: null,
    outcome: null,
    decidedBy: null,
    reason: null,
    publishedUrl: null,
  }),
  initial: 'planning',
  states: {
    planning: {
      meta: { progress: 5 },
      invoke: {
        id: 'plan',
        src: 'plan',
        input: ({ context }) => ({ topic: context.topic }),
        onDone: { target: 'tools', actions: assign(({ event }) => ({ plan: event.output, stepIndex: 0, results: [] })) },
        onError: { target: 'failed', actions: 'fail' },
      },
    },
    tools: {
      initial: 'next',
      states: {
        // Transient: routes to the state of the next step's tool, or on to drafting.
        next: {
          always: [
            { guard: { type: 'nextToolIs', params: { tool: 'search' } }, target: 'search' },
            { guard: { type: 'nextToolIs', params: { tool: 'fetch' } }, target: 'fetch' },
            { guard: { type: 'nextToolIs', params: { tool: 'summarise' } }, target: 'summarise' },
            { target: '#researchAgent.drafting' },
          ],
        },
        search: {
          meta: { progress: toolProgress },
          invoke: {
            id: 'search',
            src: 'search',
            input: ({ context }) => toolInput(context),
            onDone: { target: 'next', actions: 'recordResult' },
            onError: { target: 'next', actions: 'recordToolFailure' },
          },
        },
        fetch: {
          meta: { progress: toolProgress },
          invoke: {
            id: 'fetch',
            src: 'fetch',
            input: ({ context }) => toolInput(context),
            onDone: { target: 'next', actions: 'recordResult' },
            onError: { target: 'next', actions: 'recordToolFailure' },
          },
        },
        summarise: {
          meta: { progress: toolProgress },
          invoke: {
            id: 'summarise',
            src: 'summarise',
            input: ({ context }) => toolInput(context),
            onDone: { target: 'next', actions: 'recordResult' },
            onError: { target: 'next', actions: 'recordToolFailure' },
          },
        },
      },
    },
    drafting: {
      // A revised draft stays where the approval was: the progress bar never goes back.
      meta: { progress: (context: unknown) => ((context as ResearchContext).revisions > 0 ? 85 : 75) },
      invoke: {
        id: 'draft',
        src: 'draft',
        input: ({ context }) => ({ topic: context.topic, results: context.results, feedback: context.feedback, revision: context.revisions }),
        onDone: { target: 'awaitingApproval', actions: assign(({ event }) => ({ draft: event.output })) },
        onError: { target: 'failed', actions: 'fail' },
      },
    },
    awaitingApproval: {
      meta: { progress: 85 },
      after: { APPROVAL_DEADLINE_MS: 'escalated' },
      on: {
        APPROVE: {
          guard: 'byApprover',
          target: 'publishing',
          actions: assign(({ context, event }) => ({ decidedBy: event.by ?? context.approver })),
        },
        REVISE: {
          guard: 'mayRevise',
          target: 'drafting',
          actions: assign(({ context, event }) => ({
            revisions: context.revisions + 1,
            feedback: [...context.feedback, event.feedback ?? ''],
          })),
        },
        REJECT: {
          guard: 'byApprover',
          target: 'rejected',
          actions: assign(({ context, event }) => ({
            outcome: 'rejected' as const,
            decidedBy: event.by ?? context.approver,
            reason: event.reason ?? null,
          })),
        },
      },
    },
    escalated: {
      entry: assign({ escalated: true }),
      after: { ESCALATION_DEADLINE_MS: { target: 'expired', actions: assign({ outcome: 'expired' as const }) } },
      on: {
        // From anyone now; without `by` it is taken as the escalation recipient's decision.
        APPROVE: { target: 'publishing', actions: assign(({ context, event }) => ({ decidedBy: event.by ?? context.escalateTo })) },
        REJECT: {
          target: 'rejected',
          actions: assign(({ context, event }) => ({
            outcome: 'rejected' as const,
            decidedBy: event.by ?? context.escalateTo,
            reason: event.reason ?? null,
          })),
        },
      },
      initial: 'notifying',
      states: {
        notifying: {
          meta: { progress: 88 },
          invoke: {
            id: 'notify',
            src: 'notify',
            input: ({ context }) => ({ to: context.escalateTo, topic: context.topic, approver: context.approver }),
            onDone: { target: 'awaitingDecision', actions: assign(({ event }) => ({ notification: event.output })) },
            // A notice that could not be sent does not stop the escalation.
            onError: 'awaitingDecision',
          },
        },
        awaitingDecision: { meta: { progress: 90 } },
      },
    },
    publishing: {
      meta: { progress: 95 },
      invoke: {
        id: 'publish',
        src: 'publish',
        input: ({ context }) => ({ topic: context.topic, draft: context.draft ?? '', approvedBy: context.decidedBy ?? context.approver }),
        onDone: { target: 'published', actions: assign(({ event }) => ({ outcome: 'published' as const, publishedUrl: event.output })) },
        onError: { target: 'failed', actions: 'fail' },
      },
    },
    published: { type: 'final' },
    rejected: { type: 'final' },
    expired: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) => ({
    topic: context.topic,
    // Set on the way into every final state.
    outcome: context.outcome ?? 'failed',
    revisions: context.revisions,
    draft: context.draft,
    ...(context.publishedUrl !== null ? { publishedUrl: context.publishedUrl } : {}),
    by: context.outcome === 'published' || context.outcome === 'rejected' ? context.decidedBy : null,
    ...(context.reason !== null ? { reason: context.reason } : {}),
  }),
});

function toolInput(context: ResearchContext): ToolInput {
  const step = context.plan[context.stepIndex];
  // `next` routes here only when the step exists.
  if (!step) throw new TerminalError(`no step ${context.stepIndex} in the plan`);
  return { topic: context.topic, index: context.stepIndex, step, results: context.results };
}
