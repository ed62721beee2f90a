import { Type } from '@sinclair/typebox';
import {
  ConditionSyntaxError,
  parseCondition,
  parseDotPath,
  renderObjectTemplate,
  renderStringTemplate,
  type DotContext,
  type ObjectTemplateOptions,
  type SourceName,
} from '../../condition/index.js';
import { parseDateMath, resolveDateMath } from '../../shared/date-math.js';
import type { FieldProblem } from '../../shared/errors.js';
import type { ActionContext, ActionOutput, ProfileChange, RunContext } from '../model.js';
import { applyChangeInContext } from '../profile-changes.js';

/** What the actions share: reading values through dot notation and templates, writing targets. */

export const dotContext = (run: RunContext): DotContext => run as unknown as DotContext;

/** The sources a flow may write: the profile is stored, memory and payload live for the run. */
const WRITABLE: ReadonlySet<SourceName> = new Set(['profile', 'memory', 'payload']);

export const TargetPath = (description: string) =>
  Type.String({ minLength: 3, description: `${description} (dot notation: profile@…, memory@… or payload@…)` });

/** A value as written in a config: `{{…}}` renders a string template, a dot path reads, objects fill. */
export const ValueTemplate = (description: string) => Type.Unknown({ description });

export function resolveValue(value: unknown, run: RunContext, options: ObjectTemplateOptions = {}): unknown {
  if (typeof value === 'string' && value.includes('{{')) return renderStringTemplate(value, dotContext(run));
  return renderObjectTemplate(value, dotContext(run), options);
}

/** Missing paths in a template: fail the node, or, with a `default` in the config, use it. */
export const MissingDefault = Type.Optional(
  Type.Unknown({ description: 'Used for a path that is missing; without it a missing path fails the node' }),
);

export const missingOptions = (config: { default?: unknown }): ObjectTemplateOptions =>
  'default' in config ? { default: config.default } : {};

/** Problems with a target path in a config, for the action's `check`. */
export function targetProblems(field: string, text: unknown): FieldProblem[] {
  if (typeof text !== 'string') return [];
  const parsed = parseDotPath(text);
  if (!parsed) return [{ field, message: `${JSON.stringify(text)} is not a dot path (source@path)` }];
  if (!WRITABLE.has(parsed.source)) {
    return [{ field, message: `a flow writes profile@, memory@ or payload@, not ${parsed.source}@` }];
  }
  if (parsed.path.length === 0) return [{ field, message: `name a field, like ${parsed.source}@traits.name` }];
  return [];
}

function profileOf(context: ActionContext): Record<string, unknown> {
  if (!context.run.profile) throw new Error('this run has no profile');
  return context.run.profile;
}

/** Changes the run's profile (later nodes see it) and records the change for the store to replay. */
export function changeProfile(context: ActionContext, change: ProfileChange): void {
  applyChangeInContext({ profile: profileOf(context) }, 'profile', change);
  context.emit({ kind: 'profile', change });
}

/**
 * Applies an operation at a target path (`profile@traits.visits`): the profile through a recorded
 * change, memory and payload directly. The node then passes on `context.run.payload`.
 */
export function changeTarget(
  context: ActionContext,
  target: string,
  change: (path: string) => Extract<ProfileChange, { path: string }>,
): void {
  const parsed = parseDotPath(target);
  if (!parsed || !WRITABLE.has(parsed.source)) throw new Error(`${target} cannot be written by a flow`);
  const operation = change(target.slice(target.indexOf('@') + 1));
  if (parsed.source === 'profile') return changeProfile(context, operation);
  // The payload is changed on a copy: the node's input, as the trace shows it, stays what it was.
  if (parsed.source === 'payload') context.run.payload = structuredClone(context.run.payload);
  applyChangeInContext(dotContext(context.run), parsed.source, operation);
}

export const PAYLOAD = ['payload'] as const;
export const TRUE_FALSE = ['true', 'false'] as const;

/** Passes the input on, unchanged, on the `payload` port. */
export const passOn = (input: unknown): ActionOutput => ({ ports: { payload: input } });

export const branch = (decision: boolean, input: unknown): ActionOutput => ({
  ports: { [decision ? 'true' : 'false']: input },
});

export const SegmentConfig = Type.Object({ segment: Type.String({ minLength: 1, description: 'The segment' }) });

/** Problems with a condition in a config, for the action's `check`. */
export function conditionProblems(field: string, text: string): FieldProblem[] {
  try {
    parseCondition(text);
    return [];
  } catch (error) {
    if (error instanceof ConditionSyntaxError) return [{ field, message: error.message }];
    throw error;
  }
}

/** When something should happen: `delay` from now in date math units (`+15m`, `+2d`), or at a time. */
export const WhenConfig = {
  delay: Type.Optional(Type.String({ pattern: '^\\+\\d+[yMwdhHms]$', description: 'From now: +30s, +15m, +2h, +1d' })),
  at: Type.Optional(Type.String({ description: 'An ISO time, or a dot path or template giving one' })),
};

export function whenProblems(config: { delay?: string; at?: string }): FieldProblem[] {
  if ((config.delay === undefined) === (config.at === undefined)) {
    return [{ field: 'delay', message: 'give either delay or at' }];
  }
  return [];
}

export function whenOf(config: { delay?: string; at?: string }, context: ActionContext): string {
  if (config.delay !== undefined)
    return resolveDateMath(parseDateMath(`now${config.delay}`), context.now()).toISOString();
  const at = resolveValue(config.at, context.run);
  const time = typeof at === 'string' || typeof at === 'number' ? new Date(at) : undefined;
  if (!time || Number.isNaN(time.getTime())) throw new Error(`${JSON.stringify(at)} is not a time`);
  return time.toISOString();
}
