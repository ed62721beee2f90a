import { describe, expect, it } from 'vitest';
import { DomainError } from '../shared/errors.js';
import { checkRuleReferences, parseRuleInput } from './rule.js';

const refusal = (work: () => unknown): DomainError => {
  try {
    work();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
};

describe('parseRuleInput', () => {
  it('normalises the event type as /track stores it and enables by default', () => {
    expect(parseRuleInput({ name: 'r', kind: 'event', eventType: ' Order Placed ', flowId: 'f' })).toEqual({
      name: 'r',
      kind: 'event',
      eventType: 'order-placed',
      flowId: 'f',
      enabled: true,
    });
  });

  it('keeps a source on event rules and a segment on segment rules', () => {
    expect(parseRuleInput({ name: 'r', kind: 'event', eventType: 'x', sourceId: 's', flowId: 'f' }).sourceId).toBe('s');
    expect(parseRuleInput({ name: 'r', kind: 'segment-left', segmentId: 'vip', flowId: 'f', enabled: false })).toEqual({
      name: 'r',
      kind: 'segment-left',
      segmentId: 'vip',
      flowId: 'f',
      enabled: false,
    });
  });

  it('names each field that does not fit the kind', () => {
    expect(refusal(() => parseRuleInput({ name: 'r', kind: 'event', segmentId: 'vip', flowId: 'f' })).details).toEqual([
      { field: 'eventType', message: 'required for an event rule' },
      { field: 'segmentId', message: 'only for segment rules' },
    ]);
    const segment = refusal(() =>
      parseRuleInput({ name: 'r', kind: 'segment-entered', eventType: 'x', sourceId: 's', flowId: 'f' }),
    );
    expect(segment.code).toBe('bad_request');
    expect(segment.details.map((problem) => problem.field)).toEqual(['segmentId', 'eventType', 'sourceId']);
  });
});

describe('checkRuleReferences', () => {
  const known = new Set(['flow:f', 'source:s', 'segment:vip']);
  const references = {
    flowExists: async (id: string) => known.has(`flow:${id}`),
    sourceExists: async (id: string) => known.has(`source:${id}`),
    segmentExists: async (id: string) => known.has(`segment:${id}`),
  };

  it('accepts existing references and an absent source', async () => {
    await checkRuleReferences({ name: 'r', kind: 'event', eventType: 'x', flowId: 'f', enabled: true }, references);
    await checkRuleReferences(
      { name: 'r', kind: 'segment-entered', segmentId: 'vip', flowId: 'f', enabled: true },
      references,
    );
  });

  it('names every missing reference', async () => {
    const error = await checkRuleReferences(
      { name: 'r', kind: 'event', eventType: 'x', sourceId: 'gone', flowId: 'nope', enabled: true },
      references,
    ).catch((error: unknown) => error);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).details).toEqual([
      { field: 'flowId', message: 'no flow "nope"' },
      { field: 'sourceId', message: 'no event source "gone"' },
    ]);
  });
});
