import { conflict, DomainError, notFound } from '../shared/errors.js';
import { timeOrderedId } from '../shared/ids.js';
import type { CommitStep, StepOutcome } from '../tracking/commit-steps.js';
import {
  identityKeys,
  keysOfValues,
  normaliseValue,
  writePath,
  type IdentityKey,
  type IdentitySettings,
} from './keys.js';
import { mergeProfiles, unmergeSurvivor, type ProfileRecord } from './merge.js';
import { pointsFor, pointValues, type IdentificationPoint } from './points.js';
import type { IdentityStore, MergeReason, MergeSummary } from './ports.js';

/**
 * Enabled identification points, read at most every `ttlMs` through the transaction that needs them
 * (the embedded store has one connection, held by that transaction); this process's own changes
 * apply at once.
 */
export class PointCache {
  private cached: { at: number; points: IdentificationPoint[] } | undefined;

  constructor(private readonly ttlMs = 2000) {}

  async enabled<Tx>(tx: Tx, load: (tx: Tx) => Promise<IdentificationPoint[]>): Promise<IdentificationPoint[]> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > this.ttlMs) {
      this.cached = { at: now, points: (await load(tx)).filter((point) => point.enabled) };
    }
    return this.cached.points;
  }

  forget(): void {
    this.cached = undefined;
  }
}

/** What the admin API uses. */
export type IdentityAdmin = Pick<Identity<unknown>, 'mergeProfiles' | 'alias' | 'undo' | 'history' | 'findByKey'>;

/**
 * One person, one profile. Every merge runs inside a transaction it is given (the /track commit, a
 * flow's, or its own for an operator), under the profiles' row locks taken in id order: the merged
 * profiles cannot change under it, and a deadlock with a writer that locked in another order is
 * retried by that writer's transaction.
 */
export class Identity<Tx> {
  constructor(
    private readonly store: IdentityStore<Tx>,
    private readonly settings: IdentitySettings,
    private readonly points: PointCache,
  ) {}

  /**
   * The commit step of identification points: the values of the events that meet a point are copied
   * to their profiles, whose identity keys are then claimed (as are those of profiles a mapping, a
   * flow or a profiles import wrote to); a profile holding one of them is merged. At collection, in a
   * flow's commit and for the profiles an import wrote only: a backfill over history, the heartbeat or
   * the events of a Tracardi export (history, written as it was) identify nobody.
   */
  commitStep(): CommitStep<Tx> {
    return {
      name: 'identification-points',
      run: async (tx, changes): Promise<StepOutcome | undefined> => {
        if (changes.writer === 'heartbeat' || changes.writer === 'backfill') return undefined;
        const events = changes.writer === 'import' ? [] : changes.events;
        const copies = new Map<string, [string, unknown][]>();
        const points = events.length === 0 ? [] : await this.points.enabled(tx, (t) => this.store.points(t));
        const met =
          points.length === 0
            ? []
            : events.filter((event) => event.profileId !== null && pointsFor(points, event).length > 0);
        const metIds = met.map((event) => event.id);
        const stored = metIds.length === 0 ? [] : await this.store.events(tx, metIds);
        const byId = new Map(stored.map((event) => [event.id, event]));
        for (const { id, profileId } of met) {
          const event = byId.get(id);
          if (!event || profileId === null) continue;
          copies.set(profileId, [...(copies.get(profileId) ?? []), ...pointValues(points, event)]);
        }
        // Profiles a mapping, a flow or an import wrote to are identified too: a key field may be among what it wrote.
        const documents = (changes.documents ?? []).filter((id) => !copies.has(id));
        for (const id of await this.claimDocuments(tx, documents)) copies.set(id, []);
        if (copies.size === 0) return undefined;
        const mergedInto = new Map<string, string>();
        for (const [profileId, values] of [...copies].sort(([a], [b]) => a.localeCompare(b))) {
          const byFlow = changes.writer === 'workflow' || changes.flowDocuments?.includes(profileId) === true;
          const by =
            values.length > 0
              ? 'identification-point'
              : byFlow
                ? 'flow'
                : changes.writer === 'import'
                  ? 'import'
                  : 'mapping';
          const survivor = await this.identify(tx, profileId, values, this.settings.keys, { by });
          if (survivor !== profileId) mergedInto.set(profileId, survivor);
        }
        return { mergedInto };
      },
    };
  }

  /**
   * Claims the identity keys of the profiles a writer wrote, for all of them at once: one read of their
   * values at the key paths, one claim. Answers those that found one of their values held by another
   * profile, which `identify` merges with its holders one by one, as it does a profile an event identified.
   */
  private async claimDocuments(tx: Tx, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0 || this.settings.keys.length === 0) return [];
    const paths = this.settings.keys;
    const claims = (await this.store.keyValues(tx, ids, paths)).flatMap(({ id, values }) =>
      keysOfValues(
        paths.map((path, index) => [path, values[index]]),
        this.settings,
      ).map((key) => ({ ...key, profileId: id })),
    );
    const taken = await this.store.claimKeys(tx, claims);
    return [...new Set(taken.map(({ profileId }) => profileId))];
  }

  /**
   * The merge effect of flows: merges the profile with every profile holding one of its values at
   * `keys` (paths such as `pii.email`, normalised as identity keys are). Runs in the caller's
   * transaction, which must be able to run again after a deadlock. Answers the survivor's id.
   */
  mergeByKeys(tx: Tx, profileId: string, keys: readonly string[]): Promise<string> {
    return this.identify(tx, profileId, [], keys, { by: 'flow' });
  }

  /** Whether a profile document holds a value at one of the identity keys (placeholders hold none). */
  holdsKeys(profile: Record<string, unknown>): boolean {
    return identityKeys(profile, this.settings).length > 0;
  }

  /**
   * A client's alias (Segment `alias`): `previousId`'s profile merged with `userId`'s, recorded as an
   * alias; undefined when either is unknown, as there is then nothing to join.
   */
  alias(previousId: string, userId: string): Promise<MergeSummary | undefined> {
    return this.store.transaction((tx) => this.merge(tx, [userId, previousId], { by: 'alias' }));
  }

  /** An operator's merge of the given profiles (ids or merged ids), in a transaction of its own. */
  mergeProfiles(ids: readonly string[]): Promise<MergeSummary> {
    return this.store.transaction(async (tx) => {
      const merged = await this.merge(tx, ids, { by: 'operator' });
      if (!merged) throw new DomainError('bad_request', 'a merge needs at least two existing, distinct profiles');
      return merged;
    });
  }

  /**
   * Undoes a merge: the merged-away profiles come back as they were, with their keys, segment
   * memberships and sessions; the survivor loses what the merge brought and keeps what came after.
   */
  undo(mergeId: string): Promise<MergeSummary> {
    return this.store.transaction(async (tx) => {
      const merge = await this.store.lockMerge(tx, mergeId);
      if (!merge) throw notFound('merge');
      if (merge.status !== 'merged' || !merge.after) throw conflict(`merge ${mergeId} is ${merge.status}`);
      const [current] = await this.store.lockProfiles(tx, [merge.survivorId]);
      if (current?.id !== merge.survivorId) {
        throw conflict(`profile ${merge.survivorId} was deleted or merged into another since; undo that first`);
      }
      const before = merge.before.find((profile) => profile.id === merge.survivorId)!;
      const mergedAway = merge.before.filter((profile) => profile.id !== merge.survivorId);
      const survivor = unmergeSurvivor(before, merge.after, current, mergedAway);
      await this.store.writeUndo(tx, { merge, survivor });
      // Values only a merged-away profile held, which the survivor claimed in the merge (values it never
      // claimed: a Tracardi profile's another held), go back with it; values the survivor still holds
      // stay, as the oldest holder's.
      const kept = new Set(this.keysOf(survivor).map(({ key, value }) => `${key}\u0000${value}`));
      for (const profile of mergedAway) {
        const back = this.keysOf(profile).filter(({ key, value }) => !kept.has(`${key}\u0000${value}`));
        if (back.length > 0) await this.store.handKeys(tx, merge.survivorId, profile.id, back);
      }
      const { before: _before, after: _after, ...summary } = merge;
      return { ...summary, status: 'undone', undoneAt: new Date().toISOString() };
    });
  }

  private keysOf(profile: ProfileRecord): IdentityKey[] {
    return identityKeys(profile as unknown as Record<string, unknown>, this.settings);
  }

  history(profileIds: readonly string[]): Promise<MergeSummary[]> {
    return this.store.history(profileIds);
  }

  /** The id of the profile holding the value at an identity key, compared normalised. */
  async findByKey(key: string, value: string): Promise<string | undefined> {
    const normalised = normaliseValue(key, value, this.settings);
    return normalised === undefined ? undefined : this.store.holder({ key, value: normalised });
  }

  /** Copies `values` to the profile, claims its keys at `paths`, merges with their holders; answers the survivor. */
  private async identify(
    tx: Tx,
    profileId: string,
    values: readonly [string, unknown][],
    paths: readonly string[],
    reason: MergeReason,
  ): Promise<string> {
    const [profile] = await this.lockResolved(tx, [profileId]);
    if (!profile) return profileId;
    if (values.length > 0) {
      for (const [path, value] of values) writePath(profile as unknown as Record<string, unknown>, path, value);
      profile.updatedAt = new Date().toISOString();
      await this.store.writeDocuments(tx, [profile]);
    }
    const keys = identityKeys(profile as unknown as Record<string, unknown>, this.settings, paths);
    if (keys.length === 0) return profile.id;
    const shared = await this.store.claimKeys(
      tx,
      keys.map((key) => ({ ...key, profileId: profile.id })),
    );
    if (shared.length === 0) return profile.id;
    const others = [...new Set(shared.map(({ holder }) => holder))];
    const withKeys = { ...reason, keys: shared.map(({ key, value }) => ({ key, value })) };
    if (others.length + 1 > this.settings.maxMergeProfiles) {
      await this.store.recordRefusal(tx, {
        id: timeOrderedId(),
        survivorId: profile.id,
        mergedIds: others,
        reason: withKeys,
      });
      return profile.id;
    }
    return (await this.merge(tx, [profile.id, ...others], withKeys))?.survivorId ?? profile.id;
  }

  /** Merges the profiles (by id or merged id) under their locks; undefined when fewer than two exist. */
  private async merge(tx: Tx, ids: readonly string[], reason: MergeReason): Promise<MergeSummary | undefined> {
    const profiles = await this.lockResolved(tx, ids);
    if (profiles.length < 2) return undefined;
    if (profiles.length > this.settings.maxMergeProfiles) {
      throw new DomainError(
        'merge_refused',
        `a merge may join at most ${this.settings.maxMergeProfiles} profiles (MERGE_MAX_PROFILES); this one would join ${profiles.length}`,
        [{ field: 'ids', message: `at most ${this.settings.maxMergeProfiles} profiles` }],
      );
    }
    const after = mergeProfiles(profiles);
    const id = timeOrderedId();
    await this.store.writeMerge(tx, { id, reason, before: profiles, after });
    // Values the merged-away profiles held but never claimed (a Tracardi profile's another held) now belong to the survivor.
    await this.store.claimKeys(
      tx,
      identityKeys(after as unknown as Record<string, unknown>, this.settings).map((key) => ({
        ...key,
        profileId: after.id,
      })),
    );
    const mergedIds = profiles.map((profile) => profile.id).filter((profileId) => profileId !== after.id);
    return {
      id,
      survivorId: after.id,
      mergedIds,
      status: 'merged',
      reason,
      createdAt: new Date().toISOString(),
      undoneAt: null,
    };
  }

  /**
   * Locks the profiles the ids name. A profile merged away while this waited for its lock is gone, and
   * its survivor was not in the first read's snapshot: a second read finds it.
   */
  private async lockResolved(tx: Tx, ids: readonly string[]): Promise<ProfileRecord[]> {
    let profiles: ProfileRecord[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      profiles = await this.store.lockProfiles(tx, ids);
      const found = new Set(profiles.flatMap((profile) => [profile.id, ...profile.ids]));
      if (ids.every((id) => found.has(id))) break;
    }
    return profiles;
  }
}
