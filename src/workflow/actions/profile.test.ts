import { describe, expect, it } from 'vitest';
import { contextOf, flowOf, NO_HTTP, runAction } from '../../../test/support/flows.js';
import { runFlow } from '../engine.js';
import { ACTIONS } from './index.js';

describe('profile actions', () => {
  it('add-segment and remove-segment change membership that has-segment then sees', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['add', 'add-segment', { segment: 'buyers' }],
        ['has', 'has-segment', { segment: 'buyers' }],
        ['rm', 'remove-segment', { segment: 'buyers' }],
        ['hasNot', 'has-segment', { segment: 'buyers' }],
      ],
      ['s.payload -> add', 'add.payload -> has', 'has.true -> rm', 'rm.payload -> hasNot'],
    );
    const result = await runFlow(flow, contextOf(), { actions: ACTIONS, http: NO_HTTP });
    expect(result.trace.map((step) => Object.keys(step.outputs)[0])).toEqual([
      'payload',
      'payload',
      'true',
      'payload',
      'false',
    ]);
    expect(result.effects).toEqual([
      { kind: 'profile', change: { op: 'add-segment', segment: 'buyers' } },
      { kind: 'profile', change: { op: 'remove-segment', segment: 'buyers' } },
    ]);
  });

  it('a profile action fails a run that has no profile', async () => {
    const { result } = await runAction('add-segment', { segment: 'x' }, { context: { profile: null } });
    expect(result).toMatchObject({ status: 'failed', error: { node: 'x', message: 'this run has no profile' } });
  });

  it('add-consent records a consent, with its end time rendered from a template', async () => {
    const { result } = await runAction(
      'add-consent',
      { consent: 'marketing', revokeAt: '{{event@properties.until}}' },
      {
        context: { event: { type: 'consent', properties: { until: '2027-06-01T00:00:00Z' } } },
      },
    );
    expect(result.effects).toEqual([
      {
        kind: 'profile',
        change: { op: 'consent', consent: 'marketing', granted: true, revokeAt: '2027-06-01T00:00:00.000Z' },
      },
    ]);
  });

  it('require-consent holds for granted, unexpired consents: all of them, or any', async () => {
    const profile = {
      id: 'p',
      consents: {
        marketing: { revoke: null },
        stats: { revoke: '2025-01-01T00:00:00Z' },
        ads: { revoke: '2027-01-01T00:00:00Z' },
      },
    };
    const ask = async (consents: string[], all: boolean) =>
      Object.keys((await runAction('require-consent', { consents, all }, { context: { profile } })).outputs)[0];
    expect(await ask(['marketing', 'ads'], true)).toBe('true');
    expect(await ask(['marketing', 'stats'], true)).toBe('false');
    expect(await ask(['stats', 'ads'], false)).toBe('true');
    expect(await ask(['stats', 'unknown'], false)).toBe('false');
  });

  it('merge-profiles asks for a merge by the profile fields it names', async () => {
    const { result } = await runAction('merge-profiles', { keys: ['profile@pii.email', 'profile@data.contact.phone'] });
    expect(result.effects).toEqual([{ kind: 'merge', keys: ['pii.email', 'data.contact.phone'] }]);
  });
});
