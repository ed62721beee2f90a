import { describe, expect, it } from 'vitest';
import { timeOrderedId } from './ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const millisecondsOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('timeOrderedId', () => {
  it('is a version 7 UUID led by the generation time', () => {
    const before = Date.now();
    const id = timeOrderedId();
    const after = Date.now();
    expect(id).toMatch(UUID_V7);
    expect(millisecondsOf(id)).toBeGreaterThanOrEqual(before);
    expect(millisecondsOf(id)).toBeLessThanOrEqual(after);
  });

  it('sorts ids of later milliseconds after earlier ones, as text', () => {
    const at = Date.UTC(2026, 11, 1, 18, 0, 0, 0);
    const ids = [at + 1000, at, at + 1, at + 86_400_000].map((ms) => timeOrderedId(new Date(ms)));
    expect([...ids].sort()).toEqual([ids[1], ids[2], ids[0], ids[3]]);
    expect(ids.map(millisecondsOf)).toEqual([at + 1000, at, at + 1, at + 86_400_000]);
  });

  it('keeps ids of the same millisecond apart', () => {
    const at = new Date();
    const ids = Array.from({ length: 10_000 }, () => timeOrderedId(at));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(UUID_V7);
  });

  it('refuses a time its 48-bit field cannot hold', () => {
    expect(() => timeOrderedId(new Date(-1))).toThrow(RangeError);
    expect(() => timeOrderedId(new Date(2 ** 48))).toThrow(RangeError);
    expect(() => timeOrderedId(new Date(Number.NaN))).toThrow(RangeError);
  });
});
