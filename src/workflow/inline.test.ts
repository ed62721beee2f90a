import { describe, expect, it } from 'vitest';
import { chain } from '../../test/support/flows.js';
import { createLogger } from '../shared/logger.js';
import type { EventRecord } from '../tracking/model.js';
import { ACTIONS } from './actions/index.js';
import { InlineFlows, runsInCommit, type RulesState } from './inline.js';
import type { Flow, FlowNode } from './model.js';
import type { ActiveRule } from './ports.js';
import { RuleSnapshot } from './rule-cache.js';
import { runIdFor } from './run-ids.js';

const flow = (id: string, nodes: Omit<FlowNode, 'id'>[]): Flow => ({
  id,
  name: id,
  description: '',
  type: 'collection',
  enabled: true,
  graph: chain(nodes),
});

const rule = (id: string, of: Flow, answersClient = false): ActiveRule => ({
  rule: { id, name: id, kind: 'event', eventType: 'buy', flowId: of.id, enabled: true },
  answersClient,
  flow: of,
});

const counting = flow('counting', [
  { action: 'increment', config: { target: 'profile@traits.n', by: 1 } },
  { action: 'add-event-tags', config: { tags: ['counted'] } },
  { action: 'create-response', config: { key: 'n', body: 'profile@traits.n' } },
]);
const calling = flow('calling', [{ action: 'http-request', config: { method: 'GET', url: 'http://127.0.0.1:9/' } }]);
const breaking = flow('breaking', [{ action: 'increment', config: { target: 'profile@traits.name', by: 1 } }]);

function inline(rules: ActiveRule[], stored: RulesState = { generation: 1, pausedRunsWait: false }) {
  let forgotten = 0;
  const flows = new InlineFlows<null>({
    rules: { current: async () => new RuleSnapshot(1, rules), forget: () => void forgotten++ },
    actions: ACTIONS,
    state: async () => stored,
    holdsKeys: () => false,
    logger: createLogger('silent'),
  });
  return { flows, forgotten: () => forgotten };
}

const event = (id: string, overrides: Partial<EventRecord> = {}): EventRecord => ({
  id,
  type: 'buy',
  profileId: 'p1',
  sessionId: null,
  sourceId: 'web',
  save: true,
  properties: {},
  traits: {},
  context: {},
  tags: [],
  metadata: {},
  occurredAt: new Date(0),
  insertedAt: new Date(0),
  ...overrides,
});

describe('flows run in the commit', () => {
  it('are those whose every action is local', () => {
    expect(runsInCommit(counting, ACTIONS)).toBe(true);
    expect(runsInCommit(calling, ACTIONS)).toBe(false);
  });

  it('run only while the rules read before are still those stored, else the cache is forgotten', async () => {
    const current = inline([rule('r1', counting)], { generation: 1, pausedRunsWait: true });
    expect(await (await current.flows.begin()).confirm(null)).toEqual({ pausedRunsWait: true });
    expect(current.forgotten()).toBe(0);
    const behind = inline([rule('r1', counting)], { generation: 2, pausedRunsWait: false });
    expect(await (await behind.flows.begin()).confirm(null)).toBeUndefined();
    expect(behind.forgotten()).toBe(1);
    // No stored generation (its row deleted) confirms no cached rules.
    const unknown = inline([], { generation: null, pausedRunsWait: false });
    expect(await (await unknown.flows.begin()).confirm(null)).toBeUndefined();
    expect(unknown.forgotten()).toBe(1);
  });

  it('run in rule order, each seeing the one before; a failed run changes nothing and answers nothing', async () => {
    const { flows } = inline([rule('r1', counting, true), rule('r2', breaking), rule('r3', counting, true)]);
    const batch = await flows.begin();
    await batch.confirm(null);
    const profile = { id: 'p1', traits: { name: 'Ada' }, segments: [] };
    const outcome = await batch.run({ record: event('e1'), profile, session: null });
    expect(outcome.profile).toMatchObject({ traits: { name: 'Ada', n: 2 } });
    expect(outcome.tags).toEqual(['counted']);
    expect(outcome.runs).toEqual([
      { id: runIdFor('r1', 'e1'), response: { n: 1 }, ux: [] },
      { id: runIdFor('r3', 'e1'), response: { n: 2 }, ux: [] },
    ]);
    expect(profile.traits).toEqual({ name: 'Ada' });
    const decided = batch.runs([event('e1')]);
    expect(decided.map((run) => [run.ruleId, run.finished?.status])).toEqual([
      ['r1', 'completed'],
      ['r2', 'failed'],
      ['r3', 'completed'],
    ]);
    expect(decided[1]!.finished!.error!.message).toMatch(/not a number/);
  });

  it('leave the other rules of the events pending, and events that start no flow out', async () => {
    const { flows } = inline([rule('r1', counting), rule('r2', calling)]);
    const batch = await flows.begin();
    await batch.confirm(null);
    expect(batch.runsInline('buy', 'web')).toBe(true);
    await batch.run({ record: event('e1'), profile: { id: 'p1', traits: {} }, session: null });
    const decided = batch.runs([event('e1'), { ...event('e2'), runFlows: false }, { ...event('e3'), type: 'view' }]);
    expect(decided.map((run) => [run.ruleId, run.eventId, run.finished?.status ?? 'pending'])).toEqual([
      ['r1', 'e1', 'completed'],
      ['r2', 'e1', 'pending'],
    ]);
  });
});
