import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cloneJson } from '../src/journal/cloneJson.js';

describe('cloneJson', () => {
  it('copies JSON data as structuredClone does, sharing nothing with the original', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const copy = cloneJson(value);
        expect(copy).toStrictEqual(structuredClone(value));
        if (typeof value === 'object' && value !== null) {
          expect(copy).not.toBe(value);
          (copy as Record<string, unknown>)['added'] = 1;
          expect(value).not.toHaveProperty('added');
        }
      }),
    );
  });

  it('keeps undefined members (XState snapshots have them) and an own __proto__ member as data', () => {
    const snapshot = JSON.parse('{"status":"active","context":{"__proto__":{"polluted":true}},"children":{}}') as Record<string, unknown>;
    snapshot.output = undefined;
    const copy = cloneJson(snapshot);
    expect(Object.keys(copy)).toEqual(['status', 'context', 'children', 'output']);
    const context = copy.context as Record<string, unknown>;
    expect(Object.getPrototypeOf(context)).toBe(Object.prototype);
    expect(Object.keys(context)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
