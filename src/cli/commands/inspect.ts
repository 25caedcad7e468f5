import type { Command } from 'commander';
import { ExecutionNotFoundError } from '../../errors.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../../store/Store.js';
import type { EffectInfo } from '../../runtime/types.js';
import type { LineageNode } from '../../timeline/types.js';
import { globals, parseSeq, pointOf, print, short, table, withRuntime } from '../io.js';

/** Read-only commands: ls, show, history, state, diff, lineage, stats. */
export function inspectCommands(program: Command): void {
  program
    .command('ls')
    .description('list executions (newest id order, or oldest first within a status)')
    .option('--status <status>', `only this status (${EXECUTION_STATUSES.join(', ')})`)
    .option('--machine <id>', 'only this machine')
    .option('--limit <n>', 'at most n', '100')
    .option('--cursor <cursor>', 'the next page, from a previous --json answer')
    .action(async (o: { status?: ExecutionStatus; machine?: string; limit: string; cursor?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const page = await withRuntime(opts, (rt) =>
        rt.list({ limit: parseSeq(o.limit, '--limit'), ...(o.status ? { status: o.status } : {}), ...(o.machine ? { machine: o.machine } : {}), ...(o.cursor ? { cursor: o.cursor } : {}) }),
      );
      print(opts, page, () =>
        [
          table([
            ['ID', 'MACHINE', 'STATUS', 'SEQ', 'STATE', 'UPDATED'],
            ...page.items.map((i) => [i.id, i.machine, i.blocked ? `${i.status} (blocked)` : i.status, String(i.seq), short(i.value, 40), i.updatedAt.toISOString()]),
          ]),
          ...(page.cursor ? [`… more: --cursor ${page.cursor}`] : []),
        ].join('\n'),
      );
    });

  program
    .command('show <id>')
    .description('one execution: status, state, context, accepted events, timers, effects, output, error')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const info = await withRuntime(opts, (rt) => rt.get(id));
      if (!info) throw new ExecutionNotFoundError(id);
      print(opts, info, () =>
        [
          `id        ${info.id}`,
          `machine   ${info.machine} (${info.machineVersion})`,
          `status    ${info.status}${info.blocked ? ` — blocked: ${info.blocked.message}` : ''}${info.cancelReason ? ` — ${info.cancelReason}` : ''}`,
          `state     ${JSON.stringify(info.value)}  (seq ${info.seq})`,
          `accepts   ${info.accepts.join(', ') || '-'}`,
          ...(info.parent ? [`forked    from ${info.parent.id} at seq ${info.parent.seq}`] : []),
          ...(info.input !== undefined ? [`input     ${short(info.input, 200)}`] : []),
          `context   ${short(info.context, 400)}`,
          ...info.timers.map((t, i) => `${i === 0 ? 'timers' : ''.padEnd(6)}    ${short(t.event, 60)} due ${t.dueAt.toISOString()}`),
          ...info.effects.map((e, i) => `${i === 0 ? 'effects' : ''.padEnd(7)}   ${e.key}  ${effectState(e)}`),
          ...(info.output !== undefined ? [`output    ${short(info.output, 400)}`] : []),
          ...(info.error ? [`error     ${info.error.name}: ${info.error.message}`] : []),
          `created   ${info.createdAt.toISOString()}`,
          `updated   ${info.updatedAt.toISOString()}`,
        ].join('\n'),
      );
    });

  program
    .command('history <id>')
    .description("the committed transitions of an execution (a fork's go on through its parent)")
    .option('--from <seq>', 'first seq')
    .option('--to <seq>', 'last seq')
    .option('--limit <n>', 'at most n')
    .option('--reverse', 'newest first')
    .action(async (id: string, o: { from?: string; to?: string; limit?: string; reverse?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const entries = await withRuntime(opts, (rt) =>
        rt.history(id, {
          ...(o.from ? { from: parseSeq(o.from, '--from') } : {}),
          ...(o.to ? { to: parseSeq(o.to, '--to') } : {}),
          ...(o.limit ? { limit: parseSeq(o.limit, '--limit') } : {}),
          ...(o.reverse ? { reverse: true } : {}),
        }),
      );
      print(opts, entries, () =>
        table([
          ['SEQ', 'AT', 'EVENT', 'STATE', 'STATUS', ''],
          ...entries.map((e) => [
            String(e.seq),
            e.at.toISOString(),
            (e.event as { type: string }).type,
            short(e.value, 50),
            e.status,
            e.from ? `from ${e.from}${e.forkPoint ? ' (fork point)' : ''}` : '',
          ]),
        ]),
      );
    });

  program
    .command('state <id>')
    .description('the execution as it was right after a transition')
    .option('--seq <seq>', 'after this transition')
    .option('--at <date>', 'after the last transition at or before this time (ISO 8601)')
    .action(async (id: string, o: { seq?: string; at?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const point = pointOf(o);
      const state = await withRuntime(opts, (rt) => rt.stateAt(id, point));
      print(opts, state, () =>
        [
          `seq       ${state.seq}${state.from ? `  (from ${state.from})` : ''}`,
          `at        ${state.at.toISOString()}`,
          `event     ${short(state.event, 200)}`,
          `status    ${state.status}`,
          `state     ${JSON.stringify(state.value)}`,
          `context   ${short(state.context, 400)}`,
          ...state.timers.map((t, i) => `${i === 0 ? 'timers' : ''.padEnd(6)}    ${short(t.event, 60)} due ${t.dueAt.toISOString()}`),
          ...state.effects.map((e, i) => `${i === 0 ? 'effects' : ''.padEnd(7)}   ${e.child} in flight, key ${e.key}`),
        ].join('\n'),
      );
    });

  program
    .command('diff <id> <seqA> <seqB>')
    .description('the RFC 6902 patch from one point to another (seqB of --other, if given)')
    .option('--other <id>', 'read seqB from this execution (a fork, its parent)')
    .action(async (id: string, a: string, b: string, o: { other?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const from = { id, seq: parseSeq(a, 'seqA') };
      const to = { id: o.other ?? id, seq: parseSeq(b, 'seqB') };
      const patch = await withRuntime(opts, (rt) => rt.diff(from, to));
      print(opts, patch, () =>
        patch.length === 0 ? 'no difference' : patch.map((op) => `${op.op.padEnd(8)} ${op.path}${'value' in op ? `  ${short(op.value, 100)}` : ''}`).join('\n'),
      );
    });

  program
    .command('lineage <id>')
    .description('ancestors and forks of an execution, with their fork points')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const lineage = await withRuntime(opts, (rt) => rt.lineage(id));
      const lines: string[] = lineage.ancestors.map((a, i) => `${'  '.repeat(i)}${a.id}${a.deleted ? ' (deleted)' : ` ${a.status}`} — forked at seq ${a.seq}`);
      const walk = (node: LineageNode, depth: number): void => {
        lines.push(`${'  '.repeat(depth)}${node.id} ${node.status}, seq ${node.seq}${node.parent ? ` (fork of ${node.parent.id} at ${node.parent.seq})` : ''}`);
        for (const f of node.forks) walk(f, depth + 1);
      };
      walk(lineage.tree, lineage.ancestors.length);
      print(opts, lineage, () => lines.join('\n'));
    });

  program
    .command('stats')
    .description('executions by status')
    .action(async (_o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const stats = await withRuntime(opts, (rt) => rt.stats());
      print(opts, { total: stats.total, byStatus: stats.byStatus }, () =>
        table([['STATUS', 'COUNT'], ...Object.entries(stats.byStatus).map(([s, n]) => [s, String(n)]), ['total', String(stats.total)]]),
      );
    });
}

/** An effect as `show` says it: in flight, waiting to retry, or its outcome. */
function effectState(e: EffectInfo): string {
  if (e.status === 'running') return 'in flight';
  const attempts = `${e.attempts} attempt${e.attempts === 1 ? '' : 's'}`;
  const error = e.error ? ` — ${e.error.message}` : '';
  if (e.status !== 'pending') return `${e.status}, ${attempts}${error}`;
  return `${attempts} failed, ${e.retryAt !== undefined ? `next at ${new Date(e.retryAt).toISOString()}` : 'retrying'}${error}`;
}
