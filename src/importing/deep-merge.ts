/**
 * How a profiles import lays traits and PII over those a profile holds: an object over an object is
 * merged key by key, at every depth, so that mapping `address.city` and then `address.zip` keeps both;
 * any other value (text, number, array, null) replaces what was there. The stored side of the same rule
 * is `jsonb_merge_deep` (migration 0040).
 */

export type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `incoming` laid over `stored`, as a new object: neither is changed, unchanged branches are shared. */
export function deepMerge(stored: JsonObject, incoming: JsonObject): JsonObject {
  const merged: JsonObject = { ...stored };
  for (const [key, value] of Object.entries(incoming)) {
    const below = Object.hasOwn(stored, key) ? stored[key] : undefined;
    const laid = isObject(value) && isObject(below) ? deepMerge(below, value) : value;
    // defineProperty, so that a "__proto__" key stays data instead of replacing the prototype.
    Object.defineProperty(merged, key, { value: laid, enumerable: true, writable: true, configurable: true });
  }
  return merged;
}

/** Whether laying `incoming` over an object can differ from a merge at the top level only. */
export const holdsObject = (incoming: JsonObject): boolean => Object.values(incoming).some(isObject);
