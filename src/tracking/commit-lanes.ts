import { GroupCommitter, type GroupCommitOptions } from './group-commit.js';
import type { TrackCommand, TrackOutcome } from './model.js';
import type { BatchCommitter } from './ports.js';

/**
 * Commit lanes: a request goes to the lane its profile (or session) hashes to, so two flushes of
 * one process never wait on each other's row locks, while different visitors commit in parallel.
 */
export interface CommitLaneOptions extends Omit<GroupCommitOptions, 'concurrency'> {
  lanes: number;
}

/** The lane of a profile (or session) id; of no id, any lane. */
export function laneOf(key: string | undefined, lanes: number): number {
  if (key === undefined) return Math.floor(Math.random() * lanes);
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
  return Math.abs(hash) % lanes;
}

/** One group committer per lane, each with one flush in flight; the commit's clock is read per flush. */
export class CommitLanes {
  private readonly lanes: GroupCommitter<TrackCommand, TrackOutcome>[];

  constructor(committer: BatchCommitter, options: CommitLaneOptions, clock: () => Date) {
    this.lanes = Array.from(
      { length: options.lanes },
      () => new GroupCommitter((commands) => committer.commit(commands, clock()), { ...options, concurrency: 1 }),
    );
  }

  /** Settles once the flush holding the command has committed. */
  submit(command: TrackCommand): Promise<TrackOutcome> {
    return this.lanes[laneOf(command.profileId ?? command.sessionId, this.lanes.length)]!.submit(command);
  }

  /** Indexes of the commands by the lane submit would send each to: parts that rarely lock the same rows. */
  partsByLane(commands: readonly TrackCommand[]): number[][] {
    return this.partsOf(commands.map((command) => command.profileId ?? command.sessionId));
  }

  /** Indexes of keys (a profile id, else a session id) by the lane a command with that key goes to. */
  partsOf(keys: readonly (string | undefined)[]): number[][] {
    const parts = this.lanes.map((): number[] => []);
    keys.forEach((key, index) => parts[laneOf(key, this.lanes.length)]!.push(index));
    return parts.filter((part) => part.length > 0);
  }

  async drain(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.drain()));
  }
}
