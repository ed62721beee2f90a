import { randomUUID } from 'node:crypto';
import { ApiError } from '../shared/errors.js';
import { sessionFacts } from './enrich.js';
import { GroupCommitter, type GroupCommitOptions } from './group-commit.js';
import type { TrackCommand, TrackOutcome, ValidEvent } from './model.js';
import { checkEvent, type EventProblem, type TrackPayload, type TrackResponse } from './payload.js';
import type { TrackingStore } from './ports.js';
import type { SourceCache } from './source-cache.js';

export interface RequestFacts {
  userAgent?: string;
  language?: string;
}

/**
 * The collect pipeline's entry: payload → checked command → group commit → Tracardi-shaped answer.
 * The answer is given only after the batch holding the request has committed.
 */
export class Tracker {
  private readonly committer: GroupCommitter<TrackCommand, TrackOutcome>;

  constructor(
    store: TrackingStore,
    private readonly sources: SourceCache,
    options: GroupCommitOptions,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.committer = new GroupCommitter((commands) => store.commit(commands, this.clock()), options);
  }

  async track(payload: TrackPayload, request: RequestFacts): Promise<TrackResponse> {
    const source = await this.sources.get(payload.source.id);
    if (!source || !source.enabled) {
      throw new ApiError(401, 'invalid_source', `event source "${payload.source.id}" is unknown or disabled`, [
        { field: 'source.id', message: source ? 'event source is disabled' : 'event source not found' },
      ]);
    }
    const now = this.clock();
    const events: ValidEvent[] = [];
    const problems: EventProblem[] = [];
    payload.events.forEach((raw, index) => {
      const checked = checkEvent(raw, index, now);
      if ('field' in checked) problems.push(checked);
      else events.push({ index, ...checked });
    });
    if (events.length === 0) {
      throw new ApiError(422, 'invalid_events', 'no valid event in the request', problems.map(({ field, message }) => ({ field, message })));
    }
    const options = payload.options ?? {};
    const command: TrackCommand = {
      requestId: randomUUID(),
      sourceId: source.id,
      profileId: payload.profile?.id ?? undefined,
      sessionId: payload.session?.id ?? undefined,
      facts: sessionFacts({ ...request, context: payload.context, deviceId: payload.device?.id }),
      context: payload.context ?? {},
      events,
      save: { session: options.saveSession ?? true, events: options.saveEvents ?? true, profile: options.saveProfile ?? true },
      problems,
    };
    const outcome = await this.committer.submit(command);
    return {
      task: command.requestId,
      ux: [],
      response: {},
      events: outcome.eventIds,
      profile: { id: outcome.profileId },
      session: { id: outcome.sessionId },
      errors: problems,
      warnings: outcome.duplicateEventIds.map((id) => `event "${id}" was already stored; kept once`),
    };
  }

  drain(): Promise<void> {
    return this.committer.drain();
  }
}
