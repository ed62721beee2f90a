import { deepEquals } from '../condition/values.js';
import {
  deleteDotPath,
  DotPathError,
  parseDotPath,
  readDotPathOr,
  writeDotPath,
  type DotContext,
  type SourceName,
} from '../condition/index.js';
import { DomainError } from '../shared/errors.js';
import type { ProfileChange } from './model.js';

/**
 * Profile changes as operations: the engine applies them to its copy as a run goes, and the store
 * replays them on the freshly locked row, so two runs for one profile never lose each other's update.
 * Paths are dot paths relative to the profile document (`traits.last_order`, `data["a b"].0`).
 */

/** The profile's identity belongs to the identity capability (merges), never to a flow's writes. */
const PROTECTED_ROOTS: ReadonlySet<string> = new Set(['id', 'ids']);

/** The profile parts that, changed, may set an identity key (which identity then claims, or merges on). */
export const IDENTIFYING_PARTS = ['traits', 'pii', 'data'] as const;

type Document = DotContext;

const MISSING = Symbol('missing');

function checkedPath(source: SourceName, path: string): string {
  const dot = `${source}@${path}`;
  const parsed = parseDotPath(dot);
  if (!parsed || parsed.path.length === 0) {
    throw new DomainError('validation_failed', `${JSON.stringify(path)} is not a path in the ${source}`, [
      { field: 'path', message: `expected a dot path relative to the ${source}, like traits.name` },
    ]);
  }
  if (source === 'profile' && PROTECTED_ROOTS.has(parsed.path[0]!)) {
    throw new DomainError('validation_failed', `a flow cannot change the profile's ${parsed.path[0]}`, [
      { field: 'path', message: `${parsed.path[0]} is managed by identity merges` },
    ]);
  }
  return dot;
}

function asList(value: unknown): unknown[] {
  if (value === MISSING || value === null || value === undefined) return [];
  return Array.isArray(value) ? [...(value as unknown[])] : [value];
}

function applyOne(document: Document, source: SourceName, change: ProfileChange): void {
  switch (change.op) {
    case 'set':
      writeDotPath(document, checkedPath(source, change.path), structuredClone(change.value));
      return;
    case 'delete':
      deleteDotPath(document, checkedPath(source, change.path));
      return;
    case 'increment': {
      const path = checkedPath(source, change.path);
      const current = readDotPathOr(document, path, MISSING);
      if (current !== MISSING && current !== null && typeof current !== 'number') {
        throw new DotPathError(path, `${path} holds ${typeof current}, not a number`);
      }
      writeDotPath(document, path, (typeof current === 'number' ? current : 0) + change.by);
      return;
    }
    case 'append': {
      const path = checkedPath(source, change.path);
      const list = asList(readDotPathOr(document, path, MISSING));
      for (const value of change.values) {
        if (!change.unique || !list.some((item) => deepEquals(item, value))) list.push(structuredClone(value));
      }
      writeDotPath(document, path, list);
      return;
    }
    case 'remove': {
      const path = checkedPath(source, change.path);
      const current = readDotPathOr(document, path, MISSING);
      if (current === MISSING) return;
      writeDotPath(
        document,
        path,
        asList(current).filter((item) => !change.values.some((value) => deepEquals(item, value))),
      );
      return;
    }
    case 'add-segment':
    case 'remove-segment': {
      const profile = profileOf(document, source);
      const segments = asList(profile['segments']);
      // Adding a segment the profile has leaves its list as it is, so a repeated decision writes nothing.
      if (change.op === 'add-segment') {
        if (!segments.includes(change.segment)) segments.push(change.segment);
        profile['segments'] = segments;
      } else profile['segments'] = segments.filter((segment) => segment !== change.segment);
      return;
    }
    case 'consent': {
      const profile = profileOf(document, source);
      const consents = { ...(profile['consents'] as Record<string, unknown> | undefined) };
      if (change.granted) consents[change.consent] = { revoke: change.revokeAt ?? null };
      else delete consents[change.consent];
      profile['consents'] = consents;
      return;
    }
  }
}

function profileOf(document: Document, source: SourceName): Record<string, unknown> {
  if (source !== 'profile') throw new Error(`segments and consents belong to the profile, not the ${source}`);
  return document.profile as Record<string, unknown>;
}

/** Applies the changes in order to a copy of the profile document; the input is left untouched. */
export function applyProfileChanges(
  profile: Record<string, unknown>,
  changes: readonly ProfileChange[],
): Record<string, unknown> {
  const document = { profile: structuredClone(profile) };
  for (const change of changes) applyOne(document, 'profile', change);
  return document.profile;
}

/**
 * Applies one change, in place, to a source of a run's context: the run's own copy of the profile as
 * its actions go, and its memory or payload with the same operations.
 */
export function applyChangeInContext(context: DotContext, source: SourceName, change: ProfileChange): void {
  applyOne(context, source, change);
}
