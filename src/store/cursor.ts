import { InvalidArgumentError } from '../errors.js';

/** Cursors are the last key of a page, opaque to callers. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`Malformed list cursor "${cursor}"`);
  }
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 10_000;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`limit must be a positive integer, got ${limit}`);
  return Math.min(limit, MAX_PAGE);
}
