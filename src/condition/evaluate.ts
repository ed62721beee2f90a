/**
 * Compiles a condition tree into nested closures once, so each evaluation is plain function calls.
 * A missing field makes its comparison false; it never throws, whichever side of AND/OR it is on.
 */
import { forEachField, type Condition, type JsonValue, type Operand, type SourceName } from './ast.js';
import { FUNCTIONS, warn, type FunctionEnv } from './functions.js';
import { parseCondition } from './parser.js';
import { compilePathReader, formatPath } from './path.js';
import {
  Instant,
  MISSING,
  containsValue,
  describeValue,
  endsWithValue,
  equalsOrMember,
  isEmptyValue,
  orderOf,
  startsWithValue,
  type Applicability,
  type RuntimeValue,
} from './values.js';

export type ConditionContext = Partial<Record<SourceName, unknown>>;

export interface CompileOptions {
  /** The clock behind now() and friends; defaults to the system clock. */
  now?: () => Date;
}

export interface EvaluationResult {
  result: boolean;
  warnings: string[];
}

export interface CompiledCondition {
  readonly ast: Condition;
  /** Every field the condition reads, as `source@path`, in order of first appearance. */
  readonly fields: string[];
  evaluate(context: ConditionContext): boolean;
  evaluateWithWarnings(context: ConditionContext): EvaluationResult;
}

type OperandFn = (context: ConditionContext, env: FunctionEnv) => RuntimeValue;
export type PredicateFn = (context: ConditionContext, env: FunctionEnv) => boolean;

const EMPTY_SOURCE = Object.freeze({});

export function compileCondition(condition: string | Condition, options: CompileOptions = {}): CompiledCondition {
  const ast = typeof condition === 'string' ? parseCondition(condition) : condition;
  const predicate = compilePredicate(ast);
  // One environment per compiled condition: evaluation is synchronous, so reusing it is safe and
  // keeps the hot path allocation-free.
  const env: FunctionEnv = { clock: options.now ?? (() => new Date()), now: undefined, warnings: null };
  return {
    ast,
    fields: fieldsOf(ast),
    evaluate(context) {
      env.now = undefined;
      env.warnings = null;
      return predicate(context, env);
    },
    evaluateWithWarnings(context) {
      const warnings: string[] = [];
      env.now = undefined;
      env.warnings = warnings;
      const result = predicate(context, env);
      env.warnings = null;
      return { result, warnings };
    },
  };
}

export function fieldsOf(ast: Condition): string[] {
  const fields = new Set<string>();
  forEachField(ast, (field) => fields.add(`${field.source}@${formatPath(field.path)}`));
  return [...fields];
}

export function compileOperand(operand: Operand): OperandFn {
  switch (operand.kind) {
    case 'literal': {
      const value = operand.value;
      return () => value;
    }
    case 'field': {
      const read = compilePathReader(operand.path);
      const source = operand.source;
      return (context) => {
        const value = read(context[source] ?? EMPTY_SOURCE);
        return typeof value === 'object' && value instanceof Date ? Instant.fromDate(value) : (value as RuntimeValue);
      };
    }
    case 'call': {
      const implementation = FUNCTIONS[operand.name];
      const args = operand.args.map(compileOperand);
      const name = operand.name;
      return (context, env) =>
        implementation(
          args.map((arg) => arg(context, env)),
          env,
          name,
        );
    }
  }
}

const ORDER_TESTS = {
  '>': (order: number) => order > 0,
  '>=': (order: number) => order >= 0,
  '<': (order: number) => order < 0,
  '<=': (order: number) => order <= 0,
} as const;

const NUMERIC_TESTS = {
  '>': (a: number, b: number) => a > b,
  '>=': (a: number, b: number) => a >= b,
  '<': (a: number, b: number) => a < b,
  '<=': (a: number, b: number) => a <= b,
} as const;

/** `field == literal`, with the common string and number cases decided without the generic rules. */
function equalsLiteral(left: OperandFn, literal: JsonValue): PredicateFn {
  if (typeof literal === 'string') return (context, env) => left(context, env) === literal;
  if (typeof literal === 'number') {
    return (context, env) => {
      const value = left(context, env);
      return typeof value === 'number' ? value === literal : typeof value === 'boolean' && Number(value) === literal;
    };
  }
  return (context, env) => equalsOrMember(left(context, env), literal);
}

/** Orders two values; incomparable present values are reported, missing ones silently false. */
function ordered(a: RuntimeValue, b: RuntimeValue, operator: string, env: FunctionEnv): number | undefined {
  const order = orderOf(a, b);
  if (order === undefined && a !== MISSING && b !== MISSING) {
    warn(env, `"${operator}" cannot order ${describeValue(a)} and ${describeValue(b)}; the comparison is false`);
  }
  return order;
}

function applicable(result: Applicability, operator: string, subject: RuntimeValue, env: FunctionEnv): boolean {
  if (result === undefined) {
    warn(env, `${operator} does not apply to ${describeValue(subject)}; the result is false`);
    return false;
  }
  return result;
}

export function compilePredicate(condition: Condition): PredicateFn {
  switch (condition.kind) {
    case 'and':
    case 'or':
      return condition.operands
        .map(compilePredicate)
        .reduceRight((rest, part) =>
          condition.kind === 'and'
            ? (context, env) => part(context, env) && rest(context, env)
            : (context, env) => part(context, env) || rest(context, env),
        );
    case 'not': {
      const inner = compilePredicate(condition.operand);
      return (context, env) => !inner(context, env);
    }
    case 'compare': {
      const left = compileOperand(condition.left);
      const right = compileOperand(condition.right);
      const operator = condition.op;
      if (operator === '==' || operator === '!=') {
        const equals: PredicateFn =
          condition.right.kind === 'literal'
            ? equalsLiteral(left, condition.right.value)
            : (context, env) => equalsOrMember(left(context, env), right(context, env));
        return operator === '==' ? equals : (context, env) => !equals(context, env);
      }
      const test = ORDER_TESTS[operator];
      if (condition.right.kind === 'literal' && typeof condition.right.value === 'number') {
        const bound = condition.right.value;
        const numericTest = NUMERIC_TESTS[operator];
        return (context, env) => {
          const value = left(context, env);
          if (typeof value === 'number') return numericTest(value, bound);
          const order = ordered(value, bound, operator, env);
          return order !== undefined && test(order);
        };
      }
      return (context, env) => {
        const order = ordered(left(context, env), right(context, env), operator, env);
        return order !== undefined && test(order);
      };
    }
    case 'between': {
      const operand = compileOperand(condition.operand);
      const low = compileOperand(condition.low);
      const high = compileOperand(condition.high);
      return (context, env) => {
        const value = operand(context, env);
        const fromLow = ordered(value, low(context, env), 'BETWEEN', env);
        if (fromLow === undefined || fromLow < 0) return false;
        const toHigh = ordered(value, high(context, env), 'BETWEEN', env);
        return toHigh !== undefined && toHigh <= 0;
      };
    }
    case 'isNull': {
      const operand = compileOperand(condition.operand);
      return (context, env) => operand(context, env) === null;
    }
    case 'isNotNull': {
      const operand = compileOperand(condition.operand);
      return (context, env) => {
        const value = operand(context, env);
        return value !== null && value !== MISSING;
      };
    }
    case 'exists': {
      const field = compileOperand(condition.field);
      return (context, env) => field(context, env) !== MISSING;
    }
    case 'empty': {
      const operand = compileOperand(condition.operand);
      return (context, env) => isEmptyValue(operand(context, env));
    }
    case 'in': {
      const operand = compileOperand(condition.operand);
      const list = condition.list.value;
      return (context, env) => equalsOrMember(operand(context, env), list);
    }
    case 'contains':
    case 'startsWith':
    case 'endsWith': {
      const subject = compileOperand(condition.operand);
      const value = compileOperand(condition.value);
      const [test, label] = TEXT_OPERATORS[condition.kind];
      return (context, env) => {
        const a = subject(context, env);
        const b = value(context, env);
        if (a === MISSING || b === MISSING) return false;
        return applicable(test(a, b), label, a, env);
      };
    }
  }
}

const TEXT_OPERATORS = {
  contains: [containsValue, 'CONTAINS'],
  startsWith: [startsWithValue, 'STARTS WITH'],
  endsWith: [endsWithValue, 'ENDS WITH'],
} as const;
