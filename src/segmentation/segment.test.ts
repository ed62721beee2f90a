import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { rangesFromBounds } from './job.js';
import { checkSegmentCondition, machineName, wantsRecheck } from './segment.js';

describe('segments', () => {
  it('derives the machine name Tracardi stores in profile.segments', () => {
    expect(machineName('Big spenders')).toBe('big-spenders');
    expect(machineName('  VIP — Zürich & Kraków!! ')).toBe('vip-zurich-krakow');
  });

  it('accepts profile conditions and rejects what cannot run over the profiles table', () => {
    expect(() => checkSegmentCondition('profile@traits.spent > 100 AND profile@active == true')).not.toThrow();
    expect(() => checkSegmentCondition('profile@traits.spent >')).toThrow(DomainError);
    expect(() => checkSegmentCondition('event@type == "purchase"')).toThrow(/cannot run/);
    expect(() => checkSegmentCondition('payload@x == 1')).toThrow(/cannot run/);
    // Saved, it would fail every run: refused with the field and the reason.
    for (const condition of ['profile@traits.x == "\ud800"', 'profile@traits.x == "\\ud800"']) {
      expect(() => checkSegmentCondition(condition)).toThrow(
        expect.objectContaining({
          code: 'invalid_condition',
          details: [{ field: 'condition', message: expect.stringContaining('unpaired surrogate (\\ud800)') }],
        }),
      );
    }
  });

  it('re-checks a profile after tracking only for the event types a segment names', () => {
    expect(wantsRecheck({ eventTypes: [] }, ['page-view'])).toBe(true);
    expect(wantsRecheck({ eventTypes: ['purchase'] }, ['page-view'])).toBe(false);
    expect(wantsRecheck({ eventTypes: ['purchase'] }, ['page-view', 'purchase'])).toBe(true);
  });

  it('cuts profiles into ranges that cover every id once', () => {
    expect(rangesFromBounds([])).toEqual([{ fromId: null, toId: null }]);
    expect(rangesFromBounds(['b', 'd'])).toEqual([
      { fromId: null, toId: 'b' },
      { fromId: 'b', toId: 'd' },
      { fromId: 'd', toId: null },
    ]);
  });
});
