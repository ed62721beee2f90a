/** The condition language: parse, evaluate, compile to SQL; dot notation and templates. */
export type {
  Condition,
  FieldNode,
  JsonValue,
  LiteralNode,
  CallNode,
  Operand,
  SourceName,
  ComparisonOperator,
  FunctionName,
} from './ast.js';
export { SOURCES, FUNCTION_ARITY } from './ast.js';
export { ConditionSyntaxError, ConditionNotCompilableError } from './errors.js';
export { parseCondition, MAX_NESTING_DEPTH } from './parser.js';
export { MAX_CONDITION_LENGTH } from './lexer.js';
export {
  compileCondition,
  fieldsOf,
  type CompiledCondition,
  type CompileOptions,
  type ConditionContext,
  type EvaluationResult,
} from './evaluate.js';
export { compileToSql, type SqlFragment, type SqlCompileOptions } from './sql.js';
export {
  DEFAULT_SQL_MAPPING,
  documentFromRow,
  type SqlMapping,
  type SourceTableMapping,
  type ColumnMapping,
  type ColumnType,
} from './sql-mapping.js';
export {
  parseDotPath,
  isDotPath,
  readDotPath,
  readDotPathOr,
  writeDotPath,
  deleteDotPath,
  castString,
  DotPathError,
  type DotContext,
  type DotPath,
} from './dot.js';
export {
  renderStringTemplate,
  renderObjectTemplate,
  type StringTemplateOptions,
  type ObjectTemplateOptions,
} from './template.js';
export { DEVIATIONS, type Deviation } from './deviations.js';
export { parseDateTime } from './datetime.js';
