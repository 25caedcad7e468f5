/**
 * Unit tests of the journal's diff: RFC 6902 patches between persisted snapshots
 * (`diffSnapshots`), the proof that a value is JSON data (`checkJson`), and the error paths
 * (`pointerToPath`).
 */
import fc from 'fast-check';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { NonJsonStateError, applyOps, checkJson, diffSnapshots, patchBytes, pointerToPath, type Json, type PatchOperation } from '../src/internal.js';

const { applyPatch } = fastJsonPatch;

/** JSON-normalised copy: what a serialising store gives back (drops undefined, -0 → 0). */
const normal = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** Applies `ops` to a private copy of `prev`, validating every operation against the document. */
function patched(prev: unknown, ops: PatchOperation[]): unknown {
  return applyPatch(structuredClone(prev), structuredClone(ops) as Operation[], true, true).newDocument;
}

/** Asserts that `fn` throws a NonJsonStateError with exactly this message head. */
function expectNonJson(fn: () => unknown, path: string, what: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `${path} is ${what}`).toBeInstanceOf(NonJsonStateError);
  const err = thrown as NonJsonStateError;
  expect(err.code).toBe('NON_JSON_STATE');
  expect(err.path).toBe(path);
  expect(err.what).toBe(what);
  expect(err.message.startsWith(`${path} is ${what}`)).toBe(true);
}

// ---------------------------------------------------------------------------------------------
// Random JSON and random structural edits (immutable, sharing untouched branches like `assign`)

type JsonObject = { [key: string]: Json };

/**
 * fc.jsonValue() without `__proto__` and `prototype` keys: fast-check favours such keys, and
 * the patches of state holding them are covered (and known to fail) by a dedicated test below.
 */
function withoutProtoKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutProtoKeys);
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) if (k !== '__proto__' && k !== 'prototype') out[k] = withoutProtoKeys(v);
    return out;
  }
  return value;
}

const jsonArb = fc.jsonValue({ maxDepth: 4 }).map((v) => withoutProtoKeys(v as Json));
const smallJsonArb = fc.jsonValue({ maxDepth: 2 }).map((v) => withoutProtoKeys(v as Json));
const keyArb = fc.oneof(
  fc.constantFrom('a', 'b', 'a/b', '~', '~0', '~1', '/', '', '0', '12', 'x.y', 'constructor'),
  fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'),
);

interface Edit {
  kind: 'set' | 'remove' | 'push' | 'pop' | 'splice' | 'replace';
  pick: number;
  key: string;
  index: number;
  count: number;
  value: Json;
  items: Json[];
}

const editArb: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('set', 'remove', 'push', 'pop', 'splice', 'replace'),
  pick: fc.nat(),
  key: keyArb,
  index: fc.nat(),
  count: fc.nat({ max: 3 }),
  value: smallJsonArb,
  items: fc.array(smallJsonArb, { maxLength: 3 }),
});

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Paths (as key lists) to every container in `doc`, root first. */
function containers(doc: Json, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (Array.isArray(doc)) {
    out.push(path);
    doc.forEach((v, i) => containers(v, [...path, i], out));
  } else if (isObject(doc)) {
    out.push(path);
    for (const [k, v] of Object.entries(doc)) containers(v, [...path, k], out);
  }
  return out;
}

/** Replaces the value at `path` by `fn(old)`, copying only the containers along the path. */
function updateIn(doc: Json, path: (string | number)[], fn: (old: Json) => Json): Json {
  if (path.length === 0) return fn(doc);
  const [head, ...rest] = path;
  if (Array.isArray(doc)) {
    const copy = [...doc];
    copy[head as number] = updateIn(doc[head as number] as Json, rest, fn);
    return copy;
  }
  const obj = doc as JsonObject;
  return { ...obj, [head as string]: updateIn(obj[head as string] as Json, rest, fn) };
}

function applyEdit(doc: Json, edit: Edit): Json {
  const all = containers(doc);
  if (all.length === 0) return edit.value;
  const path = all[edit.pick % all.length]!;
  return updateIn(doc, path, (target) => {
    if (edit.kind === 'replace') return edit.value;
    if (Array.isArray(target)) {
      const copy = [...target];
      switch (edit.kind) {
        case 'set':
          if (copy.length === 0) copy.push(edit.value);
          else copy[edit.index % copy.length] = edit.value;
          return copy;
        case 'remove':
          if (copy.length > 0) copy.splice(edit.index % copy.length, 1);
          return copy;
        case 'push':
          copy.push(edit.value);
          return copy;
        case 'pop':
          copy.pop();
          return copy;
        case 'splice':
          copy.splice(edit.index % (copy.length + 1), edit.count, ...edit.items);
          return copy;
      }
    }
    const obj = target as JsonObject;
    const keys = Object.keys(obj);
    switch (edit.kind) {
      case 'remove':
      case 'pop': {
        if (keys.length === 0) return obj;
        const { [keys[edit.index % keys.length]!]: _removed, ...rest } = obj;
        return rest;
      }
      default:
        return { ...obj, [edit.key]: edit.kind === 'splice' ? edit.items : edit.value };
    }
  });
}

const pairArb = fc
  .tuple(jsonArb, fc.array(editArb, { minLength: 0, maxLength: 8 }))
  .map(([prev, edits]) => ({ prev, edits, next: edits.reduce(applyEdit, prev) }));

// ---------------------------------------------------------------------------------------------

describe('diffSnapshots: examples', () => {
  it('no change, no ops (also for equal values that are not the same objects)', () => {
    expect(diffSnapshots({ context: { n: 1 } }, { context: { n: 1 } })).toEqual([]);
    expect(diffSnapshots({ a: [1, { b: [null, true, 'x'] }] }, { a: [1, { b: [null, true, 'x'] }] })).toEqual([]);
    expect(diffSnapshots(null, null)).toEqual([]);
    expect(diffSnapshots('s', 's')).toEqual([]);
  });

  it('replace, add, remove', () => {
    expect(diffSnapshots({ context: { n: 1 } }, { context: { n: 2 } })).toEqual([{ op: 'replace', path: '/context/n', value: 2 }]);
    expect(diffSnapshots({ context: {} }, { context: { n: { deep: [1] } } })).toEqual([{ op: 'add', path: '/context/n', value: { deep: [1] } }]);
    expect(diffSnapshots({ context: { n: 1, m: 2 } }, { context: { m: 2 } })).toEqual([{ op: 'remove', path: '/context/n' }]);
  });

  it('a property set to undefined is absent (as in JSON)', () => {
    expect(diffSnapshots({ a: 1, b: 2 }, { a: undefined, b: 2 })).toEqual([{ op: 'remove', path: '/a' }]);
    expect(diffSnapshots({ a: undefined }, { a: 1 })).toEqual([{ op: 'add', path: '/a', value: 1 }]);
    expect(diffSnapshots({ a: undefined }, {})).toEqual([]);
  });

  it('arrays: push, pop, splice in the middle, shrink to empty', () => {
    expect(diffSnapshots({ l: [1, 2] }, { l: [1, 2, 3] })).toEqual([{ op: 'add', path: '/l/2', value: 3 }]);
    expect(diffSnapshots({ l: [1, 2, 3] }, { l: [1, 2] })).toEqual([{ op: 'remove', path: '/l/2' }]);
    const prev = { l: ['a', 'b', 'c', 'd'] };
    const next = { l: ['a', 'c', 'd'] };
    const ops = diffSnapshots(prev, next);
    expect(patched(prev, ops)).toEqual(next);
    const shrink = diffSnapshots({ l: [1, 2, 3] }, { l: [] });
    expect(shrink).toEqual([
      { op: 'remove', path: '/l/2' },
      { op: 'remove', path: '/l/1' },
      { op: 'remove', path: '/l/0' },
    ]);
  });

  it('a change of kind is a replace; the root itself can be replaced', () => {
    expect(diffSnapshots({ a: { x: 1 } }, { a: [1] })).toEqual([{ op: 'replace', path: '/a', value: [1] }]);
    expect(diffSnapshots({ a: [1] }, { a: { 0: 1 } })).toEqual([{ op: 'replace', path: '/a', value: { 0: 1 } }]);
    expect(diffSnapshots({ a: null }, { a: {} })).toEqual([{ op: 'replace', path: '/a', value: {} }]);
    expect(diffSnapshots({ a: 1 }, [1])).toEqual([{ op: 'replace', path: '', value: [1] }]);
    expect(patched({ a: 1 }, diffSnapshots({ a: 1 }, 'text'))).toBe('text');
  });

  it('keys with / and ~ are escaped in paths (RFC 6901) and the patch applies', () => {
    const prev = { context: { 'a/b': 1, '~': 2, '~1': 3, '/': 4, '': 5, 'c~d/e': { 'x/y~z': [0] } } };
    const next = { context: { 'a/b': 10, '~': 20, '~1': 30, '/': 40, '': 50, 'c~d/e': { 'x/y~z': [0, 1] } } };
    const ops = diffSnapshots(prev, next);
    expect(ops).toEqual([
      { op: 'replace', path: '/context/a~1b', value: 10 },
      { op: 'replace', path: '/context/~0', value: 20 },
      { op: 'replace', path: '/context/~01', value: 30 },
      { op: 'replace', path: '/context/~1', value: 40 },
      { op: 'replace', path: '/context/', value: 50 },
      { op: 'add', path: '/context/c~0d~1e/x~1y~0z/1', value: 1 },
    ]);
    expect(patched(prev, ops)).toEqual(next);
    expect(applyOps(structuredClone(prev) as Json, ops)).toEqual(next);
  });

  it('numeric-looking object keys stay object keys', () => {
    const prev = { m: { '0': 'a', '10': 'b' } };
    const next = { m: { '0': 'a', '10': 'c', '2': 'd' } };
    expect(patched(prev, diffSnapshots(prev, next))).toEqual(next);
  });
});

describe('diffSnapshots: properties', () => {
  it('the patch turns prev into next (random JSON, random edits)', () => {
    fc.assert(
      fc.property(pairArb, ({ prev, next }) => {
        const ops = diffSnapshots(prev, next);
        expect(normal(patched(prev, ops))).toEqual(normal(next));
        expect(normal(applyOps(structuredClone(prev), ops))).toEqual(normal(next));
        for (const op of ops) expect(['add', 'remove', 'replace']).toContain(op.op);
      }),
      { numRuns: 400 },
    );
  });

  it('the patch turns prev into next when nothing is shared by identity', () => {
    fc.assert(
      fc.property(pairArb, ({ prev, next }) => {
        const ops = diffSnapshots(structuredClone(prev), structuredClone(next));
        expect(normal(patched(prev, ops))).toEqual(normal(next));
      }),
      { numRuns: 200 },
    );
  });

  it('two unrelated random values: the patch turns one into the other', () => {
    fc.assert(
      fc.property(jsonArb, jsonArb, (prev, next) => {
        expect(normal(patched(prev, diffSnapshots(prev, next)))).toEqual(normal(next));
      }),
      { numRuns: 200 },
    );
  });

  it('equal values give no ops', () => {
    fc.assert(
      fc.property(jsonArb, (value) => {
        expect(diffSnapshots(value, structuredClone(value))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('a chain of snapshots is rebuilt by applying the patches in order', () => {
    fc.assert(
      fc.property(jsonArb, fc.array(fc.array(editArb, { maxLength: 3 }), { minLength: 1, maxLength: 8 }), (start, steps) => {
        let live = start;
        // What a store hands back is a fresh copy, never the live objects.
        let rebuilt = structuredClone(start) as Json;
        for (const edits of steps) {
          const next = edits.reduce(applyEdit, live);
          // Through JSON, as a serialising store hands the patch back.
          const ops = normal(diffSnapshots(live, next)) as PatchOperation[];
          rebuilt = applyOps(rebuilt, ops);
          expect(normal(rebuilt)).toEqual(normal(next));
          live = next;
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('patchBytes, the keyframe rule’s measure', () => {
  it('equals the length of the patch as JSON, for random patches', () => {
    fc.assert(
      fc.property(pairArb, ({ prev, next }) => {
        const ops = diffSnapshots(prev, next);
        expect(patchBytes(ops)).toBe(ops.length ? JSON.stringify(ops).length : 0);
      }),
      { numRuns: 400 },
    );
  });

  it('equals it for strings JSON escapes: quotes, control characters, lone surrogates', () => {
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\ud800', '\udfff', '\u2028', 'é'), fc.string({ unit: 'binary', maxLength: 1 })) });
    fc.assert(
      fc.property(text, text, (path, value) => {
        const ops: PatchOperation[] = [
          { op: 'replace', path: `/${path}`, value },
          { op: 'remove', path },
          { op: 'add', path: '/n', value: -0.000123 },
        ];
        expect(patchBytes(ops)).toBe(JSON.stringify(ops).length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('diffSnapshots: structural sharing', () => {
  it('branches shared by identity are not walked and produce no ops', () => {
    // A branch that throws on any access: only skipping it by identity lets the diff pass.
    const untouchable = new Proxy(
      {},
      {
        get: () => {
          throw new Error('shared branch was read');
        },
        ownKeys: () => {
          throw new Error('shared branch was enumerated');
        },
        getPrototypeOf: () => {
          throw new Error('shared branch was inspected');
        },
      },
    );
    const prev = { context: { big: untouchable, list: [untouchable], n: 1 } };
    const next = { context: { ...prev.context, n: 2 } };
    expect(diffSnapshots(prev, next)).toEqual([{ op: 'replace', path: '/context/n', value: 2 }]);
  });

  it('appending to a long shared array is one op', () => {
    const items = Array.from({ length: 5_000 }, (_, i) => ({ i, text: `item ${i}` }));
    const prev = { context: { items, other: { deep: { x: 1 } } } };
    const next = { context: { ...prev.context, items: [...items, { i: 5_000, text: 'new' }] } };
    expect(diffSnapshots(prev, next)).toEqual([{ op: 'add', path: '/context/items/5000', value: { i: 5_000, text: 'new' } }]);
  });
});

describe('non-JSON state is rejected, naming the path', () => {
  class Order {
    id = 1;
  }
  class Invoice {
    n = 1;
  }

  it('a Date added, replacing a value, or replacing an object', () => {
    expectNonJson(() => diffSnapshots({ context: { order: {} } }, { context: { order: { createdAt: new Date() } } }), 'context.order.createdAt', 'a Date');
    expectNonJson(() => diffSnapshots({ context: { order: { createdAt: 'x' } } }, { context: { order: { createdAt: new Date() } } }), 'context.order.createdAt', 'a Date');
    expectNonJson(() => diffSnapshots({ context: { order: { createdAt: { y: 1 } } } }, { context: { order: { createdAt: new Date() } } }), 'context.order.createdAt', 'a Date');
    expect(() => diffSnapshots({ context: { order: {} } }, { context: { order: { createdAt: new Date() } } })).toThrow(
      /^context\.order\.createdAt is a Date/,
    );
  });

  it('Map, Set, class instances, Error', () => {
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { m: new Map([[1, 2]]) } }), 'context.m', 'a Map');
    expectNonJson(() => diffSnapshots({ context: { m: {} } }, { context: { m: new Map() } }), 'context.m', 'a Map');
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { s: new Set() } }), 'context.s', 'a Set');
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { o: new Order() } }), 'context.o', 'an Order');
    expectNonJson(() => diffSnapshots({ context: { o: { id: 1 } } }, { context: { o: new Invoice() } }), 'context.o', 'an Invoice');
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { e: new Error('x') } }), 'context.e', 'an Error');
  });

  it('functions, symbols, bigints', () => {
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { f: () => 1 } }), 'context.f', 'a function');
    expectNonJson(() => diffSnapshots({ context: { f: 1 } }, { context: { f: Symbol('s') } }), 'context.f', 'a symbol');
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { b: 10n } }), 'context.b', 'a bigint');
  });

  it('undefined inside an array (new array, changed element, appended element, hole)', () => {
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { items: [1, undefined] } }), 'context.items[1]', 'undefined');
    expectNonJson(() => diffSnapshots({ context: { items: [1, 2] } }, { context: { items: [1, undefined] } }), 'context.items[1]', 'undefined');
    expectNonJson(() => diffSnapshots({ context: { items: [1] } }, { context: { items: [1, undefined] } }), 'context.items[1]', 'undefined');
    // eslint-disable-next-line no-sparse-arrays
    expectNonJson(() => diffSnapshots({ context: { items: [] } }, { context: { items: [1, , 3] } }), 'context.items[1]', 'undefined');
  });

  it('NaN and infinities', () => {
    expectNonJson(() => diffSnapshots({ context: { n: 1 } }, { context: { n: Number.NaN } }), 'context.n', 'a non-finite number (NaN)');
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { n: Number.POSITIVE_INFINITY } }), 'context.n', 'a non-finite number (Infinity)');
    expectNonJson(() => diffSnapshots({ context: { l: [0] } }, { context: { l: [0, Number.NEGATIVE_INFINITY] } }), 'context.l[1]', 'a non-finite number (-Infinity)');
  });

  it('deep inside new values and arrays of objects', () => {
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { list: [{}, { d: new Date() }] } }), 'context.list[1].d', 'a Date');
    expectNonJson(() => diffSnapshots({ context: { list: [{}, {}] } }, { context: { list: [{}, { d: { e: [new Map()] } }] } }), 'context.list[1].d.e[0]', 'a Map');
  });

  it('keys with / and ~ are named unescaped', () => {
    expectNonJson(() => diffSnapshots({ context: {} }, { context: { 'a/b': { 'c~d': new Date() } } }), 'context.a/b.c~d', 'a Date');
    expectNonJson(() => diffSnapshots({ context: { 'a/b': {} } }, { context: { 'a/b': { '~1': Number.NaN } } }), 'context.a/b.~1', 'a non-finite number (NaN)');
  });

  it('the whole snapshot', () => {
    expectNonJson(() => diffSnapshots({}, new Date()), 'snapshot', 'a Date');
    expectNonJson(() => checkJson(undefined, ''), 'snapshot', 'undefined');
  });

  it('checkJson accepts JSON data, null-prototype objects and undefined properties', () => {
    expect(() => checkJson({ a: [1, 'x', null, true, { b: -0.5 }], c: undefined }, '', false)).not.toThrow();
    const bare = Object.assign(Object.create(null) as object, { k: 1 });
    expect(() => checkJson({ bare }, '', false)).not.toThrow();
    expect(diffSnapshots({ context: {} }, { context: { bare } })).toEqual([{ op: 'add', path: '/context/bare', value: bare }]);
  });

  it('checkJson names paths below its starting pointer', () => {
    expectNonJson(() => checkJson({ ok: 1, bad: new Map() }, '/input', false), 'input.bad', 'a Map');
    expectNonJson(() => checkJson([0, [1, new Set()]], '/event/list', false), 'event.list[1][1]', 'a Set');
  });

  it('random JSON with one non-JSON value planted anywhere is rejected naming that path', () => {
    const bad: [string, () => unknown, string][] = [
      ['date', () => new Date(0), 'a Date'],
      ['map', () => new Map(), 'a Map'],
      ['fn', () => () => 0, 'a function'],
      ['nan', () => Number.NaN, 'a non-finite number (NaN)'],
      ['inf', () => Number.POSITIVE_INFINITY, 'a non-finite number (Infinity)'],
      ['class', () => new Order(), 'an Order'],
    ];
    fc.assert(
      fc.property(jsonArb, fc.nat(), fc.constantFrom(...bad), keyArb, (prev, pick, [, make, what], key) => {
        const all = containers(prev);
        let next: unknown;
        let expected: string;
        if (all.length === 0) {
          next = { [key]: make() };
          expected = pointerToPath(`/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
        } else {
          const path = all[pick % all.length]!;
          const target = path.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k as string] as Json, prev);
          const at = Array.isArray(target) ? target.length : key;
          next = updateIn(prev, path, (old) => (Array.isArray(old) ? ([...old, make()] as Json) : ({ ...(old as JsonObject), [key]: make() } as unknown as Json)));
          const pointer = [...path, at].map((k) => `/${String(k).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
          expected = pointerToPath(pointer);
        }
        expectNonJson(() => diffSnapshots(prev, next), expected, what);
      }),
      { numRuns: 200 },
    );
  });
});

describe('pointerToPath', () => {
  it('turns JSON pointers into readable paths', () => {
    expect(pointerToPath('')).toBe('snapshot');
    expect(pointerToPath('/context/order/createdAt')).toBe('context.order.createdAt');
    expect(pointerToPath('/context/items/2')).toBe('context.items[2]');
    expect(pointerToPath('/context/items/2/name')).toBe('context.items[2].name');
    expect(pointerToPath('/context/m/0/1')).toBe('context.m[0][1]');
    expect(pointerToPath('/context/a~1b/c~0d')).toBe('context.a/b.c~d');
    expect(pointerToPath('/context/~01')).toBe('context.~1');
    expect(pointerToPath('/context/~10')).toBe('context./0');
    expect(pointerToPath('/0')).toBe('[0]');
  });
});

describe('freezing', () => {
  it('objects visited on the new side are frozen: an in-place push afterwards throws', () => {
    const prev = { context: { items: [1], meta: { a: 1 } } };
    const next = { context: { ...prev.context, items: [1, 2], added: { list: [{ x: 1 }] } } };
    diffSnapshots(prev, next);
    expect(Object.isFrozen(next)).toBe(true);
    expect(Object.isFrozen(next.context)).toBe(true);
    expect(Object.isFrozen(next.context.items)).toBe(true);
    expect(Object.isFrozen(next.context.added.list[0])).toBe(true);
    expect(() => next.context.items.push(3)).toThrow(TypeError);
    expect(() => next.context.added.list.push({ x: 2 })).toThrow(TypeError);
    expect(() => {
      (next.context as { n?: number }).n = 1;
    }).toThrow(TypeError);
    expect(() => {
      next.context.added.list[0]!.x = 5;
    }).toThrow(TypeError);
    expect(next.context.items).toEqual([1, 2]);
  });

  it('checkJson freezes by default, and not with freezing = false', () => {
    const frozen = { a: { b: [1] } };
    checkJson(frozen, '');
    expect(Object.isFrozen(frozen.a.b)).toBe(true);
    const loose = { a: { b: [1] } };
    checkJson(loose, '', false);
    expect(Object.isFrozen(loose.a.b)).toBe(false);
    loose.a.b.push(2);
    expect(loose.a.b).toEqual([1, 2]);
  });
});

describe('keys JavaScript treats specially', () => {
  // A context built from JSON.parse (a webhook payload, say) may have an own "__proto__" key,
  // and "constructor"/"prototype" keys. Either such state is refused at the transition with a
  // NonJsonStateError naming the path, or its patches rebuild it faithfully.
  const cases: [string, string, string][] = [
    ['__proto__', '{"data":{"__proto__":{"x":1},"y":2}}', '{"data":{"__proto__":{"x":2},"y":2}}'],
    ['__proto__ added', '{"data":{"y":2}}', '{"data":{"__proto__":{"x":1},"y":2}}'],
    ['constructor/prototype', '{"data":{"constructor":{"prototype":{"x":1}}}}', '{"data":{"constructor":{"prototype":{"x":2}}}}'],
  ];
  for (const [name, before, after] of cases) {
    it(`${name}: refused with a NonJsonStateError, or rebuilt faithfully`, () => {
      const prev = { context: JSON.parse(before) as Json };
      const next = { context: JSON.parse(after) as Json };
      let ops: PatchOperation[];
      try {
        ops = diffSnapshots(prev, next);
      } catch (err) {
        expect(err).toBeInstanceOf(NonJsonStateError);
        expect((err as NonJsonStateError).path.startsWith('context.data')).toBe(true);
        return;
      }
      const rebuilt = applyOps(structuredClone(prev) as Json, structuredClone(ops));
      expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(next));
      expect(Object.getPrototypeOf((rebuilt as { context: { data: object } }).context.data)).toBe(Object.prototype);
    });
  }
});
