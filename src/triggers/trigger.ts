/**
 * Triggers: which flows a segment change starts. Segmentation appends every entry and exit to the
 * `segment_changes` outbox; the trigger worker hands the changes out in batches and records one
 * pending workflow run per (change, rule) it fires. This module decides, without I/O.
 */

export type ChangeKind = 'entered' | 'left';

/** One entry of the outbox, as the trigger worker claims it. */
export interface SegmentChange {
  seq: number;
  segmentId: string;
  profileId: string;
  change: ChangeKind;
  /** When segmentation decided the change (the segmentation run's clock). */
  at: Date;
  /** False when the profile was deleted after the change was recorded. */
  profileExists: boolean;
}

/** A `segment-entered` or `segment-left` rule, with what decides whether it may fire. */
export interface SegmentRule {
  id: string;
  kind: 'segment-entered' | 'segment-left';
  segmentId: string;
  flowId: string;
  enabled: boolean;
  flowEnabled: boolean;
  createdAt: Date;
}

/** What a run started by a segment change sees as `payload@…`. */
export interface ChangePayload {
  segment: string;
  change: ChangeKind;
  at: string;
}

export interface TriggeredRun {
  ruleId: string;
  flowId: string;
  trigger: SegmentRule['kind'];
  changeSeq: number;
  profileId: string;
  payload: ChangePayload;
  /**
   * The run's place among the runs this batch records for its profile (0, 1, …): the workflow worker
   * takes a profile's runs in the order they were recorded, so they follow the changes' order.
   */
  position: number;
}

export type SkipReason = 'profile-deleted';

export interface TriggerDecision {
  runs: TriggeredRun[];
  skipped: { seq: number; reason: SkipReason }[];
}

export const RULE_KIND: Record<ChangeKind, SegmentRule['kind']> = {
  entered: 'segment-entered',
  left: 'segment-left',
};

/**
 * Whether `rule` fires for `change`. A rule fires only for changes made once it existed: a rule saved
 * today does not start flows for a backlog of last week's entries (a replay asks for that explicitly).
 */
export function fires(rule: SegmentRule, change: SegmentChange): boolean {
  return (
    rule.enabled &&
    rule.flowEnabled &&
    rule.segmentId === change.segmentId &&
    rule.kind === RULE_KIND[change.change] &&
    rule.createdAt.getTime() <= change.at.getTime()
  );
}

/**
 * The runs a batch of changes starts, in the changes' order (then by rule id), and the changes skipped
 * with why. A change whose profile is gone starts nothing: a flow has no profile to act on.
 */
export function decide(changes: readonly SegmentChange[], rules: readonly SegmentRule[]): TriggerDecision {
  const ordered = [...changes].sort((a, b) => a.seq - b.seq);
  const byId = [...rules].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const perProfile = new Map<string, number>();
  const decision: TriggerDecision = { runs: [], skipped: [] };
  for (const change of ordered) {
    if (!change.profileExists) {
      decision.skipped.push({ seq: change.seq, reason: 'profile-deleted' });
      continue;
    }
    for (const rule of byId) {
      if (!fires(rule, change)) continue;
      const position = perProfile.get(change.profileId) ?? 0;
      perProfile.set(change.profileId, position + 1);
      decision.runs.push({
        ruleId: rule.id,
        flowId: rule.flowId,
        trigger: rule.kind,
        changeSeq: change.seq,
        profileId: change.profileId,
        payload: { segment: change.segmentId, change: change.change, at: change.at.toISOString() },
        position,
      });
    }
  }
  return decision;
}
