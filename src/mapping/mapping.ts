import { ConditionSyntaxError, fieldsOf, parseCondition, parseDotPath } from '../condition/index.js';
import { FORBIDDEN_KEYS } from '../condition/path.js';
import { invalidInput, type FieldProblem } from '../shared/errors.js';
import { normalizeEventType } from '../tracking/payload.js';

export const MAPPING_KINDS = ['event-props-to-traits', 'event-to-profile'] as const;
export type MappingKind = (typeof MAPPING_KINDS)[number];

export const PROFILE_OPS = ['equals', 'equals_if_not_exists', 'append', 'increment', 'decrement', 'delete'] as const;
export type ProfileOp = (typeof PROFILE_OPS)[number];

/** The jsonb columns of `profiles` a mapping may write; the rest is owned by tracking. */
export const WRITABLE_PROFILE_PARTS = ['traits', 'pii', 'data', 'stats', 'consents'] as const;
export type WritableProfilePart = (typeof WRITABLE_PROFILE_PARTS)[number];

/** Ops that read no event value: `event` is optional for them. */
const EVENT_OPTIONAL: ReadonlySet<ProfileOp> = new Set(['increment', 'decrement', 'delete']);
const CONDITION_SOURCES: ReadonlySet<string> = new Set(['event', 'profile', 'session']);

/** One copy of an event-to-profile mapping; paths are relative to the event and profile documents. */
export interface ProfileCopy {
  event?: string;
  profile: string;
  op: ProfileOp;
}

export type MappingRules =
  /** Source path in the event → target path under `traits.`. */
  | { kind: 'event-props-to-traits'; mapping: Record<string, string>; condition: null }
  | { kind: 'event-to-profile'; mapping: ProfileCopy[]; condition: string | null };

export type MappingInput = { name: string; eventType: string; enabled: boolean } & MappingRules;
export type Mapping = MappingInput & { id: string; createdAt: string; updatedAt: string };

/** A mapping as the API receives it, shape-checked by the route schema but not yet by meaning. */
export interface MappingBody {
  name: string;
  kind: MappingKind;
  eventType: string;
  mapping: Record<string, string> | { event?: string; profile: string; op?: ProfileOp }[];
  condition?: string | null;
  enabled?: boolean;
}

const invalid = (problem: FieldProblem) => invalidInput(`${problem.field}: ${problem.message}`, [problem]);

/**
 * A path relative to one document (`properties.price`); the `event@`/`profile@` prefix of the dot
 * notation is accepted and dropped. Returns the keys; an invalid path throws a `bad_request` error naming `field`.
 */
function documentPath(text: string, source: 'event' | 'profile', field: string): { text: string; keys: string[] } {
  const bare = text.startsWith(`${source}@`) ? text.slice(source.length + 1) : text;
  const keys = parseDotPath(`${source}@${bare}`)?.path;
  if (!keys || keys.length === 0 || keys.some((key) => key === '')) {
    throw invalid({
      field,
      message: `"${text}" is not a path into the ${source} (e.g. ${source === 'event' ? 'properties.email' : 'data.contact.email.main'})`,
    });
  }
  const forbidden = keys.find((key) => FORBIDDEN_KEYS.has(key));
  if (forbidden) throw invalid({ field, message: `key "${forbidden}" is not allowed` });
  return { text: bare, keys };
}

function checkCondition(condition: string): void {
  let fields: string[];
  try {
    fields = fieldsOf(parseCondition(condition));
  } catch (error) {
    if (error instanceof ConditionSyntaxError) throw invalid({ field: 'condition', message: error.message });
    throw error;
  }
  const foreign = fields.find((field) => !CONDITION_SOURCES.has(field.slice(0, field.indexOf('@'))));
  if (foreign)
    throw invalid({
      field: 'condition',
      message: `${foreign}: only event@, profile@ and session@ are available to a mapping`,
    });
}

function propsToTraitsRules(mapping: MappingBody['mapping'], condition: string | null | undefined): MappingRules {
  if (Array.isArray(mapping))
    throw invalid({ field: 'mapping', message: 'expected an object of {"event path": "traits.path"}' });
  if (condition) throw invalid({ field: 'condition', message: 'only event-to-profile mappings take a condition' });
  const rules: Record<string, string> = {};
  const targets: string[][] = [];
  for (const [source, target] of Object.entries(mapping)) {
    const field = `mapping[${JSON.stringify(source)}]`;
    const from = documentPath(source, 'event', field);
    const to = documentPath(target, 'event', field);
    if (to.keys[0] !== 'traits' || to.keys.length < 2)
      throw invalid({ field, message: `target "${target}" must be under traits.` });
    // One target inside another would make the result depend on the order of the copies.
    const clash = targets.find(
      (other) => other.every((key, i) => to.keys[i] === key) || to.keys.every((key, i) => other[i] === key),
    );
    if (clash) throw invalid({ field, message: `target "${target}" overlaps another target (${clash.join('.')})` });
    targets.push(to.keys);
    rules[from.text] = to.text;
  }
  if (targets.length === 0) throw invalid({ field: 'mapping', message: 'map at least one property' });
  return { kind: 'event-props-to-traits', mapping: rules, condition: null };
}

function eventToProfileRules(mapping: MappingBody['mapping'], condition: string | null | undefined): MappingRules {
  if (!Array.isArray(mapping)) throw invalid({ field: 'mapping', message: 'expected a list of {event, profile, op}' });
  if (mapping.length === 0) throw invalid({ field: 'mapping', message: 'map at least one value' });
  const copies = mapping.map((copy, index): ProfileCopy => {
    const op = copy.op ?? 'equals';
    const profile = documentPath(copy.profile, 'profile', `mapping.${index}.profile`);
    if (!(WRITABLE_PROFILE_PARTS as readonly string[]).includes(profile.keys[0]!) || profile.keys.length < 2) {
      throw invalid({
        field: `mapping.${index}.profile`,
        message: `target must be under one of ${WRITABLE_PROFILE_PARTS.map((part) => `${part}.`).join(', ')}`,
      });
    }
    if (copy.event === undefined) {
      if (!EVENT_OPTIONAL.has(op))
        throw invalid({ field: `mapping.${index}.event`, message: `op "${op}" needs an event path` });
      return { profile: profile.text, op };
    }
    return { event: documentPath(copy.event, 'event', `mapping.${index}.event`).text, profile: profile.text, op };
  });
  if (condition) checkCondition(condition);
  return { kind: 'event-to-profile', mapping: copies, condition: condition || null };
}

/** Checks a mapping by meaning (paths, targets, condition); a problem throws a `bad_request` error naming the field. */
export function parseMappingInput(body: MappingBody): MappingInput {
  const eventType = normalizeEventType(body.eventType);
  if (eventType === '') throw invalid({ field: 'eventType', message: 'must not be blank' });
  const rules =
    body.kind === 'event-props-to-traits'
      ? propsToTraitsRules(body.mapping, body.condition)
      : eventToProfileRules(body.mapping, body.condition);
  return { name: body.name, eventType, enabled: body.enabled ?? true, ...rules };
}
