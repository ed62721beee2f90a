import { ACTIONS } from '../../src/workflow/actions/index.js';
import { runFlow } from '../../src/workflow/engine.js';
import type { Flow, FlowEdge, FlowGraph, FlowNode, HttpClient, RunContext } from '../../src/workflow/model.js';

/** Flows written compactly for tests: nodes as `[id, action, config]`, edges as `from.port → to`. */
export function flowOf(nodes: [string, string, Record<string, unknown>?][], edges: string[]): Flow {
  return {
    id: 'flow-1',
    name: 'test flow',
    description: '',
    type: 'collection',
    enabled: true,
    graph: {
      nodes: nodes.map(([id, action, config]): FlowNode => ({ id, action, config: config ?? {} })),
      edges: edges.map((text): FlowEdge => {
        const [from, to] = text.split('->').map((part) => part.trim()) as [string, string];
        const [node, port] = from.split('.') as [string, string];
        return { from: { node, port }, to: { node: to } };
      }),
    },
  };
}

export function contextOf(overrides: Partial<RunContext> = {}): RunContext {
  return {
    profile: { id: 'p1', ids: ['p1'], traits: {}, pii: {}, data: {}, stats: {}, consents: {}, segments: [] },
    session: { id: 's1' },
    event: { id: 'e1', type: 'purchase', properties: { id: 'order-7', total: 30 }, tags: [], metadata: {} },
    payload: { from: 'test' },
    flow: { id: 'flow-1', name: 'test flow', type: 'collection' },
    memory: {},
    ...overrides,
  };
}

/** For runs that must not reach the outside world. */
export const NO_HTTP: HttpClient = {
  send: () => Promise.reject(new Error('this test makes no HTTP calls')),
};

/** Runs one action after a start node: its trace step, the run's effects and what it answered. */
export async function runAction(
  action: string,
  config: Record<string, unknown>,
  options: { context?: Partial<RunContext>; http?: HttpClient; now?: () => Date } = {},
) {
  const flow = flowOf(
    [
      ['s', 'start'],
      ['x', action, config],
    ],
    ['s.payload -> x'],
  );
  const result = await runFlow(flow, contextOf(options.context), {
    actions: ACTIONS,
    http: options.http ?? NO_HTTP,
    now: options.now ?? (() => new Date('2026-01-01T00:00:00Z')),
  });
  const step = result.trace.find((entry) => entry.node === 'x');
  return { result, step, outputs: step?.outputs ?? {} };
}

/** A flow of `nodes` in a chain after a start node, each joined to the next on `payload`. */
export function chain(nodes: Omit<FlowNode, 'id'>[]): FlowGraph {
  const all = [{ action: 'start', config: {} }, ...nodes].map((node, index) => ({ ...node, id: `n${index}` }));
  return {
    nodes: all,
    edges: all
      .slice(1)
      .map((node, index) => ({ from: { node: all[index]!.id, port: 'payload' }, to: { node: node.id } })),
  };
}
