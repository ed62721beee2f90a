import { describe, expect, it } from 'vitest';
import { decide, fires, type SegmentChange, type SegmentRule } from './trigger.js';

const T0 = new Date('2026-03-01T12:00:00Z');
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const rule = (overrides: Partial<SegmentRule> = {}): SegmentRule => ({
  id: 'r-enter',
  kind: 'segment-entered',
  segmentId: 'vip',
  flowId: 'f1',
  enabled: true,
  flowEnabled: true,
  createdAt: T0,
  ...overrides,
});

const change = (seq: number, overrides: Partial<SegmentChange> = {}): SegmentChange => ({
  seq,
  segmentId: 'vip',
  profileId: 'p1',
  change: 'entered',
  at: later(seq),
  profileExists: true,
  ...overrides,
});

describe('which rules a segment change fires', () => {
  it('fires an enabled rule of an enabled flow for its segment and its kind of change only', () => {
    expect(fires(rule(), change(1))).toBe(true);
    expect(fires(rule({ kind: 'segment-left' }), change(1))).toBe(false);
    expect(fires(rule({ kind: 'segment-left' }), change(1, { change: 'left' }))).toBe(true);
    expect(fires(rule({ segmentId: 'other' }), change(1))).toBe(false);
    expect(fires(rule({ enabled: false }), change(1))).toBe(false);
    expect(fires(rule({ flowEnabled: false }), change(1))).toBe(false);
  });

  it('does not fire a rule for a change made before the rule existed', () => {
    expect(fires(rule({ createdAt: later(10) }), change(5))).toBe(false);
    expect(fires(rule({ createdAt: later(10) }), change(10))).toBe(true);
  });
});

describe('deciding a batch', () => {
  it('records one run per (change, rule) with the change as payload, in change order, then rule id', () => {
    const rules = [
      rule({ id: 'r-b', flowId: 'fb' }),
      rule({ id: 'r-a', flowId: 'fa' }),
      rule({ id: 'r-left', kind: 'segment-left' }),
    ];
    const decision = decide([change(2, { change: 'left' }), change(1), change(3, { profileId: 'p2' })], rules);
    expect(decision.skipped).toEqual([]);
    expect(decision.runs.map((run) => [run.changeSeq, run.ruleId, run.profileId, run.position])).toEqual([
      [1, 'r-a', 'p1', 0],
      [1, 'r-b', 'p1', 1],
      [2, 'r-left', 'p1', 2],
      [3, 'r-a', 'p2', 0],
      [3, 'r-b', 'p2', 1],
    ]);
    expect(decision.runs[2]).toEqual({
      ruleId: 'r-left',
      flowId: 'f1',
      trigger: 'segment-left',
      changeSeq: 2,
      profileId: 'p1',
      payload: { segment: 'vip', change: 'left', at: later(2).toISOString() },
      position: 2,
    });
  });

  it('fires again for a profile that leaves and enters again', () => {
    const decision = decide([change(1), change(2, { change: 'left' }), change(3)], [rule()]);
    expect(decision.runs.map((run) => run.changeSeq)).toEqual([1, 3]);
  });

  it('skips the changes of a deleted profile, with the reason, and starts nothing for them', () => {
    const decision = decide([change(1, { profileExists: false }), change(2, { profileId: 'p2' })], [rule()]);
    expect(decision.skipped).toEqual([{ seq: 1, reason: 'profile-deleted' }]);
    expect(decision.runs.map((run) => run.profileId)).toEqual(['p2']);
  });
});
