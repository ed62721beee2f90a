import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import type { TrackCommand, TrackOutcome } from './model.js';
import type { BatchCommitter, EventSource, EventSourceRepository } from './ports.js';
import { SourceCache } from './source-cache.js';
import { Tracker, type CollectOrigin } from './tracker.js';

const NOW = new Date('2026-12-04T18:00:00Z');
const BRIDGE: CollectOrigin = { channel: 'bridge' };

/** Commits by answering each command with fixed ids, and keeps what it was given, a batch per commit. */
class RecordingCommitter implements BatchCommitter {
  readonly commands: TrackCommand[] = [];
  readonly batches: TrackCommand[][] = [];
  /** A commit of more commands than this fails as a whole. */
  failAbove = Infinity;
  async commit(commands: TrackCommand[]): Promise<TrackOutcome[]> {
    if (commands.length > this.failAbove) throw new Error('batch refused');
    if (commands.some((command) => command.profileId === 'broken')) throw new DomainError('conflict', 'broken');
    this.batches.push(commands);
    this.commands.push(...commands);
    return commands.map((command) => ({
      profileId: 'p1',
      sessionId: 's1',
      eventIds: command.events.map((event) => event.id),
      duplicateEventIds: [],
      warnings: [],
      inlineRuns: [],
    }));
  }
}

function setup() {
  const source: EventSource = {
    id: 'web',
    name: 'web',
    description: '',
    enabled: true,
    type: 'rest',
    config: {},
    createdAt: '',
    updatedAt: '',
  };
  const repository = { get: async (id: string) => (id === source.id ? source : undefined) } as EventSourceRepository;
  const committer = new RecordingCommitter();
  const tracker = new Tracker(
    committer,
    new SourceCache(repository),
    { forEventType: async () => [] },
    { lanes: 2, maxBatch: 10, maxWaitMs: 0 },
    () => NOW,
  );
  return { committer, tracker };
}

async function refusal(work: Promise<unknown>): Promise<DomainError> {
  const error = await work.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
}

describe('Tracker.collect', () => {
  it('commits the valid events of a payload and answers as /track does, from any way in', async () => {
    const { committer, tracker } = setup();
    const answer = await tracker.collect(
      { source: { id: 'web' }, session: { id: 's1' }, events: [{ type: 'Page View', id: 'e1' }, { type: 42 }] },
      { channel: 'import', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' },
    );
    expect(answer).toMatchObject({
      events: ['e1'],
      profile: { id: 'p1' },
      session: { id: 's1' },
      errors: [{ index: 1, field: 'events.1.type' }],
    });
    expect(committer.commands).toHaveLength(1);
    const [command] = committer.commands;
    expect(command!.events.map((event) => [event.id, event.type])).toEqual([['e1', 'page-view']]);
    expect(command!.facts.os).toMatchObject({ name: 'Linux' });
  });

  it('refuses what is not a /track payload as a whole, naming the fields', async () => {
    const { committer, tracker } = setup();
    const error = await refusal(tracker.collect({ source: {}, events: 'none' }, BRIDGE));
    expect(error.code).toBe('validation_failed');
    expect(error.message).toMatch(/^invalid body: /);
    expect(error.details.map((problem) => problem.field).sort()).toEqual(['events', 'source.id']);
    expect(committer.commands).toEqual([]);
  });

  it('refuses an unknown event source', async () => {
    const { tracker } = setup();
    const error = await refusal(tracker.collect({ source: { id: 'elsewhere' }, events: [{ type: 'a' }] }, BRIDGE));
    expect(error.code).toBe('invalid_source');
    expect(error.details).toEqual([{ field: 'source.id', message: 'event source not found' }]);
  });

  it('refuses a payload none of whose events can be kept, naming each', async () => {
    const { committer, tracker } = setup();
    const error = await refusal(tracker.collect({ source: { id: 'web' }, events: [{}, { type: '' }] }, BRIDGE));
    expect(error.code).toBe('invalid_events');
    expect(error.details.map((problem) => problem.field)).toEqual(['events.0.type', 'events.1.type']);
    expect(committer.commands).toEqual([]);
  });
});

describe('Tracker.collectAll', () => {
  const payload = (profile: string) => ({ source: { id: 'web' }, profile: { id: profile }, events: [{ type: 'a' }] });

  it('commits the payloads in one commit per lane, and answers each, a refused payload with its refusal', async () => {
    const { committer, tracker } = setup();
    const people = Array.from({ length: 30 }, (_, at) => `p${at}`);
    const results = await tracker.collectAll(
      [payload('p1'), { source: { id: 'web' }, events: [{}] }, payload('p2'), payload('p3')],
      { channel: 'import', runFlows: false },
    );
    expect(committer.commands.map((command) => command.profileId).sort()).toEqual(['p1', 'p2', 'p3']);
    expect(committer.batches.length).toBeLessThanOrEqual(2);
    expect(committer.commands.every((command) => command.runFlows === false)).toBe(true);
    committer.batches.length = 0;
    await tracker.collectAll(people.map(payload), BRIDGE);
    // The group commit would flush at most 10 (its maxBatch) a transaction.
    expect(committer.batches.length).toBeLessThanOrEqual(2);
    expect(committer.batches.flat()).toHaveLength(30);
    expect(results.map((result) => ('error' in result ? result.error.code : result.answer.events.length))).toEqual([
      1,
      'invalid_events',
      1,
      1,
    ]);
  });

  it('checks payloads ahead of their commit: checkAll stores nothing, commitChecked stores and answers them', async () => {
    const { committer, tracker } = setup();
    const checked = await tracker.checkAll([payload('p1'), { source: { id: 'web' }, events: [{}] }], BRIDGE);
    expect(committer.commands).toEqual([]);
    const results = await tracker.commitChecked(checked);
    expect(committer.commands.map((command) => command.profileId)).toEqual(['p1']);
    expect(results.map((result) => ('error' in result ? result.error.code : 'stored'))).toEqual([
      'stored',
      'invalid_events',
    ]);
  });

  it("when a lane's commit fails, commits each of its payloads on its own, so only the bad one fails", async () => {
    const { committer, tracker } = setup();
    committer.failAbove = 1;
    const results = await tracker.collectAll([payload('p1'), payload('broken'), payload('p2')], BRIDGE);
    expect(committer.commands.map((command) => command.profileId).sort()).toEqual(['p1', 'p2']);
    expect(results.map((result) => ('error' in result ? result.error.code : 'stored'))).toEqual([
      'stored',
      'conflict',
      'stored',
    ]);
  });
});
