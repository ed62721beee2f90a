import { Value } from '@sinclair/typebox/value';
import {
  ERROR_PORT,
  type ActionContext,
  type ActionSpec,
  type Flow,
  type FlowNode,
  type HttpClient,
  type NodeTrace,
  type PauseState,
  type RunContext,
  type RunEffect,
  type RunLimits,
  type RunResult,
} from './model.js';
import type { ActionRegistry } from './registry.js';

export const DEFAULT_LIMITS: RunLimits = { maxSteps: 200, maxDurationMs: 30_000 };

export interface RunDeps {
  actions: ActionRegistry;
  http: HttpClient;
  now?: () => Date;
  limits?: Partial<RunLimits>;
  /** Continue a paused run: the node's port fires with `input`; what ran before does not run again. */
  resume?: { node: string; port: string; input: unknown };
  /**
   * The caller hands the context over and reads it afterwards: the run works on it, not on a copy, so
   * its profile ends as the run's changes left it.
   */
  inPlace?: boolean;
}

/** A run ends early, as failed, at `node`. */
class RunFailure extends Error {
  constructor(
    readonly node: string,
    message: string,
  ) {
    super(message);
  }
}

interface Arrival {
  from: string;
  value: unknown;
}

/** The graph indexed once per run: nodes by id, edges out of each (node, port), edges into each node. */
interface Plan {
  nodes: Map<string, FlowNode>;
  out: Map<string, Map<string, string[]>>;
  /** How many edges into each node can still deliver: only those from nodes the run can reach. */
  waiting: Map<string, number>;
}

function plan(flow: Flow, origin: string): Plan {
  const nodes = new Map(flow.graph.nodes.map((node) => [node.id, node]));
  const out = new Map<string, Map<string, string[]>>();
  for (const edge of flow.graph.edges) {
    const ports = out.get(edge.from.node) ?? new Map<string, string[]>();
    ports.set(edge.from.port, [...(ports.get(edge.from.port) ?? []), edge.to.node]);
    out.set(edge.from.node, ports);
  }
  // A join waits only for inputs that can still arrive: edges from nodes the origin cannot reach
  // (another start, what ran before a pause) never deliver, so they are not counted.
  const reachable = new Set<string>([origin]);
  const stack = [origin];
  while (stack.length > 0) {
    for (const targets of out.get(stack.pop()!)?.values() ?? []) {
      for (const target of targets) {
        if (!reachable.has(target)) {
          reachable.add(target);
          stack.push(target);
        }
      }
    }
  }
  const waiting = new Map<string, number>();
  for (const edge of flow.graph.edges) {
    if (reachable.has(edge.from.node) && edge.from.node !== edge.to.node) {
      waiting.set(edge.to.node, (waiting.get(edge.to.node) ?? 0) + 1);
    }
  }
  return { nodes, out, waiting };
}

/** A node's config with its schema's defaults filled in, computed once per node object. */
const configs = new WeakMap<FlowNode, Record<string, unknown>>();

function configOf(node: FlowNode, spec: ActionSpec): Record<string, unknown> {
  let config = configs.get(node);
  if (!config) {
    config = Value.Default(spec.configSchema, structuredClone(node.config ?? {})) as Record<string, unknown>;
    configs.set(node, config);
  }
  return config;
}

/** Several inputs into a join arrive as one object keyed by the node each came from. */
function inputOf(arrivals: readonly Arrival[]): unknown {
  if (arrivals.length === 1) return arrivals[0]!.value;
  return Object.fromEntries(arrivals.map((arrival) => [arrival.from, arrival.value]));
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Runs a flow over a copy of the context (or, `inPlace`, over the context itself). An action gets the payload on its input and answers on
 * named ports; only ports it answers on continue. A node with several incoming edges (a join) runs
 * once every edge that can still deliver has delivered or gone silent. A failing action takes its
 * `error` port (carrying `{message, input}`) when the node has one, else the run fails there.
 * Nothing outside is touched: what the run asks of the world comes back as effects.
 */
export async function runFlow(flow: Flow, context: RunContext, deps: RunDeps): Promise<RunResult> {
  const now = deps.now ?? (() => new Date());
  const limits: RunLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const run: RunContext = deps.inPlace ? context : structuredClone(context);
  const effects: RunEffect[] = [];
  const trace: NodeTrace[] = [];
  const response: Record<string, unknown> = {};
  const ux: unknown[] = [];
  const started = now().getTime();
  let stopped = false;
  let paused: PauseState | undefined;

  const origin = deps.resume?.node ?? flow.graph.nodes.find((node) => deps.actions.get(node.action)?.start)?.id;
  const result = (status: RunResult['status'], error?: RunResult['error']): RunResult => ({
    status,
    trace,
    effects,
    response,
    ux,
    memory: run.memory,
    ...(error ? { error } : {}),
    ...(status === 'paused' && paused ? { pause: paused } : {}),
  });
  if (origin === undefined) return result('failed', { node: '', message: 'the flow has no start node' });

  const { nodes, out, waiting } = plan(flow, origin);
  const arrivals = new Map<string, Arrival[]>();
  const ready: string[] = [];

  // Settles every edge out of `from`: fired ports deliver, the others go silent. A node whose
  // incoming edges have all settled runs if anything arrived, else goes silent in turn.
  const settle = (from: string, fired: Record<string, unknown>): void => {
    for (const [port, targets] of out.get(from) ?? []) {
      const delivers = Object.hasOwn(fired, port);
      for (const target of targets) {
        if (target === from) continue;
        if (delivers) arrivals.set(target, [...(arrivals.get(target) ?? []), { from, value: fired[port] }]);
        const left = (waiting.get(target) ?? 1) - 1;
        waiting.set(target, left);
        if (left > 0) continue;
        if (arrivals.has(target)) ready.push(target);
        else settle(target, {});
      }
    }
  };

  if (deps.resume) {
    if (!nodes.has(deps.resume.node)) {
      return result('failed', { node: deps.resume.node, message: 'the node to resume at is no longer in the flow' });
    }
    settle(deps.resume.node, { [deps.resume.port]: deps.resume.input });
  } else {
    arrivals.set(origin, [{ from: '', value: run.payload }]);
    ready.push(origin);
  }

  // Made when an action asks for its signal or the time limit strikes: a run of local actions never does.
  let deadline: AbortController | undefined;
  const deadlineOf = () => (deadline ??= new AbortController());
  const overtime = `the run took longer than its limit of ${limits.maxDurationMs} ms`;
  // Armed by the first action that answers later: a run of synchronous actions needs no timer.
  let timer: NodeJS.Timeout | undefined;
  let expired: Promise<never> | undefined;
  const outlive = <T>(work: Promise<T>): Promise<T> => {
    if (!expired) {
      const left = Math.max(0, limits.maxDurationMs - (now().getTime() - started));
      expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          deadlineOf().abort(new Error(overtime));
          reject(deadlineOf().signal.reason as Error);
        }, left);
      });
      // The run may end before the timer fires; nothing then waits on this promise.
      expired.catch(() => undefined);
    }
    return Promise.race([work, expired]);
  };
  // One context for the whole run: the node it answers for is the one running.
  let runningId = '';
  let runningInput: unknown;
  let pausedHere = false;
  const actionContext: ActionContext = {
    run,
    emit: (effect) => effects.push(effect),
    response,
    ux,
    stop: () => (stopped = true),
    pause: (state) => {
      if (paused) throw new Error(`the run is already paused at ${paused.node}`);
      paused = { node: runningId, input: runningInput, ...state };
      pausedHere = true;
    },
    http: deps.http,
    now,
    get signal() {
      return deadlineOf().signal;
    },
  };
  // The nodes of a run mostly start within one millisecond: each distinct time is made text once.
  let startedMs = Number.NaN;
  let startedText = '';
  const startedTextOf = (date: Date): string => {
    if (date.getTime() !== startedMs) {
      startedMs = date.getTime();
      startedText = date.toISOString();
    }
    return startedText;
  };
  let steps = 0;
  try {
    while (ready.length > 0 && !stopped) {
      const id = ready.shift()!;
      const node = nodes.get(id)!;
      if (++steps > limits.maxSteps) throw new RunFailure(id, `the run exceeded its limit of ${limits.maxSteps} steps`);
      const startedAt = now();
      if (startedAt.getTime() - started > limits.maxDurationMs || deadline?.signal.aborted) {
        throw new RunFailure(id, overtime);
      }
      const spec = deps.actions.get(node.action);
      if (!spec) throw new RunFailure(id, `unknown action ${node.action}`);
      const input = inputOf(arrivals.get(id) ?? []);
      arrivals.delete(id);
      run.payload = input;
      runningId = id;
      runningInput = input;
      pausedHere = false;
      const step: NodeTrace = {
        node: id,
        action: node.action,
        input,
        outputs: {},
        startedAt: startedTextOf(startedAt),
        durationMs: 0,
      };
      trace.push(step);
      try {
        const answer = spec.run(input, configOf(node, spec), actionContext);
        const output = answer instanceof Promise ? await outlive(answer) : answer;
        if (
          output === null ||
          typeof output !== 'object' ||
          output.ports === null ||
          typeof output.ports !== 'object'
        ) {
          throw new Error(`${node.action} answered without ports`);
        }
        step.outputs = output.ports;
      } catch (error) {
        step.error = messageOf(error);
        if (deadline?.signal.aborted) throw new RunFailure(id, messageOf(deadline.signal.reason));
        if (!out.get(id)?.has(ERROR_PORT)) throw new RunFailure(id, step.error);
        step.outputs = { [ERROR_PORT]: { message: step.error, input } };
      } finally {
        step.durationMs = now().getTime() - startedAt.getTime();
      }
      // A paused branch neither delivers nor goes silent: what waits on it waits for the resume.
      if (!pausedHere) settle(id, step.outputs);
    }
  } catch (error) {
    if (error instanceof RunFailure) return result('failed', { node: error.node, message: error.message });
    throw error;
  } finally {
    if (timer) clearTimeout(timer);
  }
  return result(paused && !stopped ? 'paused' : 'completed');
}
