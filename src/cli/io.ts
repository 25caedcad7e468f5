import type { Command } from 'commander';
import type { AnyStateMachine } from 'xstate';
import { InvalidArgumentError } from '../errors.js';
import { createRuntime, type Runtime } from '../runtime/Runtime.js';
import { lmdbStore } from '../store/lmdbStore.js';

/** Options every command takes (before or after the command name). */
export interface GlobalOptions {
  store: string;
  json?: boolean;
  machines?: string;
}

/** The global options as given to `command` or to the program. */
export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** The machines a module exports (every export that is an XState machine); the bundled examples by default. */
export async function loadMachines(module: string | undefined): Promise<AnyStateMachine[]> {
  const url = module ? new URL(module, `file://${process.cwd()}/`).href : new URL('../../machines/index.js', import.meta.url).href;
  let exported: Record<string, unknown>;
  try {
    exported = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`Cannot load machines from ${module ?? 'the bundled examples'}: ${(err as Error).message}`);
  }
  return Object.values(exported).filter(
    (v): v is AnyStateMachine => typeof v === 'object' && v !== null && 'root' in v && 'getPersistedSnapshot' in v,
  );
}

/** Opens a runtime on the store for one command and closes it after, whatever happens. */
export async function withRuntime<T>(opts: GlobalOptions, fn: (rt: Runtime) => Promise<T>, recover = false): Promise<T> {
  const rt = await openRuntime(opts, recover);
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

export async function openRuntime(opts: GlobalOptions, recover: boolean): Promise<Runtime> {
  return createRuntime({ store: lmdbStore({ path: opts.store }), machines: await loadMachines(opts.machines), recover });
}

/** Prints `value` as JSON with `--json`, else the human text. */
export function print(opts: GlobalOptions, value: unknown, text: () => string): void {
  console.log(opts.json ? JSON.stringify(value, null, 2) : text());
}

/** Aligned columns, first row the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

/** JSON from the command line, or a clear error naming the option. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A value given as `path=value`: JSON when it parses, a string otherwise. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function parseSeq(text: string, what = 'seq'): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a whole number ≥ 0, got "${text}"`);
  return n;
}

export function parseDate(text: string, what = '--at'): Date {
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) throw new InvalidArgumentError(`${what} must be a date (ISO 8601, e.g. 2026-12-01T12:00:00Z), got "${text}"`);
  return at;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `15m`, `12h`, `7d`, `2w` (or a number of ms) in ms. */
export function parseDuration(text: string, what = 'duration'): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`${what} must be like 90s, 15m, 12h, 7d or 2w, got "${text}"`);
  return Number(match[1]) * (UNITS[match[2] ?? 'ms'] as number);
}

/** `--seq N` or `--at DATE`, exactly one. */
export function pointOf(o: { seq?: string; at?: string }): { seq: number } | { at: Date } {
  if ((o.seq === undefined) === (o.at === undefined)) throw new InvalidArgumentError('give exactly one of --seq N or --at DATE');
  return o.seq !== undefined ? { seq: parseSeq(o.seq, '--seq') } : { at: parseDate(o.at as string) };
}

/** `{"type":"X",...}`, or a bare type with `--data` merged in. */
export function eventOf(arg: string, data: string | undefined): { type: string; [key: string]: unknown } {
  const payload = data === undefined ? {} : parseJson(data, '--data');
  if (data !== undefined && (typeof payload !== 'object' || payload === null || Array.isArray(payload))) throw new InvalidArgumentError('--data must be a JSON object');
  if (arg.trimStart().startsWith('{')) return parseJson(arg, 'the event') as { type: string };
  return { ...(payload as object), type: arg };
}

/** Sets `path` (dots, `[n]` for array items) inside `target`, creating objects on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.').filter(Boolean);
  if (keys.length === 0) throw new InvalidArgumentError(`--set needs path=value, got path "${path}"`);
  let at: Record<string, unknown> = target;
  for (const key of keys.slice(0, -1)) {
    const next = at[key];
    if (typeof next !== 'object' || next === null) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys[keys.length - 1] as string] = value;
}

export const short = (value: unknown, max = 60): string => {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
};
