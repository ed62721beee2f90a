import { Value } from '@sinclair/typebox/value';
import { DomainError, type FieldProblem } from '../shared/errors.js';
import { explainSchemaError } from '../shared/schema-errors.js';
import { ERROR_PORT, type FlowGraph } from './model.js';
import { portsOf, type ActionRegistry } from './registry.js';

/** `/a/0/b` (a JSON pointer, as TypeBox reports) → `.a[0].b`, to follow `graph.nodes[2].config`. */
function pointerToDots(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('');
}

function nodeProblems(graph: FlowGraph, actions: ActionRegistry): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  const starts: string[] = [];
  graph.nodes.forEach((node, index) => {
    const at = `graph.nodes[${index}]`;
    if (seen.has(node.id)) problems.push({ field: `${at}.id`, message: `the node id ${node.id} is used twice` });
    seen.add(node.id);
    const spec = actions.get(node.action);
    if (!spec) {
      problems.push({ field: `${at}.action`, message: `unknown action ${JSON.stringify(node.action)}` });
      return;
    }
    if (spec.start) starts.push(at);
    const config = Value.Default(spec.configSchema, structuredClone(node.config ?? {}));
    const errors = [...Value.Errors(spec.configSchema, config)];
    // TypeBox reports a missing field twice (required, then its type): one problem per field.
    const named = new Set<string>();
    for (const error of errors) {
      const { path, message } = explainSchemaError(error);
      const field = `${at}.config${pointerToDots(path)}`;
      if (!named.has(field)) problems.push({ field, message });
      named.add(field);
    }
    if (errors.length === 0 && spec.check) {
      for (const problem of spec.check(config as Record<string, unknown>)) {
        problems.push({ field: `${at}.config.${problem.field}`, message: problem.message });
      }
    }
  });
  if (starts.length === 0) problems.push({ field: 'graph.nodes', message: 'a flow needs one start node' });
  for (const at of starts.slice(1)) problems.push({ field: at, message: 'a flow has exactly one start node' });
  return problems;
}

function edgeProblems(graph: FlowGraph, actions: ActionRegistry): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const nodes = new Map(graph.nodes.map((node) => [node.id, node]));
  graph.edges.forEach((edge, index) => {
    const at = `graph.edges[${index}]`;
    const from = nodes.get(edge.from.node);
    const to = nodes.get(edge.to.node);
    if (!from) problems.push({ field: `${at}.from.node`, message: `no node ${JSON.stringify(edge.from.node)}` });
    if (!to) problems.push({ field: `${at}.to.node`, message: `no node ${JSON.stringify(edge.to.node)}` });
    const spec = from && actions.get(from.action);
    if (spec && edge.from.port !== ERROR_PORT) {
      const ports = portsOf(spec, from.config ?? {});
      if (!ports.includes(edge.from.port)) {
        problems.push({
          field: `${at}.from.port`,
          message: `${from.action} has no port ${JSON.stringify(edge.from.port)} (it has ${[...ports, ERROR_PORT].join(', ')})`,
        });
      }
    }
    const toSpec = to && actions.get(to.action);
    if (toSpec?.start) problems.push({ field: `${at}.to.node`, message: 'nothing leads into the start node' });
  });
  return problems;
}

/** The first cycle found, as the node ids along it. */
function findCycle(graph: FlowGraph): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const edge of graph.edges) next.set(edge.from.node, [...(next.get(edge.from.node) ?? []), edge.to.node]);
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'open') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'open');
    path.push(id);
    for (const target of next.get(id) ?? []) {
      const cycle = visit(target);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const node of graph.nodes) {
    const cycle = visit(node.id);
    if (cycle) return cycle;
  }
  return undefined;
}

/**
 * Checks a flow's graph before it is saved: exactly one start node, known actions, each node's
 * config valid for its action, edges from existing ports to existing nodes, no cycles. Every problem
 * names its field (`graph.nodes[2].config.path`).
 */
export function validateFlow(graph: FlowGraph, actions: ActionRegistry): void {
  const problems = [...nodeProblems(graph, actions), ...edgeProblems(graph, actions)];
  const cycle = findCycle(graph);
  if (cycle) problems.push({ field: 'graph.edges', message: `the flow loops: ${cycle.join(' → ')}` });
  if (problems.length > 0) {
    throw new DomainError(
      'validation_failed',
      `the flow is not valid: ${problems[0]!.field}: ${problems[0]!.message}`,
      problems,
    );
  }
}

/** Whether the flow answers the `/track` call (holds a response or UX action), so runs before the answer. */
export function answersClient(graph: FlowGraph, actions: ActionRegistry): boolean {
  return graph.nodes.some((node) => actions.get(node.action)?.answersClient === true);
}
