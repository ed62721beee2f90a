import { describe, expect, it } from 'vitest';
import { readCompat } from '../../test/support/compat.js';
import { contextOf, NO_HTTP } from '../../test/support/flows.js';
import { DomainError } from '../shared/errors.js';
import { ACTIONS } from './actions/index.js';
import { runFlow } from './engine.js';
import { importTracardiFlow } from './tracardi-import.js';

type TracardiFlow = {
  flowGraph: { nodes: { id: string; data: { spec: Record<string, unknown> } }[]; edges: unknown[] };
};

const sample = () => readCompat<TracardiFlow & Record<string, unknown>>('tracardi-flow.json');

function refusal(json: unknown): DomainError {
  try {
    importTracardiFlow(json, ACTIONS);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error('the import was accepted');
}

describe('importTracardiFlow', () => {
  it('maps a Tracardi flow to our actions, keeping names, labels and positions', () => {
    const { name, description, graph } = importTracardiFlow(sample(), ACTIONS);
    expect(name).toBe('Purchase follow-up');
    expect(description).toMatch(/last order/);
    expect(graph.nodes.map((node) => node.action)).toEqual([
      'start',
      'if',
      'set-value',
      'set-value',
      'increment',
      'add-segment',
      'create-response',
      'log',
      'end',
    ]);
    const [, , first, second, increment] = graph.nodes;
    expect(first).toMatchObject({
      label: 'Set profile trait',
      position: { x: 20, y: 280 },
      config: { target: 'profile@traits.last_order', value: 'event@properties.id' },
    });
    expect(second!.id).toBe(`${first!.id}-2`);
    expect(increment!.config).toEqual({ target: 'profile@stats.counters.orders', by: 1 });
    expect(graph.edges).toContainEqual({ from: { node: first!.id, port: 'payload' }, to: { node: second!.id } });
    expect(graph.edges).toContainEqual({ from: { node: second!.id, port: 'payload' }, to: { node: increment!.id } });
    expect(graph.edges.filter((edge) => edge.from.node === graph.nodes[1]!.id).map((edge) => edge.from.port)).toEqual([
      'true',
      'false',
    ]);
  });

  it('runs the imported flow as Tracardi would', async () => {
    const { graph } = importTracardiFlow(sample(), ACTIONS);
    const flow = { id: 'f', name: 'imported', description: '', type: 'collection' as const, enabled: true, graph };
    const result = await runFlow(flow, contextOf(), { actions: ACTIONS, http: NO_HTTP });
    expect(result.status).toBe('completed');
    expect(result.effects).toEqual([
      { kind: 'profile', change: { op: 'set', path: 'traits.last_order', value: 'order-7' } },
      { kind: 'profile', change: { op: 'set', path: 'traits.last_total', value: 30 } },
      { kind: 'profile', change: { op: 'increment', path: 'stats.counters.orders', by: 1 } },
      { kind: 'profile', change: { op: 'add-segment', segment: 'buyers' } },
    ]);
    // Tracardi's "missing values equal null" switch: the absent coupon is null, not a failure.
    expect(result.response).toEqual({ thanks: { order: 'order-7', coupon: null } });

    const other = await runFlow(flow, contextOf({ event: { type: 'page-view', properties: {} } }), {
      actions: ACTIONS,
      http: NO_HTTP,
    });
    expect(other.effects).toEqual([{ kind: 'log', level: 'warning', message: 'not a purchase' }]);
  });

  it('accepts the editor graph alone, and as a JSON string', () => {
    const { flowGraph } = sample();
    expect(importTracardiFlow({ flowGraph }, ACTIONS).graph.nodes).toHaveLength(9);
    expect(importTracardiFlow({ flowGraph: JSON.stringify(flowGraph) }, ACTIONS).name).toBeUndefined();
  });

  it('maps the HTTP call, tags, paths and lists', () => {
    const V1 = 'tracardi.process_engine.action.v1.';
    const nodes = [
      [`${V1}flow.start.start_action`, {}, true],
      [
        `${V1}connectors.html.fetch.plugin`,
        {
          method: 'get',
          url: 'https://example.com/x',
          timeout: 5,
          headers: { 'x-id': 'profile@id' },
          cookies: { a: 'b' },
          body: '',
        },
      ],
      [`${V1}internal.tag_event.plugin`, { tags: 'vip, web' }],
      [
        `${V1}traits.append_trait_action`,
        { append: { 'profile@traits.orders': 'event@properties.id' }, remove: { 'profile@traits.old': ['x'] } },
      ],
      [`${V1}traits.delete_trait_action`, { delete: ['profile@traits.gone'] }],
      [
        `${V1}consents.require_consents_action.plugin`,
        { consent_ids: [{ id: 'marketing', name: 'Marketing' }], require_all: true },
      ],
    ] as const;
    const json = {
      flowGraph: {
        nodes: nodes.map(([module, init, start], index) => ({
          id: `n${index}`,
          data: { start: start ?? false, metadata: { name: `node ${index}` }, spec: { module, init } },
        })),
        edges: [
          { source: 'n0', sourceHandle: 'payload', target: 'n1', targetHandle: 'payload' },
          { source: 'n1', sourceHandle: 'response', target: 'n2', targetHandle: 'payload' },
          { source: 'n2', sourceHandle: 'payload', target: 'n3', targetHandle: 'payload' },
          { source: 'n3', sourceHandle: 'payload', target: 'n4', targetHandle: 'payload' },
          { source: 'n4', sourceHandle: 'payload', target: 'n5', targetHandle: 'payload' },
        ],
      },
    };
    const { graph } = importTracardiFlow(json, ACTIONS);
    expect(graph.nodes.find((node) => node.id === 'n1')!.config).toEqual({
      method: 'GET',
      url: 'https://example.com/x',
      headers: { 'x-id': '{{profile@id}}', cookie: 'a=b' },
      timeoutMs: 5000,
    });
    expect(graph.edges).toContainEqual({ from: { node: 'n1', port: 'ok' }, to: { node: 'n2' } });
    expect(graph.nodes.find((node) => node.id === 'n2')!.config).toEqual({ tags: ['vip', 'web'] });
    expect(graph.nodes.filter((node) => node.id.startsWith('n3')).map((node) => node.action)).toEqual([
      'append-value',
      'remove-value',
    ]);
    expect(graph.edges).toContainEqual({ from: { node: 'n3-2', port: 'payload' }, to: { node: 'n4' } });
    expect(graph.nodes.find((node) => node.id === 'n5')!.config).toEqual({ consents: ['marketing'], all: true });
  });

  it('refuses a flow with modules we do not implement, listing every one by name', () => {
    const json = sample();
    json.flowGraph.nodes[3]!.data.spec['module'] = 'tracardi.process_engine.action.v1.time.sleep_action';
    json.flowGraph.nodes[6]!.data.spec['module'] =
      'tracardi.process_engine.action.v1.connectors.slack.send_message.plugin';
    const error = refusal(json);
    expect(error.code).toBe('validation_failed');
    expect(error.message).toContain('Increment counter (tracardi.process_engine.action.v1.time.sleep_action)');
    expect(error.message).toContain(
      'Log message (tracardi.process_engine.action.v1.connectors.slack.send_message.plugin)',
    );
    expect(error.details.map((detail) => detail.field)).toEqual([
      'flowGraph.nodes[3].data.spec.module',
      'flowGraph.nodes[6].data.spec.module',
    ]);
  });

  it('refuses settings it cannot read and graphs that do not hold together, naming the field', () => {
    const badInit = sample();
    badInit.flowGraph.nodes[5]!.data.spec['init'] = { key: 'thanks', body: '{not json' };
    expect(refusal(badInit).details).toEqual([
      { field: 'flowGraph.nodes[5].data.spec.init.body', message: 'expected JSON' },
    ]);

    const dangling = sample();
    dangling.flowGraph.edges.push({
      source: 'nowhere',
      sourceHandle: 'payload',
      target: dangling.flowGraph.nodes[1]!.id,
    });
    expect(refusal(dangling).details[0]!.field).toBe('flowGraph.edges[8]');

    expect(refusal({ nodes: [] }).message).toMatch(/not a Tracardi flow/);
  });
});
