import type { Flow, FlowGraph, FlowType, RunContext } from './model.js';
import type { FlowInput } from './ports.js';
import type { ActionRegistry } from './registry.js';
import { answersClient, validateFlow } from './validate.js';

export const FLOW_TYPES = ['collection', 'segmentation'] as const satisfies readonly FlowType[];

export interface FlowFields {
  name: string;
  description?: string;
  type?: FlowType;
  enabled?: boolean;
  graph: FlowGraph;
}

/**
 * What a flow is saved with: its graph checked (a refusal names the node and the field), and whether
 * it answers the `/track` call derived from its actions, so the hot path need not look at the graph.
 */
export function prepareFlow(fields: FlowFields, actions: ActionRegistry): Omit<FlowInput, 'id'> {
  validateFlow(fields.graph, actions);
  return {
    name: fields.name,
    description: fields.description ?? '',
    type: fields.type ?? 'collection',
    enabled: fields.enabled ?? true,
    graph: fields.graph,
    answersClient: answersClient(fields.graph, actions),
  };
}

/** A sample to run a flow on: any source left out is absent, as for an event without a session. */
export interface RunSample {
  profile?: Record<string, unknown>;
  session?: Record<string, unknown>;
  event?: Record<string, unknown>;
  payload?: unknown;
}

export function sampleContext(flow: Pick<Flow, 'id' | 'name' | 'type'>, sample: RunSample): RunContext {
  return {
    profile: sample.profile ?? null,
    session: sample.session ?? null,
    event: sample.event ?? null,
    payload: sample.payload ?? {},
    flow: { id: flow.id, name: flow.name, type: flow.type },
    memory: {},
  };
}
