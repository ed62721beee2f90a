import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { ACTIONS } from './actions/index.js';
import { prepareFlow, sampleContext } from './flow-input.js';
import { flowOf } from '../../test/support/flows.js';

describe('prepareFlow', () => {
  it('fills the defaults and derives whether the flow answers the client', () => {
    const plain = flowOf(
      [
        ['start', 'start'],
        ['end', 'end'],
      ],
      ['start.payload -> end'],
    );
    expect(prepareFlow({ name: 'plain', graph: plain.graph }, ACTIONS)).toEqual({
      name: 'plain',
      description: '',
      type: 'collection',
      enabled: true,
      graph: plain.graph,
      answersClient: false,
    });
    const answering = flowOf(
      [
        ['start', 'start'],
        ['answer', 'create-response', { key: 'k', body: 'v' }],
      ],
      ['start.payload -> answer'],
    );
    expect(
      prepareFlow({ name: 'a', type: 'segmentation', enabled: false, graph: answering.graph }, ACTIONS),
    ).toMatchObject({ type: 'segmentation', enabled: false, answersClient: true });
  });

  it('refuses a graph validation refuses', () => {
    const broken = flowOf([['end', 'end']], []);
    expect(() => prepareFlow({ name: 'broken', graph: broken.graph }, ACTIONS)).toThrow(DomainError);
  });
});

describe('sampleContext', () => {
  it('leaves out what the sample does not hold and starts with empty memory', () => {
    expect(sampleContext({ id: 'f', name: 'F', type: 'collection' }, { event: { type: 'x' } })).toEqual({
      profile: null,
      session: null,
      event: { type: 'x' },
      payload: {},
      flow: { id: 'f', name: 'F', type: 'collection' },
      memory: {},
    });
  });
});
