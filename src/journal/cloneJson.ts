/**
 * A deep copy of JSON data (plain objects, arrays, primitives; `undefined` members kept, as XState's
 * persisted snapshots have them). For the small snapshots a restore copies, several times faster
 * than `structuredClone`, which goes through V8's serializer.
 *
 * @example
 * ```ts
 * const baseline = cloneJson(snapshot); // XState mutates `snapshot` when it restores from it
 * ```
 */
export function cloneJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = cloneJson(value[i]);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const member = cloneJson((value as Record<string, unknown>)[key]);
    // An own "__proto__" member (JSON may have one) must stay data, not become the prototype.
    if (key === '__proto__') Object.defineProperty(out, key, { value: member, enumerable: true, writable: true, configurable: true });
    else out[key] = member;
  }
  return out as T;
}
