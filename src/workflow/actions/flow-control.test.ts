import { describe, expect, it } from 'vitest';
import { contextOf, flowOf, NO_HTTP, runAction } from '../../../test/support/flows.js';
import { runFlow } from '../engine.js';
import { ACTIONS } from './index.js';

describe('flow control actions', () => {
  it('start passes the payload on; end answers on no port', async () => {
    const { result, outputs } = await runAction('end', {});
    expect(result.trace[0]!.outputs).toEqual({ payload: { from: 'test' } });
    expect(outputs).toEqual({});
  });

  it('if takes true or false by its condition over the run’s sources', async () => {
    const yes = await runAction('if', { condition: 'event@type == "purchase" AND payload@from == "test"' });
    expect(yes.outputs).toEqual({ true: { from: 'test' } });
    const no = await runAction('if', { condition: 'profile@traits.age > 18' });
    expect(no.outputs).toEqual({ false: { from: 'test' } });
  });

  it('switch-event-type takes the port named after a listed type, else other', async () => {
    const listed = await runAction('switch-event-type', { types: ['page-view', 'purchase'] });
    expect(listed.outputs).toEqual({ purchase: { from: 'test' } });
    const unlisted = await runAction('switch-event-type', { types: ['page-view'] });
    expect(unlisted.outputs).toEqual({ other: { from: 'test' } });
    expect(ACTIONS.get('switch-event-type')!.portsFor!({ types: ['a'] })).toEqual(['a', 'other']);
  });

  it('property-exists tells a present field (even null) from a missing one', async () => {
    const present = await runAction('property-exists', { path: 'event@properties.id' });
    expect(present.outputs).toEqual({ true: { from: 'test' } });
    const nulled = await runAction(
      'property-exists',
      { path: 'profile@traits.x' },
      {
        context: { profile: { id: 'p', traits: { x: null } } },
      },
    );
    expect(nulled.outputs).toHaveProperty('true');
    const missing = await runAction('property-exists', { path: 'event@properties.nope' });
    expect(missing.outputs).toEqual({ false: { from: 'test' } });
  });

  it('stop ends the whole run successfully, other branches included', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['halt', 'stop'],
        ['later', 'add-segment', { segment: 'never' }],
      ],
      ['s.payload -> halt', 's.payload -> later'],
    );
    const result = await runFlow(flow, contextOf(), { actions: ACTIONS, http: NO_HTTP });
    expect(result.status).toBe('completed');
    expect(result.trace.map((step) => step.node)).toEqual(['s', 'halt']);
    expect(result.effects).toEqual([]);
  });
});
