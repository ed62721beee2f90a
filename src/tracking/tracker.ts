import { randomUUID } from 'node:crypto';
import { DomainError } from '../shared/errors.js';
import { timeOrderedId } from '../shared/ids.js';
import { ignoredContextFields, sessionFacts } from './enrich.js';
import { CommitLanes, type CommitLaneOptions } from './commit-lanes.js';
import { SystemEvent, type InlineRunAnswer, type TrackCommand, type TrackOutcome, type ValidEvent } from './model.js';
import {
  checkEnvelope,
  checkEvent,
  isoTextDate,
  normalizeEventType,
  requestSettings,
  type EventProblem,
  type TrackedEvent,
  type TrackResponse,
} from './payload.js';
import { eventDocument, propsToTraits } from '../mapping/apply.js';
import type { Mapping } from '../mapping/mapping.js';
import type { AppendedEvent, BatchCommitter, EventAppender, EventSource } from './ports.js';
import type { SourceCache } from './source-cache.js';
import { findUnstorableField } from './storable.js';

/** The request-level parts of a payload that are looked up or stored (the events are checked one by one). */
const STORED_REQUEST_FIELDS = ['source', 'session', 'profile', 'device', 'context'] as const;

/** The mappings that apply to events of a type (cached: read on every event). */
export interface MappingLookup {
  forEventType(type: string): Promise<readonly Mapping[]>;
}

/** How a payload arrived: the HTTP route, a queue bridge, an importer, the scheduler or a flow. */
export interface CollectOrigin {
  channel: 'http' | 'bridge' | 'import' | 'scheduler' | 'workflow';
  /** The client's user agent and preferred language, where the way in carries them (HTTP headers). */
  userAgent?: string;
  language?: string;
  /** false: the events are stored without starting workflow rules (an import of history). */
  runFlows?: boolean;
}

/** A committed request, as what follows the commit sees it. */
export interface CommittedRequest {
  channel: CollectOrigin['channel'];
  sourceId: string;
  events: readonly { id: string; type: string }[];
  /** The workflow runs of its events the commit finished itself. */
  inlineRuns: readonly InlineRunAnswer[];
}

/**
 * Work that follows a commit, before the answer: the workflow runs the commit recorded. Work whose
 * result belongs in the answer happens here; the rest is handed on. It never fails the request.
 */
export interface CommitFollowUp {
  afterCommit(committed: CommittedRequest): Promise<Pick<TrackResponse, 'response' | 'ux'>>;
}

/** What an entry that speaks another protocol adds to a /track body (the Segment spec, imports). */
export interface CollectExtras {
  /**
   * The profile id is the client's own (a Segment userId, an import's mapped person): a profile unknown
   * by it is created with it.
   */
  staticProfileId?: boolean;
  /** Event-to-profile mappings of the call itself (Segment traits), applied at commit with the configured ones. */
  profileMappings?: (index: number) => readonly Mapping[];
}

/** An event for the session of its person, as an importer hands it to checkAppend. */
export interface AppendCandidate {
  id: string;
  /** Its own type, where it has one; else the type checkAppend is given. */
  type?: string;
  sessionId: string;
  profileId: string | undefined;
  properties: Record<string, unknown>;
  /** Its context and tags, where the importer maps them (undefined: none, as for an event /track sends without). */
  context?: Record<string, unknown>;
  tags?: string[];
  /** When it occurred (undefined: now), as the importer read it. */
  occurredAt?: Date;
}

/** checkAppend's events: those it accepted with their indexes, and the indexes it left to collect. */
export interface CheckedAppend {
  readonly sourceId: string;
  readonly origin: CollectOrigin;
  readonly events: AppendedEvent[];
  readonly at: number[];
  readonly refused: number[];
}

/** One payload's answer from collectAll, or the refusal collect would have thrown. */
export type CollectResult = { answer: TrackResponse } | { error: DomainError };

/** A payload checked and turned into its command, with what its answer repeats. */
interface CheckedRequest {
  command: TrackCommand;
  sourceId: string;
  events: ValidEvent[];
  problems: EventProblem[];
  warnings: string[];
}

/** Payloads Tracker.checkAll checked, for Tracker.commitChecked: the refusals by index, the rest as commands. */
export interface CheckedPayloads {
  readonly origin: CollectOrigin;
  readonly refused: ReadonlyMap<number, DomainError>;
  readonly checked: readonly { at: number; request: CheckedRequest }[];
}

/** A refusal is a command's own answer; anything else fails the caller. */
function domainErrorOnly(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  throw error;
}

export interface TrackerOptions extends CommitLaneOptions {
  /** What follows each commit (workflow runs); the answer's `response` and `ux` are its. */
  followUp?: CommitFollowUp;
}

/**
 * The collect pipeline's entry: payload → checked command → commit lane → Tracardi-shaped answer.
 * The answer is given only after the batch holding the request has committed.
 */
export class Tracker {
  private readonly lanes: CommitLanes;
  private readonly followUp: CommitFollowUp | undefined;

  constructor(
    private readonly committer: BatchCommitter,
    private readonly sources: SourceCache,
    private readonly mappings: MappingLookup,
    options: TrackerOptions,
    private readonly clock: () => Date = () => new Date(),
  ) {
    const { followUp, ...laneOptions } = options;
    this.followUp = followUp;
    this.lanes = new CommitLanes(committer, laneOptions, clock);
  }

  /**
   * The one entry every way in uses, with /track's checks and acknowledgement: the envelope as a
   * whole, each event on its own (bad ones are reported by index, the rest go on), the event source.
   * Refusals are DomainErrors (`validation_failed`, `invalid_source`, `invalid_events`); the caller
   * maps them to its transport.
   */
  async collect(raw: unknown, origin: CollectOrigin, extras: CollectExtras = {}): Promise<TrackResponse> {
    const checked = await this.check(raw, origin, extras);
    return this.answer(checked, origin, await this.lanes.submit(checked.command));
  }

  /**
   * Many payloads with collect's checks and answers, committed in one transaction per commit lane
   * (side by side, each with the commands that lane would take) rather than through the group commit:
   * an import's batch of thousands of rows pays a few commits, not one per group-commit flush. A
   * payload collect would refuse gets its refusal; should a lane's transaction fail, each of its
   * commands is committed on its own through the lanes, so one bad command fails alone.
   */
  async collectAll(raws: readonly unknown[], origin: CollectOrigin): Promise<CollectResult[]> {
    return this.commitChecked(await this.checkAll(raws, origin));
  }

  /**
   * collectAll's first half, its checks and mapping (no store involved), so that a caller can check
   * the next payloads while the ones before commit.
   */
  async checkAll(
    raws: readonly unknown[],
    origin: CollectOrigin,
    extras: CollectExtras = {},
  ): Promise<CheckedPayloads> {
    const refused = new Map<number, DomainError>();
    const checked: { at: number; request: CheckedRequest }[] = [];
    for (const [at, raw] of raws.entries()) {
      try {
        checked.push({ at, request: await this.check(raw, origin, extras) });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        refused.set(at, error);
      }
    }
    return { origin, refused, checked };
  }

  /**
   * collectAll's second half: commits what checkAll checked and answers each payload, in its order;
   * by `committer` (an import's own), else by the tracker's.
   */
  async commitChecked(
    { origin, refused, checked }: CheckedPayloads,
    committer: BatchCommitter = this.committer,
  ): Promise<CollectResult[]> {
    const results: CollectResult[] = [];
    for (const [at, error] of refused) results[at] = { error };
    const commands = checked.map(({ request }) => request.command);
    const outcomes: (TrackOutcome | DomainError)[] = [];
    await Promise.all(
      this.lanes.partsByLane(commands).map(async (part) => {
        const own = part.map((index) => commands[index]!);
        const committed = await committer
          .commit(own, this.clock())
          .catch(() => Promise.all(own.map((command) => this.lanes.submit(command).catch(domainErrorOnly))));
        part.forEach((index, at) => (outcomes[index] = committed[at]!));
      }),
    );
    await Promise.all(
      checked.map(async ({ at, request }, index) => {
        const outcome = outcomes[index]!;
        results[at] =
          outcome instanceof DomainError ? { error: outcome } : { answer: await this.answer(request, origin, outcome) };
      }),
    );
    return results;
  }

  /** The checks and mapping a payload goes through before the commit, and the command it becomes. */
  private async check(raw: unknown, origin: CollectOrigin, extras: CollectExtras): Promise<CheckedRequest> {
    const payload = checkEnvelope(raw);
    const unstorable = findUnstorableField(payload, STORED_REQUEST_FIELDS);
    if (unstorable)
      throw new DomainError('validation_failed', `${unstorable.field}: ${unstorable.message}`, [unstorable]);
    const source = await this.enabledSource(payload.source.id);
    const now = this.clock();
    const context = payload.context ?? {};
    const events: ValidEvent[] = [];
    const problems: EventProblem[] = [];
    const settings = requestSettings(payload);
    const warnings = [...settings.warnings, ...ignoredContextFields(payload.context)];
    // An event id is stored once: a repeat within the request is dropped here, so that it neither
    // counts twice on the session nor shows twice in the answer, and the answer says so.
    const indexOfId = new Map<string, number>();
    for (let index = 0; index < payload.events.length; index++) {
      const checked = checkEvent(payload.events[index], index, now);
      if ('field' in checked) {
        problems.push(checked);
        continue;
      }
      const id = checked.event.id;
      const first = id === undefined ? undefined : indexOfId.get(id);
      if (first !== undefined) {
        warnings.push(`event ${index}: id "${id}" repeats event ${first} of this request; kept once`);
        continue;
      }
      if (id !== undefined) indexOfId.set(id, index);
      const mapped = await this.mapEvent(index, checked.event, checked.time, source.id, context, now, warnings);
      const own = extras.profileMappings?.(index) ?? [];
      events.push(own.length > 0 ? { ...mapped, profileMappings: [...mapped.profileMappings, ...own] } : mapped);
    }
    if (events.length === 0) {
      throw new DomainError(
        'invalid_events',
        'no valid event in the request',
        problems.map(({ field, message }) => ({ field, message })),
      );
    }
    const command: TrackCommand = {
      requestId: randomUUID(),
      sourceId: source.id,
      profileId: payload.profile?.id ?? undefined,
      staticProfileId: extras.staticProfileId === true,
      sessionId: payload.session?.id ?? undefined,
      facts: sessionFacts({
        userAgent: origin.userAgent,
        language: origin.language,
        context: payload.context,
        deviceId: settings.deviceId,
        eventContexts: events.map((valid) => valid.event.context),
      }),
      context,
      events,
      save: settings.save,
      problems,
      ...(origin.runFlows === false ? { runFlows: false as const } : {}),
    };
    return { command, sourceId: source.id, events, problems, warnings };
  }

  /**
   * Events of one source, each for the session of its person, checked as collect checks them
   * (the source known and enabled, each event as /track checks it) for `appendChecked`, which appends
   * them without a request, an answer and a commit lane each. Collect is left what needs it: events
   * the checks refuse (collect refuses them with its reasons), types with mappings, an event ending a
   * visit and the events after it on its session, and those the appender declines. `type` is that of the events without a type of their own.
   */
  async checkAppend(
    sourceId: string,
    type: string,
    events: readonly AppendCandidate[],
    origin: CollectOrigin,
  ): Promise<CheckedAppend> {
    const source = await this.enabledSource(sourceId);
    const checked: CheckedAppend = { sourceId: source.id, origin, events: [], at: [], refused: [] };
    // A type is normalised as collect normalises it; one with event-to-profile mappings goes through collect.
    const types = new Map<string, { normalized: string; appendable: boolean }>();
    const typeOf = async (raw: string) => {
      const normalized = normalizeEventType(raw);
      const known = { normalized, appendable: (await this.mappings.forEventType(normalized)).length === 0 };
      types.set(raw, known);
      return known;
    };
    // An event ending a visit changes the session beyond a touch: it and the session's later events go
    // through collect, in their order, which ends the visit and opens the next as /track does.
    const ending = new Set<string>();
    const now = this.clock();
    for (let index = 0; index < events.length; index++) {
      const { id, sessionId, profileId, properties, context, tags, occurredAt } = events[index]!;
      const raw = events[index]!.type ?? type;
      const eventType = types.get(raw) ?? (await typeOf(raw));
      if (eventType.normalized === SystemEvent.visitEnded) ending.add(sessionId);
      // The time is the importer's, already a date: the check is of the rest, and of its range, the one
      // collect applies to the ISO text a refused event is handed on as.
      const valid = checkEvent({ id, type: raw, properties, context, tags }, 0, now);
      const time = occurredAt === undefined ? now : isoTextDate(occurredAt);
      if (!eventType.appendable || ending.has(sessionId) || 'field' in valid || time === undefined) {
        checked.refused.push(index);
        continue;
      }
      checked.at.push(index);
      checked.events.push({
        id,
        type: eventType.normalized,
        sessionId,
        profileId,
        properties,
        context,
        tags,
        occurredAt: time,
      });
    }
    return checked;
  }

  /**
   * Appends what checkAppend accepted, a part a commit lane, side by side (the parts name different
   * people, and the appends lock nothing). Returns how many it stored or found stored, and the indexes
   * of the events left to collect.
   */
  async appendChecked(
    { sourceId, origin, events, at, refused }: CheckedAppend,
    appender: EventAppender,
  ): Promise<{ stored: number; declined: number[] }> {
    const declined = [...refused];
    const stored: { id: string; type: string }[] = [];
    const now = this.clock();
    await Promise.all(
      this.lanes.partsOf(events.map((event) => event.profileId ?? event.sessionId)).map(async (part) => {
        const outcome = await appender.append(
          { sourceId, events: part.map((index) => events[index]!), now },
          origin.runFlows !== false,
        );
        for (const index of outcome.declined) declined.push(at[part[index]!]!);
        for (const { id, type } of outcome.stored) stored.push({ id, type });
      }),
    );
    // What follows a commit follows the appends too (the workflow worker woken for the runs they recorded).
    if (stored.length > 0 && origin.runFlows !== false)
      await this.followUp?.afterCommit({ channel: origin.channel, sourceId, events: stored, inlineRuns: [] });
    return { stored: events.length - (declined.length - refused.length), declined: declined.sort((a, b) => a - b) };
  }

  private async enabledSource(id: string): Promise<EventSource> {
    const source = await this.sources.get(id);
    if (!source || !source.enabled) {
      throw new DomainError('invalid_source', `event source "${id}" is unknown or disabled`, [
        { field: 'source.id', message: source ? 'event source is disabled' : 'event source not found' },
      ]);
    }
    return source;
  }

  /** collect's answer to a committed command; the workflow runs it recorded follow. */
  private async answer(
    { command, sourceId, events, problems, warnings }: CheckedRequest,
    origin: CollectOrigin,
    outcome: TrackOutcome,
  ): Promise<TrackResponse> {
    const answer = (await this.followUp?.afterCommit({
      channel: origin.channel,
      sourceId,
      events: events.map((valid) => ({ id: valid.id, type: valid.type })),
      inlineRuns: outcome.inlineRuns,
    })) ?? { response: {}, ux: [] };
    return {
      task: command.requestId,
      response: answer.response,
      ux: answer.ux,
      events: outcome.eventIds,
      profile: { id: outcome.profileId },
      session: { id: outcome.sessionId },
      errors: problems,
      warnings:
        outcome.warnings.length === 0 && outcome.duplicateEventIds.length === 0
          ? warnings
          : [
              ...warnings,
              ...outcome.warnings,
              ...outcome.duplicateEventIds.map((id) => `event "${id}" was already stored; kept once`),
            ],
    };
  }

  /**
   * Gives the event its id and normalised type, copies mapped properties into its traits, and
   * attaches its event-to-profile mappings (applied at commit, where the profile is locked).
   */
  private async mapEvent(
    index: number,
    event: TrackedEvent,
    time: Date,
    sourceId: string,
    context: Record<string, unknown>,
    now: Date,
    warnings: string[],
  ): Promise<ValidEvent> {
    const id = event.id ?? timeOrderedId(now);
    const type = normalizeEventType(event.type);
    const mappings = await this.mappings.forEventType(type);
    const profileMappings = mappings.filter((mapping) => mapping.kind === 'event-to-profile');
    let traits: Record<string, unknown> = {};
    if (mappings.length > profileMappings.length) {
      const document = eventDocument({
        id,
        type,
        sourceId,
        properties: event.properties ?? {},
        context: { ...context, ...event.context },
        tags: event.tags ?? [],
        occurredAt: time,
        insertedAt: now,
      });
      const mapped = propsToTraits(document, mappings);
      traits = mapped.traits;
      for (const failure of mapped.failed)
        warnings.push(`event ${index}: mapping ${failure.mappingId} not applied: ${failure.message}`);
    }
    // Built whole, not spread from the checked event: this runs for every event tracked.
    return { index, event, time, id, type, traits, profileMappings };
  }

  drain(): Promise<void> {
    return this.lanes.drain();
  }
}
