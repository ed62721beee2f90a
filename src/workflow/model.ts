import type { TSchema } from '@sinclair/typebox';
import type { FieldProblem } from '../shared/errors.js';

/**
 * Workflows: rules route collected events (and segment changes) to flows, graphs of action nodes.
 * This module is the shared vocabulary of the engine, the actions, the store and the API.
 */

export type FlowType = 'collection' | 'segmentation';

export interface FlowNode {
  id: string;
  /** The id of an action in the registry (`if`, `set-value`, `add-segment`, …). */
  action: string;
  config: Record<string, unknown>;
  label?: string;
  position?: { x: number; y: number };
}

/** Joins an output port of one node to the input of another (every action has one input). */
export interface FlowEdge {
  from: { node: string; port: string };
  to: { node: string };
}

export interface FlowGraph {
  nodes: FlowNode[];
  edges: FlowEdge[];
}

export interface Flow {
  id: string;
  name: string;
  description: string;
  type: FlowType;
  enabled: boolean;
  graph: FlowGraph;
  createdAt?: string;
  updatedAt?: string;
}

export type RuleKind = 'event' | 'segment-entered' | 'segment-left';

export interface Rule {
  id: string;
  name: string;
  kind: RuleKind;
  /** Event rules: the normalised event type they match. */
  eventType?: string;
  /** Event rules: the source they match; absent = any source. */
  sourceId?: string;
  /** Segment rules: the segment whose entries or exits start the flow. */
  segmentId?: string;
  flowId: string;
  enabled: boolean;
  createdAt?: string;
  updatedAt?: string;
}

/**
 * What a run sees: the same sources the condition language and dot notation read
 * (`profile@traits.age`, `event@properties.id`, `memory@counter`). Documents are the shapes
 * the read model serves (GET /profiles/{id}, the event as stored).
 */
export interface RunContext {
  profile: Record<string, unknown> | null;
  session: Record<string, unknown> | null;
  event: Record<string, unknown> | null;
  payload: unknown;
  flow: { id: string; name: string; type: FlowType };
  memory: Record<string, unknown>;
}

/**
 * A change to the profile, recorded as an operation so the store can replay it on the freshly
 * locked row: two runs for one profile at once never lose each other's update. Paths are relative
 * to the profile document (`traits.last_order`, `data.contact.email.main`).
 */
export type ProfileChange =
  | { op: 'set'; path: string; value: unknown }
  | { op: 'delete'; path: string }
  | { op: 'increment'; path: string; by: number }
  | { op: 'append'; path: string; values: unknown[]; unique: boolean }
  | { op: 'remove'; path: string; values: unknown[] }
  | { op: 'add-segment'; segment: string }
  | { op: 'remove-segment'; segment: string }
  | { op: 'consent'; consent: string; granted: boolean; revokeAt?: string };

/** What a run asks of the world beyond its own context; applied by the executor after the run. */
export type RunEffect =
  | { kind: 'profile'; change: ProfileChange }
  | { kind: 'event-tags'; tags: string[] }
  /** Tracked for the run's profile through the collect pipeline. `depth` goes into the new event's
   * `metadata.raiseDepth`, so that a flow it starts can refuse to raise beyond the loop guard. */
  | { kind: 'raise-event'; type: string; properties: Record<string, unknown>; depth: number }
  /** Handed to the scheduler: `at` is an ISO time. */
  | { kind: 'schedule-event'; type: string; properties: Record<string, unknown>; at: string }
  /** Merge the profile with those sharing its values at these paths (relative: `pii.email`). */
  | { kind: 'merge'; keys: string[] }
  | { kind: 'log'; level: 'info' | 'warning' | 'error'; message: string };

/** Where a paused run continues, and when. Saved by the executor for the scheduler worker. */
export interface PauseState {
  node: string;
  port: string;
  /** What the pause node received: its port carries it on when the run continues. */
  input: unknown;
  at: string;
  /** A plus: continue early when an event of this type arrives for the profile. */
  untilEventType?: string;
  timeoutPort?: string;
}

/** What an action hands back: values on named output ports; only ports listed here continue. */
export interface ActionOutput {
  ports: Record<string, unknown>;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The outside world an action may reach; fetch in production, a local server in tests. */
export interface HttpClient {
  send(request: HttpRequest): Promise<HttpAnswer>;
}

export interface ActionContext {
  /** Read and changed by the actions as the run goes on; later nodes see earlier changes. */
  run: RunContext;
  emit(effect: RunEffect): void;
  /** The `/track` answer's `response` (response actions write here). */
  response: Record<string, unknown>;
  /** The `/track` answer's `ux` (UX snippet actions append here). */
  ux: unknown[];
  /** Stops the run here, successfully, after this node. */
  stop(): void;
  /** Ends this branch here; the run continues later at `state.node`'s `state.port`. */
  pause(state: Omit<PauseState, 'node' | 'input'>): void;
  http: HttpClient;
  now(): Date;
  signal: AbortSignal;
}

export type ActionGroup = 'flow' | 'data' | 'profile' | 'outside' | 'time' | 'response';

/**
 * One action: a declarative spec beside `run`, as n8n's nodes are written. The engine knows no
 * action by name; `GET /actions` serves the specs (config schema as JSON Schema) for forms.
 */
export interface ActionSpec<Config = Record<string, unknown>> {
  id: string;
  name: string;
  description: string;
  group: ActionGroup;
  configSchema: TSchema;
  outputs: readonly string[];
  /** Output ports that depend on the config (a switch's cases); when given, replaces `outputs`. */
  portsFor?(config: Config): readonly string[];
  /** Checks beyond the schema (a condition's syntax, a path's source); `field` is relative to the config. */
  check?(config: Config): FieldProblem[];
  /** The start node of a flow (exactly one per flow). */
  start?: boolean;
  /** A flow holding this action answers the `/track` call: its runs happen before the answer. */
  answersClient?: boolean;
  /**
   * Does no I/O and has no effect beyond the run's profile, session, event and answer: a flow made only
   * of such actions runs inside the commit of the event that starts it (workflow/inline.ts).
   */
  local?: true;
  run(input: unknown, config: Config, context: ActionContext): Promise<ActionOutput> | ActionOutput;
}

export interface NodeTrace {
  node: string;
  action: string;
  input: unknown;
  outputs: Record<string, unknown>;
  startedAt: string;
  durationMs: number;
  error?: string;
}

export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'paused';

export interface RunResult {
  status: Exclude<RunStatus, 'pending' | 'running'>;
  trace: NodeTrace[];
  effects: RunEffect[];
  response: Record<string, unknown>;
  ux: unknown[];
  memory: Record<string, unknown>;
  error?: { node: string; message: string };
  pause?: PauseState;
}

/** Every action may fail; a failure takes this port when the node has an edge on it. */
export const ERROR_PORT = 'error';

export interface RunLimits {
  maxSteps: number;
  maxDurationMs: number;
}
