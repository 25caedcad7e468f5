/**
 * The `durastate` command: inspect a store from the shell. (A later version adds run, worker,
 * send, fork, watch and gc.)
 */
import { Command } from 'commander';
import type { AnyStateMachine } from 'xstate';
import { DurastateError } from '../errors.js';
import { createRuntime, type Runtime } from '../runtime/Runtime.js';
import { lmdbStore } from '../store/lmdbStore.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../store/Store.js';

interface GlobalOptions {
  store: string;
  json?: boolean;
  machines?: string;
}

async function loadMachines(module: string | undefined): Promise<AnyStateMachine[]> {
  const url = module ? new URL(module, `file://${process.cwd()}/`).href : new URL('../../machines/index.js', import.meta.url).href;
  const exported = (await import(url)) as Record<string, unknown>;
  return Object.values(exported).filter(
    (v): v is AnyStateMachine => typeof v === 'object' && v !== null && 'root' in v && 'getPersistedSnapshot' in v,
  );
}

async function withRuntime<T>(opts: GlobalOptions, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await createRuntime({ store: lmdbStore({ path: opts.store }), machines: await loadMachines(opts.machines), recover: false });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

function print(opts: GlobalOptions, value: unknown, text: () => string): void {
  console.log(opts.json ? JSON.stringify(value, null, 2) : text());
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

export function buildProgram(): Command {
  const program = new Command('durastate')
    .description('Durable XState workflows on LMDB: inspect executions in a store.')
    .option('--store <path>', 'LMDB store folder', process.env.DURASTATE_STORE ?? './.durastate')
    .option('--machines <module>', 'module exporting the machines (default: the bundled examples)')
    .option('--json', 'print JSON for scripts');

  program
    .command('ls')
    .description('list executions')
    .option('--status <status>', `only this status (${EXECUTION_STATUSES.join(', ')})`)
    .option('--machine <id>', 'only this machine')
    .option('--limit <n>', 'at most n', '100')
    .action(async (o: { status?: ExecutionStatus; machine?: string; limit: string }) => {
      const opts = program.opts<GlobalOptions>();
      const page = await withRuntime(opts, (rt) =>
        rt.list({ limit: Number(o.limit), ...(o.status ? { status: o.status } : {}), ...(o.machine ? { machine: o.machine } : {}) }),
      );
      print(opts, page, () =>
        table([
          ['ID', 'MACHINE', 'STATUS', 'SEQ', 'STATE', 'UPDATED'],
          ...page.items.map((i) => [i.id, i.machine, i.blocked ? `${i.status} (blocked)` : i.status, String(i.seq), JSON.stringify(i.value), i.updatedAt.toISOString()]),
        ]),
      );
    });

  program
    .command('show <id>')
    .description('one execution: status, state, context, accepted events, output, error')
    .action(async (id: string) => {
      const opts = program.opts<GlobalOptions>();
      const info = await withRuntime(opts, (rt) => rt.get(id));
      if (!info) throw new DurastateError('EXECUTION_NOT_FOUND', `No execution "${id}"`);
      print(opts, info, () =>
        [
          `id        ${info.id}`,
          `machine   ${info.machine} (${info.machineVersion})`,
          `status    ${info.status}${info.blocked ? ` — blocked: ${info.blocked.message}` : ''}`,
          `state     ${JSON.stringify(info.value)}  (seq ${info.seq})`,
          `accepts   ${info.accepts.join(', ') || '-'}`,
          `context   ${JSON.stringify(info.context)}`,
          ...(info.output !== undefined ? [`output    ${JSON.stringify(info.output)}`] : []),
          ...(info.error ? [`error     ${info.error.name}: ${info.error.message}`] : []),
          `created   ${info.createdAt.toISOString()}`,
          `updated   ${info.updatedAt.toISOString()}`,
        ].join('\n'),
      );
    });

  program
    .command('history <id>')
    .description('the committed transitions of an execution')
    .option('--from <seq>', 'first seq')
    .option('--limit <n>', 'at most n')
    .action(async (id: string, o: { from?: string; limit?: string }) => {
      const opts = program.opts<GlobalOptions>();
      const entries = await withRuntime(opts, (rt) =>
        rt.history(id, { ...(o.from ? { from: Number(o.from) } : {}), ...(o.limit ? { limit: Number(o.limit) } : {}) }),
      );
      print(opts, entries, () =>
        table([
          ['SEQ', 'AT', 'EVENT', 'STATE', 'STATUS'],
          ...entries.map((e) => [String(e.seq), e.at.toISOString(), (e.event as { type: string }).type, JSON.stringify(e.value), e.status]),
        ]),
      );
    });

  program
    .command('stats')
    .description('executions by status')
    .action(async () => {
      const opts = program.opts<GlobalOptions>();
      const stats = await withRuntime(opts, (rt) => rt.stats());
      print(opts, { total: stats.total, byStatus: stats.byStatus }, () =>
        table([['STATUS', 'COUNT'], ...Object.entries(stats.byStatus).map(([s, n]) => [s, String(n)]), ['total', String(stats.total)]]),
      );
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    const code = err instanceof DurastateError ? ` [${err.code}]` : '';
    console.error(`durastate: ${err instanceof Error ? err.message : String(err)}${code}`);
    return 1;
  }
}
