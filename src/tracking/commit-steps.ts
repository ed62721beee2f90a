/**
 * Commit steps: what reacts to committed events and profile changes runs inside the writer's own
 * transaction, after the changes are written, so it commits or rolls back with them. Every writer
 * (`/track`, the heartbeat, mapping backfills) runs the same ordered list; a capability that reacts to
 * what was committed adds a step to it, never a call to each writer.
 */

export interface CommittedEvent {
  id: string;
  type: string;
  profileId: string | null;
  sessionId: string | null;
  sourceId: string;
  occurredAt: Date;
}

export interface CommittedChanges {
  writer: 'track' | 'heartbeat' | 'backfill' | 'workflow';
  /** Events this transaction actually stored (a repeated id is not in here). */
  events: CommittedEvent[];
  /**
   * Profiles whose stored state changed, with the event types that changed them (segmentation reads
   * these). Each profile appears once.
   */
  profiles: { id: string; eventTypes: string[] }[];
}

export interface CommitStep<Tx> {
  name: string;
  run(tx: Tx, changes: CommittedChanges): Promise<void>;
}

/** Runs the steps in order; a transaction that committed nothing has nothing to react to. */
export async function runCommitSteps<Tx>(
  steps: readonly CommitStep<Tx>[],
  tx: Tx,
  changes: CommittedChanges,
): Promise<void> {
  if (changes.events.length === 0 && changes.profiles.length === 0) return;
  for (const step of steps) await step.run(tx, changes);
}
