import { DomainError, type FieldProblem } from '../shared/errors.js';
import { normalizeEventType } from '../tracking/payload.js';
import type { RuleKind } from './model.js';
import type { RuleInput, RuleReferences } from './ports.js';

export const RULE_KINDS = ['event', 'segment-entered', 'segment-left'] as const satisfies readonly RuleKind[];

export interface RuleFields {
  name: string;
  kind: RuleKind;
  eventType?: string;
  sourceId?: string;
  segmentId?: string;
  flowId: string;
  enabled?: boolean;
}

/**
 * An event rule names an event type (normalised as /track stores it) and, optionally, a source; a
 * segment rule names a segment. A field of the other kind is refused rather than dropped, so a
 * mistaken kind is told, not silently saved as something else.
 */
export function parseRuleInput(fields: RuleFields): Omit<RuleInput, 'id'> {
  const problems: FieldProblem[] = [];
  const isEvent = fields.kind === 'event';
  if (isEvent) {
    if (fields.eventType === undefined) problems.push({ field: 'eventType', message: 'required for an event rule' });
    if (fields.segmentId !== undefined) problems.push({ field: 'segmentId', message: 'only for segment rules' });
  } else {
    if (fields.segmentId === undefined)
      problems.push({ field: 'segmentId', message: `required for a ${fields.kind} rule` });
    if (fields.eventType !== undefined) problems.push({ field: 'eventType', message: 'only for event rules' });
    if (fields.sourceId !== undefined) problems.push({ field: 'sourceId', message: 'only for event rules' });
  }
  if (problems.length > 0) {
    throw new DomainError('bad_request', `the rule's fields do not fit its kind "${fields.kind}"`, problems);
  }
  return {
    name: fields.name,
    kind: fields.kind,
    ...(isEvent && { eventType: normalizeEventType(fields.eventType!) }),
    ...(fields.sourceId !== undefined && { sourceId: fields.sourceId }),
    ...(fields.segmentId !== undefined && { segmentId: fields.segmentId }),
    flowId: fields.flowId,
    enabled: fields.enabled ?? true,
  };
}

/** Refuses a rule that names a flow, source or segment that does not exist, naming each field. */
export async function checkRuleReferences(rule: Omit<RuleInput, 'id'>, references: RuleReferences): Promise<void> {
  const checks: [field: string, id: string | undefined, exists: (id: string) => Promise<boolean>, what: string][] = [
    ['flowId', rule.flowId, (id) => references.flowExists(id), 'flow'],
    ['sourceId', rule.sourceId, (id) => references.sourceExists(id), 'event source'],
    ['segmentId', rule.segmentId, (id) => references.segmentExists(id), 'segment'],
  ];
  const problems: FieldProblem[] = [];
  for (const [field, id, exists, what] of checks) {
    if (id !== undefined && !(await exists(id))) problems.push({ field, message: `no ${what} "${id}"` });
  }
  if (problems.length > 0) {
    throw new DomainError('bad_request', `the rule names ${problems.map((p) => p.message).join(', ')}`, problems);
  }
}

/** A rule's references, looked up in the repositories that hold them. */
export function ruleReferences(repositories: {
  flows: { get(id: string): Promise<unknown> };
  sources: { get(id: string): Promise<unknown> };
  segments: { get(id: string): Promise<unknown> };
}): RuleReferences {
  const exists = (repository: { get(id: string): Promise<unknown> }) => async (id: string) =>
    (await repository.get(id)) !== undefined;
  return {
    flowExists: exists(repositories.flows),
    sourceExists: exists(repositories.sources),
    segmentExists: exists(repositories.segments),
  };
}
