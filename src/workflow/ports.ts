import type { Flow, HttpClient, NodeTrace, PauseState, Rule, RunStatus } from './model.js';
import type { ActionRegistry } from './registry.js';

/** A flow as stored: `answersClient` is derived from its graph when it is saved. */
export interface StoredFlow extends Flow {
  answersClient: boolean;
  createdAt: string;
  updatedAt: string;
}

/** What a flow is saved with; the store keeps the times. */
export type FlowInput = Omit<StoredFlow, 'createdAt' | 'updatedAt'>;

export type FlowSummary = Omit<StoredFlow, 'graph'>;

export interface FlowRepository {
  get(id: string): Promise<StoredFlow | undefined>;
  list(): Promise<FlowSummary[]>;
  /** Undefined when the id is taken. */
  create(flow: FlowInput): Promise<StoredFlow | undefined>;
  update(id: string, flow: Omit<FlowInput, 'id'>): Promise<StoredFlow | undefined>;
  /** Its rules go with it; its run history stays until the retention removes it. */
  delete(id: string): Promise<boolean>;
}

export type StoredRule = Rule & { createdAt: string; updatedAt: string };
export type RuleInput = Omit<Rule, 'createdAt' | 'updatedAt'>;

/** An enabled rule of an enabled flow, with what the hot path must know of the flow. */
export interface ActiveRule {
  rule: Rule;
  answersClient: boolean;
  /** The flow, for the commit to run it itself when all of its actions are local. */
  flow: Flow;
}

/** The active event rules as of one generation of the rules (counted up by every change to rules or flows). */
export interface ActiveRules {
  generation: number;
  rules: ActiveRule[];
}

export interface RuleRepository {
  get(id: string): Promise<StoredRule | undefined>;
  /** All rules, or those of one flow. */
  list(filter?: { flowId?: string }): Promise<StoredRule[]>;
  /** Undefined when the id is taken. */
  create(rule: RuleInput): Promise<StoredRule | undefined>;
  update(id: string, rule: Omit<RuleInput, 'id'>): Promise<StoredRule | undefined>;
  delete(id: string): Promise<boolean>;
  /** Enabled event rules of enabled flows and the generation they are of, read together, for the collection-time cache. */
  listActiveEventRules(): Promise<ActiveRules>;
}

export const RUN_TRIGGERS = ['event', 'segment-entered', 'segment-left', 'manual', 'resume', 'segmentation'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

export const RUN_STATUSES = [
  'pending',
  'running',
  'completed',
  'failed',
  'paused',
] as const satisfies readonly RunStatus[];

/** One recorded run, as the history shows it. */
export interface RunRecord {
  id: string;
  flowId: string;
  ruleId: string | null;
  trigger: RunTrigger;
  eventId: string | null;
  profileId: string | null;
  sessionId: string | null;
  status: RunStatus;
  attempts: number;
  trace: NodeTrace[];
  response: Record<string, unknown>;
  ux: unknown[];
  error: { node: string; message: string } | null;
  pause: PauseState | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** From start to finish, once finished. */
  durationMs: number | null;
}

/** A run in a list: everything but the per-node trace and what the run answered. */
export type RunSummary = Omit<RunRecord, 'trace' | 'response' | 'ux' | 'pause'>;

export interface RunPage {
  items: RunSummary[];
  /** The cursor of the next page; null on the last one. */
  next: string | null;
}

export interface RunHistory {
  /** A flow's runs, newest first. */
  listForFlow(flowId: string, limit: number, cursor?: string): Promise<RunPage>;
  get(id: string): Promise<RunRecord | undefined>;
  /**
   * Removes the runs that finished (completed or failed) before `date`; pending, running and paused
   * runs stay whatever their age. Resolves with how many were removed.
   */
  purgeRunsBefore(date: Date): Promise<number>;
}

/** What a rule's references are checked against. */
export interface RuleReferences {
  flowExists(id: string): Promise<boolean>;
  sourceExists(id: string): Promise<boolean>;
  segmentExists(id: string): Promise<boolean>;
}

/** What the flow, rule, action and run routes need, wired by the entry. */
export interface WorkflowServices {
  flows: FlowRepository;
  rules: RuleRepository;
  runs: RunHistory;
  references: RuleReferences;
  /** Told after every change to a rule or flow, so this process's commit step sees it at once. */
  ruleCache: { forget(): void };
  actions: ActionRegistry;
  /** What debug runs reach the outside world with. */
  http: HttpClient;
}
