import type { Command } from 'commander';
import type { RuntimeEvent } from '../../progress/events.js';
import { globals, openRuntime, parseDuration, short } from '../io.js';

/** What a worker says about one runtime event (undefined: not worth a line). */
function describe(e: RuntimeEvent): string | undefined {
  switch (e.type) {
    case 'started':
      return `started     ${e.id} (${e.machine})`;
    case 'recovered':
      return `recovered   ${e.id} (${e.machine}) at seq ${e.seq}`;
    case 'forked':
      return `forked      ${e.id} from ${e.parent.id} at seq ${e.parent.seq}`;
    case 'transition':
      return `  ${e.id} #${e.seq} ${e.event} → ${short(e.value, 50)} (${e.status})`;
    case 'effect.retrying':
      return `retrying    ${e.id} ${e.key} (attempt ${e.attempt} failed: ${e.error.message}; again in ${e.delay} ms)`;
    case 'effect.failed':
      return `effect failed ${e.id} ${e.key}: ${e.error.message}`;
    case 'timer.fired':
      return `timer       ${e.id} ${e.event}`;
    case 'crashed':
      return `crashed     ${e.id}: ${e.error.message}`;
    case 'restarted':
      return `restarted   ${e.id} (attempt ${e.attempt})`;
    case 'completed':
      return `completed   ${e.id}: ${short(e.output, 100)}`;
    case 'failed':
      return `failed      ${e.id}: ${e.error.message}`;
    case 'cancelled':
      return `cancelled   ${e.id}`;
    default:
      return undefined;
  }
}

/**
 * `durastate worker`: a long-running host. It recovers interrupted executions when it starts,
 * looks again every `--recover-every` for executions whose process has gone (or that `run
 * --detach` / `fork --detach` left), runs their effects and timers, consumes events other
 * processes send them, and on SIGINT or SIGTERM stops cleanly: the executions it ran stay
 * running or waiting in the store for the next worker.
 */
export function workerCommand(program: Command): void {
  program
    .command('worker')
    .description('host executions until stopped (SIGINT/SIGTERM): recover, run effects and timers, take events')
    .option('--recover-every <duration>', 'look for interrupted executions this often', '1s')
    .option('--quiet', 'no line per transition')
    .action(async (o: { recoverEvery: string; quiet?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const every = parseDuration(o.recoverEvery, '--recover-every');
      const rt = await openRuntime(opts, false);
      const say = (line: string, value: unknown): void => console.log(opts.json ? JSON.stringify(value) : line);
      const events = rt.events$.subscribe((e) => {
        if (o.quiet && e.type === 'transition') return;
        const line = describe(e);
        if (line !== undefined) say(line, e);
      });
      let timer: NodeJS.Timeout | undefined;
      let recovering: Promise<void> = Promise.resolve();
      let stopping: Promise<void> | undefined;
      const recoverOnce = async (): Promise<void> => {
        try {
          await rt.recover();
        } catch (err) {
          if (!stopping) say(`recovery failed: ${(err as Error).message}`, { type: 'error', message: (err as Error).message });
        }
      };
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          stopping ??= (async () => {
            say(`stopping (${signal}): executions stay in the store for the next worker`, { type: 'stopping', signal });
            clearInterval(timer);
            await recovering;
            await rt.close();
            events.unsubscribe();
            resolve();
          })();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      say(`worker ${rt.ownerId} (pid ${process.pid}) on ${opts.store}`, { type: 'ready', owner: rt.ownerId, pid: process.pid, store: opts.store });
      recovering = recoverOnce();
      await recovering;
      let busy = false;
      timer = setInterval(() => {
        if (busy || stopping) return;
        busy = true;
        recovering = recoverOnce().finally(() => (busy = false));
      }, every);
      await stopped;
    });
}
