import { describe, expect, it } from 'vitest';
import {
  failedAtCommit,
  mergeAnswers,
  outcomeOf,
  raisesOf,
  replayProfileChanges,
  type ClaimedRun,
  type FinishedRun,
} from './executor.js';
import type { RunEffect, RunResult } from './model.js';
import { raisedEventId } from './run-ids.js';

const result = (overrides: Partial<RunResult> = {}): RunResult => ({
  status: 'completed',
  trace: [],
  effects: [],
  response: {},
  ux: [],
  memory: {},
  ...overrides,
});

const finished = (id: string, changes: FinishedRun['outcome']['profileChanges']): FinishedRun => ({
  run: { id } as ClaimedRun,
  outcome: { result: result(), profileChanges: changes, eventTags: [], effects: [], carried: 0 },
});

describe('outcomeOf', () => {
  it('commits profile changes and tags with the run and keeps the rest on it', () => {
    const outcome = outcomeOf(
      result({
        effects: [
          { kind: 'profile', change: { op: 'set', path: 'traits.a', value: 1 } },
          { kind: 'event-tags', tags: ['x', 'y'] },
          { kind: 'raise-event', type: 'next', properties: {}, depth: 1 },
          { kind: 'schedule-event', type: 'later', properties: {}, at: '2030-01-01T00:00:00.000Z' },
        ],
      }),
    );
    expect(outcome.profileChanges).toEqual([{ op: 'set', path: 'traits.a', value: 1 }]);
    expect(outcome.eventTags).toEqual(['x', 'y']);
    expect(outcome.effects.map((effect) => effect.kind)).toEqual(['raise-event', 'schedule-event']);
  });

  it('keeps a resumed run effects after those its earlier part kept', () => {
    const earlier: RunEffect[] = [{ kind: 'raise-event', type: 'first', properties: {}, depth: 1 }];
    const outcome = outcomeOf(
      result({ effects: [{ kind: 'raise-event', type: 'second', properties: {}, depth: 1 }] }),
      earlier,
    );
    expect(outcome.effects.map((effect) => effect.kind === 'raise-event' && effect.type)).toEqual(['first', 'second']);
    expect(outcome.carried).toBe(1);
    expect(raisesOf('run-1', outcome.effects).map((raise) => raise.id)).toEqual([
      raisesOf('run-1', earlier)[0]!.id,
      expect.any(String),
    ]);
  });

  it('lets a failed run change nothing', () => {
    const outcome = outcomeOf(
      result({
        status: 'failed',
        error: { node: 'n1', message: 'no' },
        effects: [
          { kind: 'profile', change: { op: 'set', path: 'traits.a', value: 1 } },
          { kind: 'raise-event', type: 'next', properties: {}, depth: 1 },
        ],
      }),
    );
    expect(outcome).toMatchObject({ profileChanges: [], eventTags: [], effects: [] });
  });
});

describe('replayProfileChanges', () => {
  it("applies each run's changes on what the previous ones left", () => {
    const replayed = replayProfileChanges({ traits: { visits: 3 } }, [
      finished('a', [{ op: 'increment', path: 'traits.visits', by: 1 }]),
      finished('b', [{ op: 'increment', path: 'traits.visits', by: 1 }]),
    ]);
    expect(replayed.profile).toEqual({ traits: { visits: 5 } });
    expect(replayed.failures.size).toBe(0);
  });

  it('fails only the run whose changes no longer apply, and leaves none of them half done', () => {
    const replayed = replayProfileChanges({ traits: { visits: 'many' } }, [
      finished('a', [
        { op: 'set', path: 'traits.seen', value: true },
        { op: 'increment', path: 'traits.visits', by: 1 },
      ]),
      finished('b', [{ op: 'set', path: 'traits.plan', value: 'gold' }]),
    ]);
    expect(replayed.profile).toEqual({ traits: { visits: 'many', plan: 'gold' } });
    expect([...replayed.failures.keys()]).toEqual(['a']);
    expect(failedAtCommit(result(), replayed.failures.get('a')!)).toMatchObject({
      status: 'failed',
      error: { message: expect.stringMatching(/^profile changes not applied: /) as unknown },
    });
  });
});

describe('raisesOf', () => {
  it('gives each raised event an id derived from the run and its place', () => {
    const raises = raisesOf('run-1', [
      { kind: 'log', level: 'info', message: 'hi' },
      { kind: 'raise-event', type: 'a', properties: {}, depth: 1 },
      { kind: 'raise-event', type: 'b', properties: { x: 1 }, depth: 1 },
    ]);
    expect(raises.map((raised) => [raised.id, raised.type])).toEqual([
      [raisedEventId('run-1', 0), 'a'],
      [raisedEventId('run-1', 1), 'b'],
    ]);
  });
});

describe('mergeAnswers', () => {
  it('merges responses in rule order (later keys win) and adds up UX snippets', () => {
    const merged = mergeAnswers(
      ['r1', 'r2', 'r3'],
      [
        { id: 'r2', response: { a: 2, b: 2 }, ux: ['second'] },
        { id: 'r1', response: { a: 1 }, ux: ['first'] },
      ],
    );
    expect(merged).toEqual({ response: { a: 2, b: 2 }, ux: ['first', 'second'] });
  });
});
