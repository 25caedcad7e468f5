import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { ExecutionHasForksError, ExecutionNotFoundError, InvalidArgumentError } from '../../errors.js';
import type { Runtime } from '../../runtime/Runtime.js';
import type { ExecutionInfo } from '../../runtime/types.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../../store/Store.js';
import type { ForkSnapshot } from '../../timeline/types.js';
import { follow, ProgressView } from '../follow.js';
import { eventOf, globals, parseDuration, parseJson, parseValue, pointOf, print, setPath, short, withRuntime, type GlobalOptions } from '../io.js';

/**
 * Runs an execution this process hosts until only an event or a timer can move it (or it ends),
 * then reports where it stands. An execution left waiting is picked up by `durastate worker`.
 */
async function runHere(rt: Runtime, id: string, opts: GlobalOptions): Promise<ExecutionInfo> {
  const view = new ProgressView(opts, true);
  try {
    await follow(rt, id, view, true);
  } finally {
    view.stop();
  }
  const info = await rt.get(id);
  if (!info) throw new ExecutionNotFoundError(id);
  return info;
}

/** Prints where an execution ended up; a failed one makes the command exit 1. */
function report(opts: GlobalOptions, info: ExecutionInfo, prefix = ''): void {
  print(opts, info, () => `${prefix}${outcome(info)}`);
  if (info.status === 'failed') process.exitCode = 1;
}

function outcome(info: ExecutionInfo): string {
  if (info.status === 'completed') return `${info.id} completed (seq ${info.seq}): ${short(info.output, 300)}`;
  if (info.status === 'failed') return `${info.id} failed (seq ${info.seq}): ${info.error?.name}: ${info.error?.message}`;
  if (info.status === 'cancelled') return `${info.id} cancelled (seq ${info.seq})${info.cancelReason ? `: ${info.cancelReason}` : ''}`;
  const lines = [`${info.id} is ${info.status} in ${JSON.stringify(info.value)} (seq ${info.seq})`];
  if (info.accepts.length) lines.push(`  accepts: ${info.accepts.join(', ')}   (durastate send ${info.id} <EVENT>)`);
  for (const t of info.timers) lines.push(`  timer:   ${short(t.event, 60)} due ${t.dueAt.toISOString()}   (a durastate worker fires it)`);
  return lines.join('\n');
}

/** Commands that change executions: run, send, fork, retry, cancel, rm, gc. */
export function actCommands(program: Command): void {
  program
    .command('run <machine>')
    .description('start an execution and run it here until it waits for an event or a timer, or ends')
    .option('--input <json>', 'the input, as JSON')
    .option('--id <id>', 'the execution id (default: a random UUID)')
    .option('--detach', 'only start it (commit its first transition); a worker runs it')
    .action(async (machine: string, o: { input?: string; id?: string; detach?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const input = o.input === undefined ? undefined : parseJson(o.input, '--input');
      const info = await withRuntime(opts, async (rt) => {
        const { id } = await rt.start(machine, { ...(input !== undefined ? { input } : {}), id: o.id ?? randomUUID(), ...(o.detach ? { detach: true } : {}) });
        if (o.detach) return (await rt.get(id)) as ExecutionInfo;
        return runHere(rt, id, opts);
      });
      report(opts, info);
    });

  program
    .command('send <id> <event>')
    .description('send an event: a type (with --data) or a JSON object with a "type"')
    .option('--data <json>', 'fields of the event besides its type, as a JSON object')
    .option('--key <key>', 'idempotency key: an event with a key already applied is not applied again')
    .option('--timeout <duration>', 'give up waiting for the owning process after this long (e.g. 30s)')
    .action(async (id: string, arg: string, o: { data?: string; key?: string; timeout?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const event = eventOf(arg, o.data);
      const result = await withRuntime(opts, async (rt) => {
        const sent = await rt.send(id, event, { ...(o.key !== undefined ? { key: o.key } : {}), ...(o.timeout ? { timeoutMs: parseDuration(o.timeout, '--timeout') } : {}) });
        // Hosted here (no live worker owned it): carry on until it waits again, not half-way.
        const info = (await rt.stats()).hosted > 0 ? await runHere(rt, id, opts) : await rt.get(id);
        return { ...sent, execution: info };
      });
      print(opts, result, () => `${event.type} applied at seq ${result.seq}${result.duplicate ? ' (duplicate key: applied before, not again)' : ''}\n${result.execution ? outcome(result.execution) : ''}`);
    });

  program
    .command('fork <id>')
    .description('a new execution from a point of this one, optionally with an edited context')
    .option('--seq <seq>', 'fork after this transition')
    .option('--at <date>', 'fork after the last transition at or before this time')
    .option('--set <path=value...>', 'set a context path (dots, [n]); the value is JSON or a string')
    .option('--update <json>', 'a JSON object merged into the context')
    .option('--id <id>', 'the fork id (default: a random UUID)')
    .option('--reuse-effects', "effects in flight at the point get the parent's recorded results instead of running again")
    .option('--detach', 'only create it; a worker runs it')
    .action(async (id: string, o: { seq?: string; at?: string; set?: string[]; update?: string; id?: string; reuseEffects?: boolean; detach?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const point = pointOf(o);
      const merge = o.update === undefined ? undefined : parseJson(o.update, '--update');
      if (merge !== undefined && (typeof merge !== 'object' || merge === null || Array.isArray(merge))) throw new InvalidArgumentError('--update must be a JSON object');
      const sets = (o.set ?? []).map((pair) => {
        const at = pair.indexOf('=');
        if (at <= 0) throw new InvalidArgumentError(`--set needs path=value, got "${pair}"`);
        return { path: pair.slice(0, at).replace(/^context\./, ''), value: parseValue(pair.slice(at + 1)) };
      });
      const update =
        merge === undefined && sets.length === 0
          ? undefined
          : (s: ForkSnapshot): ForkSnapshot => {
              const context = { ...(s.context as Record<string, unknown>), ...(merge as Record<string, unknown> | undefined) };
              for (const { path, value } of sets) setPath(context, path, value);
              return { ...s, context: context as ForkSnapshot['context'] };
            };
      const info = await withRuntime(opts, async (rt) => {
        const fork = await rt.fork(id, { ...point, ...(update ? { update } : {}), id: o.id ?? randomUUID(), start: !o.detach, ...(o.reuseEffects ? { effects: 'reuse' as const } : {}) });
        if (o.detach) return (await rt.get(fork.id)) as ExecutionInfo;
        return runHere(rt, fork.id, opts);
      });
      report(opts, info, `forked ${info.id} from ${id} at seq ${info.parent?.seq}\n`);
    });

  program
    .command('retry <id>')
    .description('restart a failed execution from its last good snapshot')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const info = await withRuntime(opts, async (rt) => {
        await rt.retry(id);
        return runHere(rt, id, opts);
      });
      report(opts, info);
    });

  program
    .command('cancel <id>')
    .description('stop an execution durably (status cancelled)')
    .option('--reason <text>', 'why, kept with it')
    .action(async (id: string, o: { reason?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const info = await withRuntime(opts, async (rt) => {
        await rt.cancel(id, o.reason);
        return (await rt.get(id)) as ExecutionInfo;
      });
      print(opts, info, () => outcome(info));
    });

  program
    .command('rm <id>')
    .description('delete an execution and its history')
    .option('--forks <what>', "if it has forks: 'delete' them too, or 'materialise' their shared history first (default: refuse)")
    .action(async (id: string, o: { forks?: string }, cmd: Command) => {
      const opts = globals(cmd);
      if (o.forks !== undefined && o.forks !== 'delete' && o.forks !== 'materialise') throw new InvalidArgumentError(`--forks is 'delete' or 'materialise', got "${o.forks}"`);
      await withRuntime(opts, (rt) =>
        rt.delete(id, o.forks ? { forks: o.forks as 'delete' | 'materialise' } : {}).catch((err: unknown) => {
          // Say it in the command's words.
          if (err instanceof ExecutionHasForksError) err.message = `Execution "${id}" has ${err.forks.length} fork${err.forks.length === 1 ? '' : 's'} (${err.forks.join(', ')}) reading its history; pass --forks delete (delete them too) or --forks materialise (give them their own copy first)`;
          throw err;
        }),
      );
      print(opts, { deleted: id }, () => `deleted ${id}`);
    });

  program
    .command('gc')
    .description('delete finished executions older than a duration (those whose forks remain are kept)')
    .requiredOption('--older-than <duration>', 'e.g. 7d, 12h, 30m')
    .option('--status <status...>', `only these statuses (default: completed failed cancelled)`)
    .action(async (o: { olderThan: string; status?: string[] }, cmd: Command) => {
      const opts = globals(cmd);
      const olderThan = parseDuration(o.olderThan, '--older-than');
      for (const s of o.status ?? []) if (!EXECUTION_STATUSES.includes(s as ExecutionStatus)) throw new InvalidArgumentError(`unknown status "${s}" (one of ${EXECUTION_STATUSES.join(', ')})`);
      const result = await withRuntime(opts, (rt) => rt.cleanup({ olderThan, ...(o.status ? { status: o.status as ExecutionStatus[] } : {}) }));
      print(opts, result, () => `deleted ${result.deleted}${result.kept ? `, kept ${result.kept} that still have forks` : ''}`);
    });
}

