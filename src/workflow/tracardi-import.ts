import { isDotPath } from '../condition/index.js';
import { DomainError, type FieldProblem } from '../shared/errors.js';
import type { FlowEdge, FlowGraph, FlowNode } from './model.js';
import type { ActionRegistry } from './registry.js';
import { validateFlow } from './validate.js';

/**
 * Tracardi's flows, as its editor stores them (`flowGraph: {nodes, edges}`, each node naming a Python
 * module and its `init`), brought over as our graphs. A Tracardi node becomes one of our nodes, or a
 * chain of them where one Tracardi node does several things (copy traits sets many fields).
 */

type Init = Record<string, unknown>;

/** One of our nodes a Tracardi node becomes: an action and its config. */
interface Step {
  action: string;
  config: Record<string, unknown>;
}

/** Raised by a mapping for an init it cannot read; `field` is relative to the init. */
class InitProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

interface ModuleMapping {
  steps(init: Init): Step[];
  /** Tracardi's port names that differ from ours (after lower-casing: `TRUE` → `true`). */
  ports?: Record<string, string>;
}

const V1 = 'tracardi.process_engine.action.v1.';

const text = (init: Init, field: string): string => {
  const value = init[field];
  if (typeof value !== 'string' || value === '') throw new InitProblem(field, 'expected a non-empty string');
  return value;
};

const record = (init: Init, field: string): Record<string, unknown> => {
  const value = init[field] ?? {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InitProblem(field, 'expected an object');
  }
  return value as Record<string, unknown>;
};

/** Tracardi keeps JSON templates as text in the init. */
const json = (init: Init, field: string): unknown => {
  const value = init[field];
  if (typeof value !== 'string') return value ?? {};
  try {
    return JSON.parse(value === '' ? '{}' : value) as unknown;
  } catch {
    throw new InitProblem(field, 'expected JSON');
  }
};

const one = (action: string, config: Record<string, unknown> = {}): Step[] => [{ action, config }];

/** Tracardi's header values are dot paths or literals; ours are string templates. */
const asTemplate = (value: unknown): string =>
  typeof value === 'string' && isDotPath(value) ? `{{${value}}}` : String(value);

const LOG_LEVELS: Record<string, string> = { warning: 'warning', error: 'error' };

/** Tracardi's missing-values-become-null switch; ours is a default for missing paths. */
const nullDefault = (init: Init) => (init['default'] === false ? {} : { default: null });

const MODULES: Record<string, ModuleMapping> = {
  [`${V1}flow.start.start_action`]: { steps: () => one('start') },
  [`${V1}end_action`]: { steps: () => one('end') },
  [`${V1}if_action`]: { steps: (init) => one('if', { condition: text(init, 'condition') }) },
  [`${V1}flow.property_exists.plugin`]: {
    steps: (init) => one('property-exists', { path: text(init, 'property') }),
  },
  [`${V1}increment_action`]: {
    steps: (init) => one('increment', { target: text(init, 'field'), by: Number(init['increment'] ?? 1) }),
  },
  [`${V1}decrement_action`]: {
    steps: (init) => one('decrement', { target: text(init, 'field'), by: Number(init['decrement'] ?? 1) }),
  },
  [`${V1}traits.copy_trait_action`]: {
    steps: (init) => {
      const set = record(record(init, 'traits'), 'set');
      const steps = Object.entries(set).map(([target, value]) => ({ action: 'set-value', config: { target, value } }));
      if (steps.length === 0) throw new InitProblem('traits.set', 'sets nothing');
      return steps;
    },
  },
  [`${V1}traits.append_trait_action`]: {
    steps: (init) => {
      const steps = [
        ...Object.entries(record(init, 'append')).map(([target, value]) => ({
          action: 'append-value',
          config: { target, value },
        })),
        ...Object.entries(record(init, 'remove')).map(([target, value]) => ({
          action: 'remove-value',
          config: { target, value },
        })),
      ];
      if (steps.length === 0) throw new InitProblem('append', 'appends and removes nothing');
      return steps;
    },
  },
  [`${V1}traits.delete_trait_action`]: {
    steps: (init) => {
      const paths = init['delete'];
      if (!Array.isArray(paths) || paths.length === 0) throw new InitProblem('delete', 'expected a list of paths');
      return paths.map((target) => ({ action: 'delete-value', config: { target } }));
    },
  },
  [`${V1}traits.reshape_payload_action`]: {
    steps: (init) => one('reshape-payload', { template: json(init, 'value'), ...nullDefault(init) }),
  },
  [`${V1}operations.merge_profiles_action`]: {
    steps: (init) => one('merge-profiles', { keys: init['mergeBy'] }),
  },
  [`${V1}segmentation.add.plugin`]: { steps: (init) => one('add-segment', { segment: text(init, 'segment') }) },
  [`${V1}segmentation.delete.plugin`]: {
    steps: (init) => one('remove-segment', { segment: text(init, 'segment') }),
  },
  [`${V1}segmentation.has.plugin`]: { steps: (init) => one('has-segment', { segment: text(init, 'segment') }) },
  [`${V1}consents.require_consents_action.plugin`]: {
    steps: (init) => {
      const ids = Array.isArray(init['consent_ids']) ? (init['consent_ids'] as unknown[]) : [];
      const consents = ids.map((entry) =>
        entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>)['id'] : entry,
      );
      return one('require-consent', { consents, all: init['require_all'] === true });
    },
  },
  [`${V1}internal.tag_event.plugin`]: {
    steps: (init) =>
      one('add-event-tags', {
        tags: text(init, 'tags')
          .split(/[\s,]+/)
          .filter(Boolean),
      }),
  },
  [`${V1}internal.add_response.plugin`]: {
    steps: (init) => one('create-response', { key: text(init, 'key'), body: json(init, 'body'), ...nullDefault(init) }),
  },
  [`${V1}log_action`]: {
    steps: (init) => one('log', { message: text(init, 'message'), level: LOG_LEVELS[String(init['type'])] ?? 'info' }),
  },
  [`${V1}connectors.html.fetch.plugin`]: {
    ports: { response: 'ok' },
    steps: (init) => {
      const headers = Object.fromEntries(
        Object.entries(record(init, 'headers')).map(([name, value]) => [name, asTemplate(value)]),
      );
      const cookies = Object.entries(record(init, 'cookies'));
      if (cookies.length > 0) {
        headers['cookie'] = cookies.map(([name, value]) => `${name}=${asTemplate(value)}`).join('; ');
      }
      const body = init['body'];
      return one('http-request', {
        method: String(init['method'] ?? 'post').toUpperCase(),
        url: text(init, 'url'),
        headers,
        ...(typeof body === 'string' && body !== '' ? { body } : {}),
        timeoutMs: Math.min(60_000, Math.round(Number(init['timeout'] ?? 30) * 1000)),
      });
    },
  },
  [`${V1}ux.custom_js.plugin`]: { steps: (init) => one('ux-snippet', { script: text(init, 'content') }) },
};

interface TracardiNode {
  id: string;
  module: string;
  init: Init;
  name?: string;
  position?: { x: number; y: number };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const refuse = (message: string, details: FieldProblem[] = []) =>
  new DomainError('validation_failed', message, details);

function nodesOf(raw: unknown[]): TracardiNode[] {
  return raw.map((node, index) => {
    const at = `flowGraph.nodes[${index}]`;
    if (!isObject(node) || typeof node['id'] !== 'string' || !isObject(node['data'])) {
      throw refuse('not a Tracardi flow node', [{ field: at, message: 'expected {id, data: {spec, metadata}}' }]);
    }
    const data = node['data'];
    const spec = isObject(data['spec']) ? data['spec'] : {};
    if (typeof spec['module'] !== 'string') {
      throw refuse('a Tracardi node names no module', [
        { field: `${at}.data.spec.module`, message: 'expected a string' },
      ]);
    }
    const metadata = isObject(data['metadata']) ? data['metadata'] : {};
    const position = node['position'];
    return {
      id: node['id'],
      module: spec['module'],
      init: isObject(spec['init']) ? spec['init'] : {},
      ...(typeof metadata['name'] === 'string' ? { name: metadata['name'] } : {}),
      ...(isObject(position) && typeof position['x'] === 'number' && typeof position['y'] === 'number'
        ? { position: { x: position['x'], y: position['y'] } }
        : {}),
    };
  });
}

function graphOf(json: Record<string, unknown>): { nodes: unknown[]; edges: unknown[] } {
  let graph = json['flowGraph'];
  if (typeof graph === 'string') {
    try {
      graph = JSON.parse(graph) as unknown;
    } catch {
      throw refuse('flowGraph is not JSON', [{ field: 'flowGraph', message: 'expected the editor graph' }]);
    }
  }
  if (!isObject(graph) || !Array.isArray(graph['nodes'])) {
    throw refuse('not a Tracardi flow: flowGraph.nodes is missing', [
      { field: 'flowGraph', message: 'expected {nodes, edges}' },
    ]);
  }
  return { nodes: graph['nodes'], edges: Array.isArray(graph['edges']) ? graph['edges'] : [] };
}

/**
 * Reads a Tracardi flow (the editor's `{flowGraph}` or the whole flow record with `name` and
 * `description`) into our graph. Every module we do not implement is listed in one refusal; the
 * graph is then validated as any flow is.
 */
export function importTracardiFlow(
  json: unknown,
  actions: ActionRegistry,
): { name?: string; description?: string; graph: FlowGraph } {
  if (!isObject(json)) throw refuse('not a Tracardi flow', [{ field: '', message: 'expected an object' }]);
  const raw = graphOf(json);
  const tracardiNodes = nodesOf(raw.nodes);

  const unsupported = tracardiNodes.flatMap((node, index) =>
    MODULES[node.module]
      ? []
      : [{ field: `flowGraph.nodes[${index}].data.spec.module`, message: `${node.module} is not supported`, node }],
  );
  if (unsupported.length > 0) {
    const names = [
      ...new Set(unsupported.map(({ node }) => (node.name ? `${node.name} (${node.module})` : node.module))),
    ];
    throw refuse(
      `this flow uses Tracardi actions Meridian does not implement: ${names.join(', ')}`,
      unsupported.map(({ field, message }) => ({ field, message })),
    );
  }

  const nodes: FlowNode[] = [];
  const chains = new Map<string, { ids: string[]; mapping: ModuleMapping }>();
  const problems: FieldProblem[] = [];
  tracardiNodes.forEach((node, index) => {
    const mapping = MODULES[node.module]!;
    let steps: Step[];
    try {
      steps = mapping.steps(node.init);
    } catch (error) {
      if (!(error instanceof InitProblem)) throw error;
      problems.push({ field: `flowGraph.nodes[${index}].data.spec.init.${error.field}`, message: error.message });
      return;
    }
    const ids = steps.map((_, step) => (step === 0 ? node.id : `${node.id}-${step + 1}`));
    steps.forEach((step, position) => {
      nodes.push({
        id: ids[position]!,
        action: step.action,
        config: step.config,
        ...(node.name ? { label: node.name } : {}),
        ...(node.position && position === 0 ? { position: node.position } : {}),
      });
    });
    chains.set(node.id, { ids, mapping });
  });
  if (problems.length > 0) throw refuse(`the flow's settings cannot be read: ${problems[0]!.message}`, problems);

  const edges: FlowEdge[] = [];
  for (const { ids } of chains.values()) {
    // A chain's links: each step passes its payload on to the next.
    for (let step = 1; step < ids.length; step++) {
      edges.push({ from: { node: ids[step - 1]!, port: 'payload' }, to: { node: ids[step]! } });
    }
  }
  raw.edges.forEach((edge, index) => {
    const source = isObject(edge) ? chains.get(String(edge['source'])) : undefined;
    const target = isObject(edge) ? chains.get(String(edge['target'])) : undefined;
    if (!isObject(edge) || !source || !target) {
      problems.push({ field: `flowGraph.edges[${index}]`, message: 'joins nodes that are not in the flow' });
      return;
    }
    const handle = String(edge['sourceHandle'] ?? 'payload').toLowerCase();
    edges.push({
      from: { node: source.ids.at(-1)!, port: source.mapping.ports?.[handle] ?? handle },
      to: { node: target.ids[0]! },
    });
  });
  if (problems.length > 0) throw refuse(`the flow's edges cannot be read: ${problems[0]!.message}`, problems);

  const graph: FlowGraph = { nodes, edges };
  validateFlow(graph, actions);
  return {
    ...(typeof json['name'] === 'string' ? { name: json['name'] } : {}),
    ...(typeof json['description'] === 'string' ? { description: json['description'] } : {}),
    graph,
  };
}
