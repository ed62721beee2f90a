import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import type { TrackCommand, TrackOutcome } from './model.js';
import type { BatchCommitter, EventSource, EventSourceRepository } from './ports.js';
import { SourceCache } from './source-cache.js';
import { Tracker, type CollectOrigin } from './tracker.js';

const NOW = new Date('2026-12-04T18:00:00Z');
const BRIDGE: CollectOrigin = { channel: 'bridge' };

/** Commits by answering each command with fixed ids, and keeps what it was given. */
class RecordingCommitter implements BatchCommitter {
  readonly commands: TrackCommand[] = [];
  async commit(commands: TrackCommand[]): Promise<TrackOutcome[]> {
    this.commands.push(...commands);
    return commands.map((command) => ({
      profileId: 'p1',
      sessionId: 's1',
      eventIds: command.events.map((event) => event.id),
      duplicateEventIds: [],
      warnings: [],
    }));
  }
}

function setup() {
  const source: EventSource = { id: 'web', name: 'web', description: '', enabled: true, createdAt: '', updatedAt: '' };
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
