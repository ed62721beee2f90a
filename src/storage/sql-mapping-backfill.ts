/**
 * Backfills of mappings over stored events. Each batch is one transaction: claim the batch, load its
 * events in seq order, apply the current mapping in JavaScript (the same pure functions tracking
 * uses), write back set-based, record progress.
 */
import { DEFAULT_SQL_MAPPING, documentFromRow } from '../condition/index.js';
import { applyToProfile, propsToTraits, type EventDocument, type ProfileDocument } from '../mapping/apply.js';
import { MAPPING_KINDS, WRITABLE_PROFILE_PARTS, type Mapping, type MappingKind } from '../mapping/mapping.js';
import type { BackfillBatch, BackfillRange, BackfillStore, BatchOutcome } from '../mapping/ports.js';
import type { JobRun } from '../shared/job-runs.js';
import type { Database, SqlExecutor } from './database.js';
import { claimBatch, completeBatch, createRun, markRunFailed, reopenUnfinishedRuns } from './sql-job-runs.js';
import { appliedEventIds, recordAppliedMappings } from './sql-mappings.js';
import { runCommitSteps, type CommitStep, type CommittedChanges } from '../tracking/commit-steps.js';

type Row = Record<string, unknown>;

/** The events of one batch: the mapping's current type, within the run's time range. */
interface EventSelection {
  eventType: string;
  fromSeq: number;
  toSeq: number;
  from: string | null;
  to: string | null;
}

/** `occurred_at` within [from, to), either bound optional, given the placeholders of the bounds. */
const occurredWithin = (from: string, to: string) =>
  `(${from}::timestamptz IS NULL OR occurred_at >= ${from}::timestamptz) AND (${to}::timestamptz IS NULL OR occurred_at < ${to}::timestamptz)`;

function selectEvents(tx: SqlExecutor, selection: EventSelection, lock: 'FOR UPDATE' | ''): Promise<Row[]> {
  return tx.query(
    `SELECT * FROM events WHERE type = $1 AND ${occurredWithin('$2', '$3')} AND seq >= $4 AND seq < $5 ORDER BY seq ${lock}`,
    [selection.eventType, selection.from, selection.to, selection.fromSeq, selection.toSeq],
  );
}

/** A batch's outcome, and the profiles whose stored state it changed. */
interface Applied {
  outcome: BatchOutcome;
  changedProfiles: CommittedChanges['profiles'];
}

const eventDocumentOf = (row: Row) => documentFromRow(DEFAULT_SQL_MAPPING.event!, row) as EventDocument;

async function copyPropsToTraits(tx: SqlExecutor, mapping: Mapping, selection: EventSelection): Promise<Applied> {
  // Locked: two backfills writing the same events' traits would otherwise lose one another's copies.
  const events = await selectEvents(tx, selection, 'FOR UPDATE');
  let errors = 0;
  const updates = events.map((row) => {
    const { traits, failed } = propsToTraits(eventDocumentOf(row), [mapping]);
    if (failed.length > 0) errors++;
    return { id: row.id, traits };
  });
  if (updates.length > 0) {
    await tx.query(
      `UPDATE events e SET traits = r.traits FROM jsonb_to_recordset($1::text::jsonb) AS r(id text, traits jsonb)
        WHERE e.id = r.id AND e.traits IS DISTINCT FROM r.traits`,
      [JSON.stringify(updates)],
    );
  }
  return { outcome: { events: events.length, errors }, changedProfiles: [] };
}

/** Profiles by their id and by every id merged into them, as tracking resolves them. */
async function lockProfiles(tx: SqlExecutor, ids: string[]): Promise<Map<string, ProfileDocument>> {
  const rows =
    ids.length === 0
      ? []
      : await tx.query(
          `SELECT * FROM profiles WHERE id = ANY($1::text[]) OR (ids <> '{}' AND ids && $1::text[]) ORDER BY id FOR UPDATE`,
          [ids],
        );
  const byId = new Map<string, ProfileDocument>();
  for (const row of rows) {
    const profile = documentFromRow(DEFAULT_SQL_MAPPING.profile!, row) as ProfileDocument;
    byId.set(row.id as string, profile);
    for (const merged of row.ids as string[]) if (!byId.has(merged)) byId.set(merged, profile);
  }
  return byId;
}

async function sessionsOf(tx: SqlExecutor, ids: string[]): Promise<Map<string, Record<string, unknown>>> {
  const rows = ids.length === 0 ? [] : await tx.query('SELECT * FROM sessions WHERE id = ANY($1::text[])', [ids]);
  return new Map(rows.map((row) => [row.id as string, documentFromRow(DEFAULT_SQL_MAPPING.session!, row)]));
}

const PROFILE_PARTS_RECORD = ['id text', ...WRITABLE_PROFILE_PARTS.map((part) => `${part} jsonb`)].join(', ');
const SET_PROFILE_PARTS = WRITABLE_PROFILE_PARTS.map((part) => `${part} = r.${part}`).join(', ');

/**
 * Events in seq order onto their profiles, each (mapping, event) once: events the mapping already
 * reached, here or at collection time, are skipped. The marker check comes after the profile locks,
 * so a concurrent run over the same events waits and then sees the markers of the first.
 */
async function copyEventsToProfiles(tx: SqlExecutor, mapping: Mapping, selection: EventSelection): Promise<Applied> {
  const events = await selectEvents(tx, selection, '');
  const distinct = (column: string) => [
    ...new Set(events.map((row) => row[column]).filter((id): id is string => typeof id === 'string')),
  ];
  const profiles = await lockProfiles(tx, distinct('profile_id'));
  const sessions = await sessionsOf(tx, distinct('session_id'));
  const done = await appliedEventIds(
    tx,
    mapping.id,
    events.map((row) => row.id as string),
  );

  const changed = new Set<ProfileDocument>();
  const applied: { mappingId: string; eventId: string }[] = [];
  let errors = 0;
  for (const row of events) {
    const profile = profiles.get(row.profile_id as string);
    if (!profile || done.has(row.id as string)) continue;
    const result = applyToProfile(profile, eventDocumentOf(row), sessions.get(row.session_id as string), [mapping]);
    errors += result.failed.length;
    if (result.changed) changed.add(profile);
    if (result.applied.length > 0) applied.push({ mappingId: mapping.id, eventId: row.id as string });
  }
  const rows = [...changed].map((profile) =>
    Object.fromEntries(['id', ...WRITABLE_PROFILE_PARTS].map((key) => [key, profile[key]])),
  );
  if (rows.length > 0) {
    await tx.query(
      `UPDATE profiles p SET ${SET_PROFILE_PARTS}, updated_at = now(), version = p.version + 1
         FROM jsonb_to_recordset($1::text::jsonb) AS r(${PROFILE_PARTS_RECORD}) WHERE p.id = r.id`,
      [JSON.stringify(rows)],
    );
  }
  await recordAppliedMappings(tx, applied);
  // As /track's changes: segments look at these profiles again.
  const changedProfiles = rows.map((row) => ({ id: row.id as string, eventTypes: [mapping.eventType] }));
  return { outcome: { events: events.length, errors }, changedProfiles };
}

const APPLY: Record<MappingKind, (tx: SqlExecutor, mapping: Mapping, selection: EventSelection) => Promise<Applied>> = {
  'event-props-to-traits': copyPropsToTraits,
  'event-to-profile': copyEventsToProfiles,
};

const rangeParams = (params: Record<string, unknown>) => ({
  from: typeof params.from === 'string' ? params.from : null,
  to: typeof params.to === 'string' ? params.to : null,
});

export class SqlMappingBackfills implements BackfillStore {
  constructor(
    private readonly db: Database,
    private readonly steps: readonly CommitStep<SqlExecutor>[],
  ) {}

  plan(runId: string, mapping: Mapping, range: BackfillRange, batchSize: number): Promise<JobRun> {
    const params = {
      eventType: mapping.eventType,
      from: range.from?.toISOString() ?? null,
      to: range.to?.toISOString() ?? null,
    };
    // Consecutive matching events, batchSize at a time; the gaps between batches hold none of them.
    const planned = {
      sql: `SELECT ((n - 1) / $5)::int AS batch, min(seq) AS from_seq, max(seq) + 1 AS to_seq, count(*)::int AS items
              FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM events WHERE type = $2 AND ${occurredWithin('$3', '$4')}) matching
             GROUP BY 1 ORDER BY 1`,
      params: [mapping.eventType, params.from, params.to, batchSize],
    };
    return this.db.transaction((tx) =>
      createRun(tx, { id: runId, kind: mapping.kind, subject: mapping.id, params }, planned),
    );
  }

  runBatch(work: BackfillBatch, mapping: Mapping | undefined): Promise<BatchOutcome | undefined> {
    return this.db.transaction(async (tx) => {
      const batch = await claimBatch(tx, work.runId, work.batch);
      if (!batch) return undefined;
      const { outcome, changedProfiles } = mapping
        ? await APPLY[mapping.kind](tx, mapping, {
            eventType: mapping.eventType,
            fromSeq: batch.fromSeq,
            toSeq: batch.toSeq,
            ...rangeParams(batch.params),
          })
        : { outcome: { events: 0, errors: 0 }, changedProfiles: [] };
      await runCommitSteps(this.steps, tx, {
        writer: 'backfill',
        events: [],
        profiles: changedProfiles,
      });
      await completeBatch(tx, work.runId, { items: outcome.events, errors: outcome.errors });
      return outcome;
    });
  }

  markFailed(runId: string, error: string): Promise<void> {
    return markRunFailed(this.db, runId, error);
  }

  async reopenUnfinished(): Promise<(BackfillBatch & { kind: MappingKind })[]> {
    const batches = await reopenUnfinishedRuns(this.db, MAPPING_KINDS);
    return batches.map(({ runId, kind, subject, batch }) => ({
      runId,
      kind: kind as MappingKind,
      mappingId: subject,
      batch,
    }));
  }
}
