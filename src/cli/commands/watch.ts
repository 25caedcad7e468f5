import type { Command } from 'commander';
import type { Subscription } from 'rxjs';
import { ExecutionNotFoundError } from '../../errors.js';
import { ACTIVE_STATUSES } from '../../store/Store.js';
import { follow, ProgressView } from '../follow.js';
import { globals, openRuntime, parseDuration, print } from '../io.js';

/**
 * `durastate watch [id]`: live progress of one execution (until it ends) or of all active ones
 * (until interrupted, or `--exit-when-idle`), read from the store: it follows executions that
 * other processes run.
 */
export function watchCommand(program: Command): void {
  program
    .command('watch [id]')
    .description('live progress bars of one execution, or of all running and waiting ones (also those other processes run)')
    .option('--exit-when-idle', 'without an id: stop once no execution is running or waiting')
    .option('--poll <duration>', 'without an id: look for new executions this often', '1s')
    .action(async (id: string | undefined, o: { exitWhenIdle?: boolean; poll: string }, cmd: Command) => {
      const opts = globals(cmd);
      const rt = await openRuntime(opts, false);
      const view = new ProgressView(opts);
      try {
        if (id !== undefined) {
          if (!(await rt.get(id))) throw new ExecutionNotFoundError(id);
          const last = await follow(rt, id, view, false);
          view.stop();
          if (!opts.json) print(opts, last, () => `${id} ${last.status} at seq ${last.seq}`);
          return;
        }
        await watchAll(rt, view, parseDuration(o.poll, '--poll'), o.exitWhenIdle ?? false);
      } finally {
        view.stop();
        await rt.close();
      }
    });
}

async function watchAll(rt: Awaited<ReturnType<typeof openRuntime>>, view: ProgressView, pollMs: number, exitWhenIdle: boolean): Promise<void> {
  const watched = new Map<string, Subscription>();
  const active = new Set<string>();
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!interrupted) {
      for (const status of ACTIVE_STATUSES) {
        let cursor: string | undefined;
        do {
          const page = await rt.list({ status, limit: 500, ...(cursor ? { cursor } : {}) });
          cursor = page.cursor;
          for (const item of page.items) {
            if (watched.has(item.id)) continue;
            active.add(item.id);
            watched.set(
              item.id,
              rt.progress$(item.id).subscribe({
                next: (p) => {
                  view.update(p);
                  if (p.status !== 'running' && p.status !== 'waiting') active.delete(p.id);
                },
                error: () => active.delete(item.id),
                complete: () => active.delete(item.id),
              }),
            );
          }
        } while (cursor);
      }
      if (exitWhenIdle && active.size === 0) break;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const s of watched.values()) s.unsubscribe();
  }
}
