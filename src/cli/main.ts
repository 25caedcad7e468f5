/**
 * The `durastate` command: run, host, inspect, fork and clean up workflows in an LMDB store.
 *
 * Exit codes: 0 done; 1 the operation failed (an execution failed, a store error); 2 bad input
 * (unknown command or option, bad JSON, unknown machine, event not accepted, invalid update);
 * 3 no such execution; 4 locked (another live process runs the execution, or did not let this
 * one open the store in time).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DurastateError, type ErrorCode } from '../errors.js';
import { actCommands } from './commands/act.js';
import { inspectCommands } from './commands/inspect.js';
import { watchCommand } from './commands/watch.js';
import { workerCommand } from './commands/worker.js';

const EXIT: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 2,
  INVALID_EVENT: 2,
  INVALID_UPDATE: 2,
  MACHINE_NOT_FOUND: 2,
  EVENT_NOT_ACCEPTED: 2,
  NON_JSON_STATE: 2,
  EXECUTION_EXISTS: 2,
  EXECUTION_FINISHED: 2,
  HAS_FORKS: 2,
  EXECUTION_NOT_FOUND: 3,
  EXECUTION_LOCKED: 4,
  STORE_BUSY: 4,
};

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function buildProgram(json = false): Command {
  const program = new Command('durastate')
    .description('Durable XState workflows on LMDB: run, host, inspect, fork and clean up executions.')
    .option('--store <path>', 'LMDB store folder (or DURASTATE_STORE)', process.env.DURASTATE_STORE ?? './.durastate')
    .option('--machines <module>', 'module exporting the machines (default: the bundled examples)')
    .option('--json', 'print JSON for scripts')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError(!json)
    .exitOverride();
  // With --json a usage error is a line of JSON too (set before the commands: they inherit it).
  if (json) program.configureOutput({ outputError: (str, write) => write(`${JSON.stringify({ error: { name: 'UsageError', code: 'INVALID_ARGUMENT', message: str.trim().replace(/^error: /, '') } })}\n`) });
  actCommands(program);
  workerCommand(program);
  inspectCommands(program);
  watchCommand(program);
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 failed, 2 bad input, 3 no such execution, 4 locked by another live process.\n' +
      'Examples:\n  durastate run researchAgent --input \'{"topic":"LMDB","approver":"ada"}\'\n  durastate worker\n  durastate watch\n  durastate fork <id> --seq 5 --set approver=bob',
  );
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // The runtime's own waits (a send through another process's inbox, following the store) do
  // not keep a process alive; a command waiting on them must.
  const alive = setInterval(() => {}, 1 << 30);
  // Options are parsed with the command; a usage error can come before, so look for --json now.
  const program = buildProgram(argv.includes('--json'));
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with their own code (0); commander printed the message
      // (with --json, as a line of JSON and without the usage).
      return err.exitCode === 0 ? 0 : 2;
    }
    const code = err instanceof DurastateError ? err.code : undefined;
    const message = err instanceof Error ? err.message : String(err);
    if ((program.opts() as { json?: boolean }).json) {
      // For scripts: one line of JSON on stderr, stdout left empty.
      console.error(JSON.stringify({ error: { name: err instanceof Error ? err.name : 'Error', message, ...(code ? { code } : {}) } }));
    } else {
      console.error(`durastate: ${message}${code ? ` [${code}]` : ''}`);
    }
    return (code && EXIT[code]) ?? 1;
  } finally {
    clearInterval(alive);
  }
}
