import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { StoreBusyError } from '../errors.js';

// Why this exists: lmdb-js (3.x, its mdb.c `mdb_env_open2`) sets the shared "last committed
// transaction" of the lock file to the meta page it read at the start of every open, without
// the write lock; upstream LMDB does so only for MDB_PREVSNAPSHOT. When another process commits
// while a process is opening the environment, that id goes back by one, the next write
// transaction of any process starts from the older meta page, and the commit in between is
// lost without an error (or the tree is damaged: "mdb_page_touch no parent"). See README,
// "Known defect", and bench/lmdbDefect.mjs.
//
// So a durastate process opens a store only while every other durastate process that has it
// open holds back its writes, with these files in the store's folder:
//   gate/writers/<pid>-<n>  one per open store handle: "pid start-time" of its process, and
//                           on a second line the store's folder (a copied store's files name
//                           another folder: their processes do not answer here);
//   gate/opening/           the one process opening (or closing) the store now: made aside with
//                           its owner inside and renamed into place (atomic, never empty);
//   gate/opening/owner      that process, to find an opener that died;
//   gate/ending/            held while a process removes an opening left by a dead one;
//   gate/opening/ack-<pid>-<n>  a handle's answer: nothing in flight, nothing issued until
//                           gate/opening is gone.
// Processes that are gone (pid not alive, or alive with another start time), and files that
// name another folder, are skipped and removed.

const GATE = 'gate';
const OPENING = 'opening';
const WRITERS = 'writers';
/** A removal lock older than this was left by a process that died in it. */
const ENDING_STALE_MS = 2_000;
/** How often a handle looks at the gate besides the folder's change events. */
const POLL_MS = 100;

/** A process's start time from /proc: with the pid it names one process, a reused pid another. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

const SELF = `${process.pid} ${startTime(process.pid)}`;

function alive(identity: string): boolean {
  const [pidText, start = ''] = (identity.split('\n')[0] ?? '').trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return start === '' || startTime(pid) === '' || startTime(pid) === start;
}

/** A file's content; undefined when it is not there (or empty, which files written whole never are). */
function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8') || undefined;
  } catch {
    return undefined;
  }
}

let asides = 0;

/** A new name beside the gate's files, for something made there and then renamed into place. */
const aside = (gate: string, kind: string): string => join(gate, `.${kind}-${process.pid}-${++asides}`);

/**
 * Writes a file others read by renaming it into place: a reader never sees it half written
 * (an empty owner once looked like a dead process, and its opening was ended under it).
 */
function writeWhole(gate: string, file: string, content: string): void {
  const tmp = aside(gate, 'tmp');
  writeFileSync(tmp, content);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Whether a file of the gate was written by a process that has `folder` open. */
function here(content: string, folder: string): boolean {
  const named = content.split('\n')[1];
  return named === undefined || named === folder;
}

/** Whether an opening's owner (undefined: the folder is gone) is a process that is gone, or one that opened another folder (the store was copied). */
function stale(owner: string | undefined, folder: string): boolean {
  return owner !== undefined && (!alive(owner) || !here(owner, folder));
}

/** Removes the opening folder: renamed away first, so that no answer lands in a folder being removed. */
function removeOpening(gate: string): void {
  const away = aside(gate, 'ended');
  try {
    renameSync(join(gate, OPENING), away);
  } catch {
    return; // gone already
  }
  rmSync(away, { recursive: true, force: true, maxRetries: 5, retryDelay: 2 });
}

/**
 * Removes an opening left by `owner`, a process that is gone, unless another opening has taken
 * its place since it was read. Removers take turns (`gate/ending`), and the owner is read again
 * inside: only a removal changes an existing opening, so it is still `owner`'s when removed.
 */
function endStale(gate: string, owner: string): void {
  const lock = join(gate, 'ending');
  try {
    mkdirSync(lock);
  } catch {
    try {
      if (Date.now() - statSync(lock).mtimeMs > ENDING_STALE_MS) rmSync(lock, { recursive: true, force: true });
    } catch {
      // gone meanwhile
    }
    return; // another process is removing it; the caller looks again
  }
  try {
    if (read(join(gate, OPENING, 'owner')) === owner) removeOpening(gate);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Makes the opening folder with `owner` inside, in one rename; false when there is one. */
function createOpening(gate: string, owner: string): boolean {
  const made = aside(gate, 'new');
  mkdirSync(made);
  writeFileSync(join(made, 'owner'), owner);
  try {
    renameSync(made, join(gate, OPENING));
    return true;
  } catch (err) {
    rmSync(made, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw err;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits for this process's turn to open the LMDB environment in `dir`, then until every other
 * open handle of it has held back its writes. Call the returned function once the environment
 * is open and this handle is registered ({@link registerWriter}): the others go on writing.
 *
 * @example
 * ```ts
 * const done = await enterOpen(path);
 * try { env = open({ path }); registration = registerWriter(path, hooks); } finally { done(); }
 * ```
 */
export function enterOpen(dir: string, timeoutMs = 10_000): Promise<() => void> {
  return takeTurn(dir, timeoutMs, true);
}

/**
 * Waits for this process's turn to close the LMDB environment in `dir`: closing and opening
 * should not overlap either. The last process to close an environment destroys the lock file's
 * mutexes (mdb.c, `mdb_env_close0`), and a process opening it at that moment (waiting for its
 * file lock) would go on with them destroyed instead of making new ones. Not seen here: read in
 * mdb.c, and cheap to rule out. Keep this handle registered until the environment is closed, so
 * that no process opens while its last commits are in flight.
 *
 * @example
 * ```ts
 * const done = await enterClose(path);
 * try { await env.close(); } finally { registration.close(); done(); }
 * ```
 */
export function enterClose(dir: string, timeoutMs = 10_000): Promise<() => void> {
  return takeTurn(dir, timeoutMs, false);
}

async function takeTurn(dir: string, timeoutMs: number, holdWriters: boolean): Promise<() => void> {
  const gate = join(dir, GATE);
  const opening = join(gate, OPENING);
  mkdirSync(join(gate, WRITERS), { recursive: true });
  const ownerFile = join(opening, 'owner');
  const folder = realpathSync(dir);
  const me = `${SELF} ${randomUUID()}\n${folder}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // This process's turn: the opening folder is its own.
    while (!createOpening(gate, me)) {
      const owner = read(ownerFile);
      if (owner !== undefined && stale(owner, folder)) endStale(gate, owner);
      else if (Date.now() > deadline) {
        const pid = Number(owner?.split(' ')[0]) || undefined;
        throw new StoreBusyError(dir, pid, `process ${pid ?? '?'} has been opening it for more than ${timeoutMs} ms`);
      }
      await sleep(2);
    }
    // Only this process removes its own opening (others remove only a dead process's).
    const done = (): void => {
      if (read(ownerFile) === me) removeOpening(gate);
    };
    try {
      // Every handle answers. (A guard: should the opening ever stop being this process's, it
      // queues again rather than open out of turn.)
      while (read(ownerFile) === me) {
        const waiting = holdWriters ? unanswered(gate, opening, folder) : undefined;
        if (waiting === undefined) return done;
        if (Date.now() > deadline) {
          throw new StoreBusyError(dir, waiting, `process ${waiting} has it open and did not hold back its writes within ${timeoutMs} ms`);
        }
        await sleep(1);
      }
    } catch (err) {
      done();
      throw err;
    }
  }
}

/** The pid of a live handle that has not answered the current opening, removing dead ones. */
function unanswered(gate: string, opening: string, folder: string): number | undefined {
  for (const name of readdirSync(join(gate, WRITERS))) {
    const file = join(gate, WRITERS, name);
    const identity = read(file);
    if (identity === undefined) continue; // closed meanwhile
    if (!alive(identity) || !here(identity, folder)) {
      rmSync(file, { force: true });
      continue;
    }
    if (!existsSync(join(opening, `ack-${name}`))) return Number(identity.split(' ')[0]);
  }
  return undefined;
}

/** What a store handle does when another process opens the store. */
export interface WriterHooks {
  /** Stop issuing writes; resolve once every write issued before is committed. */
  hold(): Promise<void>;
  /** Issue writes again. */
  release(): void;
}

let handles = 0;

/**
 * Registers an open store handle, so that processes opening the store wait for it: when one
 * does, `hooks.hold()` runs, and `hooks.release()` once that open is done (or its process is
 * gone). Call `close()` once the environment is closed (see {@link enterClose}).
 *
 * @example
 * ```ts
 * const registration = registerWriter(path, { hold: async () => { paused = true; await env.committed; }, release: () => (paused = false) });
 * ```
 */
export function registerWriter(dir: string, hooks: WriterHooks): { close(): void } {
  const gate = join(dir, GATE);
  const opening = join(gate, OPENING);
  const name = `${process.pid}-${++handles}`;
  const file = join(gate, WRITERS, name);
  const folder = realpathSync(dir);
  writeWhole(gate, file, `${SELF}\n${folder}`);
  let state: 'writing' | 'holding' | 'held' | 'closed' = 'writing';
  const look = (): void => {
    if (state === 'writing') {
      if (!existsSync(opening)) return;
      state = 'holding';
      // Writes waiting for the release keep nothing else alive: the poll does, until then.
      poll.ref();
      hooks.hold().then(
        () => {
          if (state !== 'holding') return;
          state = 'held';
          look();
        },
        () => {
          // Writes issued before failed: they are not committed, so the opener may go on.
          if (state !== 'holding') return;
          state = 'held';
          look();
        },
      );
    } else if (state === 'held') {
      if (existsSync(opening)) {
        const owner = read(join(opening, 'owner'));
        if (!stale(owner, folder)) {
          // Answer this opening: one open can end and the next begin between two looks.
          const ack = join(opening, `ack-${name}`);
          try {
            if (!existsSync(ack)) writeFileSync(ack, '');
          } catch {
            // That open is over (its folder is gone): the next look releases.
          }
          return;
        }
        if (owner !== undefined) endStale(gate, owner);
        if (existsSync(opening)) return; // another opening stands: the next look answers it
      }
      state = 'writing';
      poll.unref();
      hooks.release();
      look(); // the next opener may already be there
    }
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(gate, (_event, changed) => {
      if (changed === null || changed === OPENING) look();
    });
    watcher.on('error', () => undefined); // the poll below still looks
    watcher.unref();
  } catch {
    // No change events (e.g. the inotify watch limit): the poll alone looks.
  }
  // No first look: a handle registers in its own turn, so no other opening can be there yet.
  const poll = setInterval(look, POLL_MS);
  poll.unref();
  return {
    close(): void {
      const was = state;
      state = 'closed';
      watcher?.close();
      clearInterval(poll);
      rmSync(file, { force: true });
      if (was === 'holding' || was === 'held') hooks.release();
    },
  };
}
