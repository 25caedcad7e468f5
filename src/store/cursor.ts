import { InvalidArgumentError } from '../errors.js';

/** Cursors are the last key of a page, opaque to callers. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** A listing's position: the id (listing by id) or the index key (listing by status). */
export type ListKey = string | [string, number, string];

/**
 * Decodes a cursor and checks that it belongs to this kind of listing: an id for a listing by
 * id, an index key of the same status for a listing by status.
 */
export function decodeCursor(cursor: string, status: string | undefined): ListKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const fits = status === undefined
    ? typeof key === 'string'
    : Array.isArray(key) && key.length === 3 && key[0] === status && Number.isFinite(key[1]) && typeof key[2] === 'string';
  if (!fits) throw new InvalidArgumentError(`Malformed list cursor "${cursor}" (a cursor only continues the listing that returned it)`);
  return key as ListKey;
}

/** Orders list keys as the LMDB index does. */
export function compareListKeys(a: ListKey, b: ListKey): number {
  if (typeof a === 'string' || typeof b === 'string') return compareStrings(String(a), String(b));
  return compareStrings(a[0], b[0]) || a[1] - b[1] || compareStrings(a[2], b[2]);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 10_000;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`limit must be a positive integer, got ${limit}`);
  return Math.min(limit, MAX_PAGE);
}
