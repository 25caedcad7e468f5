import { NonJsonStateError } from '../errors.js';
import type { Json, PatchOperation } from '../store/Store.js';

/**
 * The RFC 6902 patch from one persisted snapshot to the next, in one walk that also proves the
 * new snapshot is JSON data and freezes it.
 *
 * The walk skips every branch the two snapshots share by identity, which XState keeps for the
 * untouched parts of context, so its cost follows what changed rather than the state's size.
 * Every object it visits on the new side is frozen: a later in-place mutation (instead of
 * `assign` returning new objects) would be invisible to the next diff, so it throws at the
 * mutation instead. (fast-json-patch's `compare` would silently turn a Date into a string and
 * drop `undefined`; durastate must name them instead.)
 *
 * @example
 * ```ts
 * diffSnapshots({ context: { n: 1 } }, { context: { n: 2 } });
 * // [{ op: 'replace', path: '/context/n', value: 2 }]
 * ```
 */
export function diffSnapshots(prev: unknown, next: unknown): PatchOperation[] {
  const ops: PatchOperation[] = [];
  diffValue(prev, next, '', ops);
  return ops;
}

function diffValue(prev: unknown, next: unknown, path: string, ops: PatchOperation[]): void {
  if (prev === next) return;
  if (isContainer(prev) && isContainer(next) && Array.isArray(prev) === Array.isArray(next)) {
    if (Array.isArray(next)) diffArray(prev as unknown[], next, path, ops);
    else diffObject(prev as Record<string, unknown>, next as Record<string, unknown>, path, ops);
    freeze(next);
    return;
  }
  checkJson(next, path);
  ops.push({ op: 'replace', path, value: next as Json });
}

function diffObject(prev: Record<string, unknown>, next: Record<string, unknown>, path: string, ops: PatchOperation[]): void {
  checkPlain(next, path);
  for (const key in prev) {
    if (!Object.hasOwn(prev, key) || prev[key] === undefined) continue;
    if (!Object.hasOwn(next, key) || next[key] === undefined) ops.push({ op: 'remove', path: child(path, key) });
  }
  for (const key in next) {
    const value = next[key];
    // The common case first, before any path is built: a branch both sides share.
    if (value === undefined || prev[key] === value || !Object.hasOwn(next, key)) continue;
    const at = child(path, key);
    if (!Object.hasOwn(prev, key) || prev[key] === undefined) {
      checkJson(value, at);
      ops.push({ op: 'add', path: at, value: value as Json });
    } else {
      diffValue(prev[key], value, at, ops);
    }
  }
}

function diffArray(prev: unknown[], next: unknown[], path: string, ops: PatchOperation[]): void {
  const common = Math.min(prev.length, next.length);
  for (let i = 0; i < common; i++) diffValue(prev[i], next[i], `${path}/${i}`, ops);
  // Remove from the end so that each index is still valid when its op is applied.
  for (let i = prev.length - 1; i >= next.length; i--) ops.push({ op: 'remove', path: `${path}/${i}` });
  for (let i = common; i < next.length; i++) {
    const value = next[i];
    checkJson(value, `${path}/${i}`);
    ops.push({ op: 'add', path: `${path}/${i}`, value: value as Json });
  }
}

/**
 * Proves that `value` is JSON data (freezing its objects on the way, unless `freezing` is
 * false), or throws a {@link NonJsonStateError} naming the first path that is not.
 */
export function checkJson(value: unknown, path: string, freezing = true): void {
  // The common case walks without building a path per key; only a refusal walks again to name it.
  if (isJson(value, freezing)) return;
  namePath(value, path, freezing);
  fail(path, 'not JSON data'); // namePath names the first refused path; this is never reached
}

/** Whether `value` is JSON data (see checkJson), freezing its objects unless `freezing` is false. */
function isJson(value: unknown, freezing: boolean): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isJson(value[i], freezing)) return false;
      } else {
        if (!isPlain(value)) return false;
        for (const key in value) {
          const v = (value as Record<string, unknown>)[key];
          if (v !== undefined && !isJson(v, freezing)) return false;
        }
      }
      if (freezing) freeze(value);
      return true;
    }
    default:
      return false;
  }
}

/** Throws the error naming the first path of `value` that is not JSON data. */
function namePath(value: unknown, path: string, freezing: boolean): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(path, `a non-finite number (${value})`);
      return;
    case 'undefined':
      fail(path, 'undefined');
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) namePath(value[i], `${path}/${i}`, freezing);
      } else {
        checkPlain(value, path);
        for (const key in value) {
          const v = (value as Record<string, unknown>)[key];
          if (v !== undefined) namePath(v, child(path, key), freezing);
        }
      }
      if (freezing) freeze(value);
      return;
    default:
      fail(path, `a ${typeof value}`);
  }
}

function isPlain(value: object): boolean {
  if (Object.hasOwn(value, '__proto__')) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function checkPlain(value: object, path: string): void {
  // JSON.parse makes "__proto__" an own key; msgpack and patch application would not keep it.
  if (Object.hasOwn(value, '__proto__')) fail(child(path, '__proto__'), 'a "__proto__" key, which cannot be stored faithfully');
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    fail(path, `a${/^[AEIOU]/.test(name) ? 'n' : ''} ${name}`);
  }
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function freeze(value: object): void {
  if (!Object.isFrozen(value)) Object.freeze(value);
}

function child(path: string, key: string): string {
  if (!key.includes('~') && !key.includes('/')) return `${path}/${key}`;
  return `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

function fail(pointer: string, what: string): never {
  throw new NonJsonStateError(pointerToPath(pointer), what);
}

/** `/context/order/createdAt` → `context.order.createdAt`; `/context/items/2` → `context.items[2]`. */
export function pointerToPath(pointer: string): string {
  if (pointer === '') return 'snapshot';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out === '' ? key : `.${key}`;
  }
  return out;
}
