/** The typed syntax tree produced by the parser and consumed by the evaluator and the SQL compiler. */

export const SOURCES = ['profile', 'event', 'session', 'payload', 'flow', 'memory'] as const;
export type SourceName = (typeof SOURCES)[number];

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface FieldNode {
  kind: 'field';
  source: SourceName;
  /** Object keys or list indices (indices are kept as their decimal text). */
  path: string[];
  position: number;
}

export interface LiteralNode {
  kind: 'literal';
  value: JsonValue;
  position: number;
}

export interface CallNode {
  kind: 'call';
  name: FunctionName;
  args: Operand[];
  position: number;
}

export type Operand = FieldNode | LiteralNode | CallNode;

export const FUNCTION_ARITY = {
  now: [0, 1],
  utcnow: [0, 0],
  'now.offset': [1, 1],
  'now.timezone': [1, 1],
  'now.timezone.offset': [2, 2],
  datetime: [1, 1],
  'datetime.offset': [2, 2],
  'datetime.timezone': [2, 2],
  'datetime.from_timestamp': [1, 1],
  lowercase: [1, 1],
  uppercase: [1, 1],
} as const satisfies Record<string, readonly [number, number]>;
export type FunctionName = keyof typeof FUNCTION_ARITY;

export type ComparisonOperator = '==' | '!=' | '>' | '>=' | '<' | '<=';

export type Condition =
  | { kind: 'and' | 'or'; operands: Condition[] }
  | { kind: 'not'; operand: Condition }
  | { kind: 'compare'; op: ComparisonOperator; left: Operand; right: Operand }
  | { kind: 'between'; operand: Operand; low: Operand; high: Operand }
  /** IS NULL and IS NOT NULL are not each other's negation: both are false on a missing field. */
  | { kind: 'isNull' | 'isNotNull'; operand: Operand }
  | { kind: 'exists'; field: FieldNode }
  | { kind: 'empty'; operand: Operand }
  | { kind: 'in'; operand: Operand; list: LiteralNode }
  | { kind: 'contains' | 'startsWith' | 'endsWith'; operand: Operand; value: Operand };

/** Visits every field reference, in source order. */
export function forEachField(condition: Condition, visit: (field: FieldNode) => void): void {
  const visitOperand = (operand: Operand): void => {
    if (operand.kind === 'field') visit(operand);
    else if (operand.kind === 'call') operand.args.forEach(visitOperand);
  };
  switch (condition.kind) {
    case 'and':
    case 'or':
      condition.operands.forEach((c) => forEachField(c, visit));
      return;
    case 'not':
      forEachField(condition.operand, visit);
      return;
    case 'compare':
      visitOperand(condition.left);
      visitOperand(condition.right);
      return;
    case 'between':
      visitOperand(condition.operand);
      visitOperand(condition.low);
      visitOperand(condition.high);
      return;
    case 'isNull':
    case 'isNotNull':
    case 'empty':
    case 'in':
      visitOperand(condition.operand);
      return;
    case 'exists':
      visit(condition.field);
      return;
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      visitOperand(condition.operand);
      visitOperand(condition.value);
      return;
  }
}
