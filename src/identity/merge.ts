/**
 * Merge semantics, pure: what the survivor of a merge holds, and what undoing the merge gives back
 * to it. Nothing here reads or writes a store.
 */
export type Json = Record<string, unknown>;

/** A whole profile as a merge reads and writes it. */
export interface ProfileRecord {
  id: string;
  ids: string[];
  traits: Json;
  pii: Json;
  data: Json;
  stats: Json;
  consents: Json;
  metadata: Json;
  segments: string[];
  active: boolean;
  visits: number;
  lastVisitAt: string | null;
  currentVisitAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The parts merged field by field; `stats` adds its numbers up instead. */
const DOCUMENT_PARTS = ['traits', 'pii', 'data', 'consents', 'metadata'] as const;

const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function union<T>(...lists: T[][]): T[] {
  const out: T[] = [];
  for (const list of lists) for (const item of list) if (!out.some((kept) => same(kept, item))) out.push(item);
  return out;
}

/**
 * `newer` laid over `older`: objects merge key by key, lists are unioned, a scalar of the newer wins,
 * and a missing or null value never wipes out a value (nothing is lost).
 */
export function mergeValues(older: unknown, newer: unknown, addNumbers = false): unknown {
  if (newer === undefined || newer === null) return older ?? newer;
  if (older === undefined || older === null) return newer;
  if (isObject(older) && isObject(newer)) {
    const out: Json = { ...older };
    for (const [key, value] of Object.entries(newer)) out[key] = mergeValues(older[key], value, addNumbers);
    return out;
  }
  if (Array.isArray(older) && Array.isArray(newer)) return union(older, newer);
  if (addNumbers && typeof older === 'number' && typeof newer === 'number') return older + newer;
  return newer;
}

const earliest = (values: (string | null)[]) =>
  values.filter((value): value is string => value !== null).sort()[0] ?? null;
const latest = (values: (string | null)[]) =>
  values
    .filter((value): value is string => value !== null)
    .sort()
    .at(-1) ?? null;

/** The survivor keeps the oldest profile's id (first created; equal times, the smaller id). */
export function survivorOf(profiles: readonly ProfileRecord[]): ProfileRecord {
  return [...profiles].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))[0]!;
}

/**
 * The profile a merge leaves: the oldest id; `ids` the union of every id, so any of them still finds
 * it; traits, pii, data, consents and metadata merged field by field, the most recently updated
 * profile's scalars winning; stats and visits added up; first seen the earliest, last seen the latest;
 * segments unioned; active when any was.
 */
export function mergeProfiles(profiles: readonly ProfileRecord[]): ProfileRecord {
  if (profiles.length < 2) throw new Error('a merge joins at least two profiles');
  const survivor = survivorOf(profiles);
  const byUpdate = [...profiles].sort((a, b) => a.updatedAt.localeCompare(b.updatedAt) || a.id.localeCompare(b.id));
  const merged: ProfileRecord = {
    ...survivor,
    ids: union(...profiles.map((profile) => [profile.id, ...profile.ids])).filter((id) => id !== survivor.id),
    stats: byUpdate.reduce<Json>((out, profile) => mergeValues(out, profile.stats, true) as Json, {}),
    segments: union(...profiles.map((profile) => profile.segments)),
    active: profiles.some((profile) => profile.active),
    visits: profiles.reduce((sum, profile) => sum + profile.visits, 0),
    lastVisitAt: latest(profiles.map((profile) => profile.lastVisitAt)),
    currentVisitAt: latest(profiles.map((profile) => profile.currentVisitAt)),
    createdAt: earliest(profiles.map((profile) => profile.createdAt))!,
    updatedAt: latest(profiles.map((profile) => profile.updatedAt))!,
  };
  for (const part of DOCUMENT_PARTS) {
    merged[part] = byUpdate.reduce<Json>((out, profile) => mergeValues(out, profile[part]) as Json, {});
  }
  return merged;
}

/**
 * Three-way: what the merge changed goes back to what it was, unless it changed again after the
 * merge, when the later value stays. Numbers of `stats` lose what the merge added and keep what came after.
 */
function restore(before: unknown, merged: unknown, current: unknown, subtract: boolean): unknown {
  if (subtract && typeof current === 'number' && typeof merged === 'number') {
    const kept = current - (merged - (typeof before === 'number' ? before : 0));
    return before === undefined && kept === 0 ? undefined : kept;
  }
  if (same(current, merged)) return before;
  if (isObject(before) && isObject(merged) && isObject(current)) {
    const out: Json = {};
    for (const key of new Set([...Object.keys(before), ...Object.keys(merged), ...Object.keys(current)])) {
      const value = restore(before[key], merged[key], current[key], subtract);
      if (value !== undefined) out[key] = value;
    }
    return out;
  }
  return current;
}

/**
 * The survivor once a merge is undone: `before` is it as the merge found it, `merged` as the merge
 * left it, `current` as it is now. What the merge brought goes; what happened after the merge stays
 * (a later value, the visits and counters added since); the merged-away ids leave `ids`.
 */
export function unmergeSurvivor(
  before: ProfileRecord,
  merged: ProfileRecord,
  current: ProfileRecord,
  mergedAway: readonly ProfileRecord[],
): ProfileRecord {
  const given = new Set(mergedAway.flatMap((profile) => [profile.id, ...profile.ids]));
  const added = new Set(merged.segments.filter((segment) => !before.segments.includes(segment)));
  const restored: ProfileRecord = {
    ...current,
    ids: current.ids.filter((id) => !given.has(id)),
    stats: restore(before.stats, merged.stats, current.stats, true) as Json,
    segments: current.segments.filter((segment) => !added.has(segment)),
    visits: current.visits - (merged.visits - before.visits),
    lastVisitAt: current.lastVisitAt === merged.lastVisitAt ? before.lastVisitAt : current.lastVisitAt,
    currentVisitAt: current.currentVisitAt === merged.currentVisitAt ? before.currentVisitAt : current.currentVisitAt,
    createdAt: before.createdAt,
  };
  for (const part of DOCUMENT_PARTS) {
    restored[part] = (restore(before[part], merged[part], current[part], false) as Json | undefined) ?? {};
  }
  return restored;
}
