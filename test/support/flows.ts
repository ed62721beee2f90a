import type { Flow, FlowEdge, FlowNode, HttpClient, RunContext } from '../../src/workflow/model.js';

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
