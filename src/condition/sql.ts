/**
 * Compiles profile@, event@ and session@ conditions to a parameterised SQL WHERE fragment
 * (PostgreSQL and PGlite). Every value — literals, paths, the clock — travels as a parameter.
 * The generated SQL mirrors the evaluator's rules in values.ts: numbers and booleans compare as
 * numbers, strings by code point (COLLATE "C"), mismatched types and missing fields give false.
 * Every predicate is two-valued (never SQL NULL), so NOT behaves as in the evaluator.
 */
import { forEachField, type Condition, type FieldNode, type Operand } from './ast.js';
import { ISO_DATETIME_PATTERN, isKnownTimeZone, MAX_TIMESTAMP_SECONDS } from './datetime.js';
import { ConditionNotCompilableError } from './errors.js';
import { UNPAIRED_SURROGATE } from './lexer.js';
import { compileOperand, compilePredicate } from './evaluate.js';
import { FUNCTIONS, offsetMilliseconds, type FunctionEnv } from './functions.js';
import { parseCondition } from './parser.js';
import { DEFAULT_SQL_MAPPING, mappingTree, type MappingNode, type SqlMapping, type SqlSource } from './sql-mapping.js';
import { Instant, MISSING, type RuntimeValue } from './values.js';

export interface SqlCompileOptions {
  /** Number of parameters already used by the surrounding query: the first one is $(offset+1). */
  paramOffset?: number;
  /** Table layout; defaults to DEFAULT_SQL_MAPPING (profiles p, events e, sessions s). */
  mapping?: SqlMapping;
  /** The clock behind now() and friends, read once at compile time. */
  now?: () => Date;
}

export interface SqlFragment {
  sql: string;
  /** Text parameters; each placeholder carries its own cast ($1::text::jsonb, $2::text::numeric, ...). */
  params: string[];
}

/** An operand in SQL: a compile-time constant, a jsonb expression (NULL = missing) or a timestamptz. */
type SqlOperand =
  | { kind: 'const'; value: RuntimeValue }
  | { kind: 'json'; sql: string; timestampColumn?: string }
  | { kind: 'instant'; sql: string };

const NUMERIC_TYPES = `('number', 'boolean')`;
const OFFSET_PATTERN = '[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$';

export function compileToSql(condition: string | Condition, options: SqlCompileOptions = {}): SqlFragment {
  const ast = typeof condition === 'string' ? parseCondition(condition) : condition;
  const compiler = new SqlCompiler(options);
  return compiler.finish(compiler.predicate(ast));
}

const sqlString = (text: string): string => `'${text.replaceAll("'", "''")}'`;

class SqlCompiler {
  private readonly params: string[] = [];
  private readonly offset: number;
  private readonly mapping: SqlMapping;
  private readonly env: FunctionEnv;

  constructor(options: SqlCompileOptions) {
    this.offset = options.paramOffset ?? 0;
    this.mapping = options.mapping ?? DEFAULT_SQL_MAPPING;
    this.env = { clock: options.now ?? (() => new Date()), now: undefined, warnings: null };
  }

  predicate(condition: Condition): string {
    // A condition without fields has one answer for every row: decide it here, by the evaluator.
    if (!conditionHasField(condition)) return compilePredicate(condition)({}, this.env) ? 'TRUE' : 'FALSE';
    switch (condition.kind) {
      case 'and':
      case 'or':
        return `(${condition.operands.map((c) => this.predicate(c)).join(condition.kind === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        return `(NOT ${this.predicate(condition.operand)})`;
      case 'compare': {
        const left = this.operand(condition.left);
        const right = this.operand(condition.right);
        if (condition.op === '==') return this.equals(left, right);
        if (condition.op === '!=') return `(NOT ${this.equals(left, right)})`;
        return this.order(left, condition.op, right);
      }
      case 'between': {
        const value = this.operand(condition.operand);
        return `(${this.order(value, '>=', this.operand(condition.low))} AND ${this.order(value, '<=', this.operand(condition.high))})`;
      }
      case 'isNull':
      case 'isNotNull':
        return this.nullTest(this.operand(condition.operand), condition.kind === 'isNull');
      case 'exists':
        return `(${this.asJson(this.operand(condition.field))} IS NOT NULL)`;
      case 'empty': {
        const value = this.operand(condition.operand);
        if (value.kind === 'instant') return `(${value.sql} IS NULL)`;
        const json = this.asJson(value);
        return `COALESCE(${json} IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb, '{}'::jsonb), true)`;
      }
      case 'in':
        return this.equals(this.operand(condition.operand), { kind: 'const', value: condition.list.value });
      case 'contains':
      case 'startsWith':
      case 'endsWith':
        return this.textOperator(condition.kind, this.operand(condition.operand), this.operand(condition.value));
    }
  }

  /**
   * Branches folded to TRUE/FALSE may drop a parameter that was already created; PostgreSQL cannot
   * type an unreferenced parameter, so the unused ones are removed and the rest renumbered.
   */
  finish(sql: string): SqlFragment {
    const placeholder = /\$(\d+)::text/g;
    const used = new Set<number>();
    for (const match of sql.matchAll(placeholder)) used.add(Number(match[1]) - this.offset);
    const renumbered = new Map<number, number>();
    const params: string[] = [];
    this.params.forEach((value, i) => {
      if (!used.has(i + 1)) return;
      params.push(value);
      renumbered.set(i + 1, this.offset + params.length);
    });
    return {
      sql: sql.replace(placeholder, (_text, n: string) => `$${renumbered.get(Number(n) - this.offset)}::text`),
      params,
    };
  }

  // ---- operands ----

  private operand(operand: Operand): SqlOperand {
    if (!hasField(operand)) {
      return { kind: 'const', value: compileOperand(operand)({}, this.env) };
    }
    if (operand.kind === 'field') return this.field(operand);
    if (operand.kind === 'literal') throw new Error('unreachable: literals have no fields');
    const args = operand.args.map((arg) => this.operand(arg));
    const [first, second] = args;
    switch (operand.name) {
      case 'lowercase':
      case 'uppercase': {
        if (first!.kind !== 'json') return { kind: 'const', value: MISSING };
        const fn = operand.name === 'lowercase' ? 'lower' : 'upper';
        return {
          kind: 'json',
          sql: `(CASE WHEN jsonb_typeof(${first!.sql}) = 'string' THEN to_jsonb(${fn}(${first!.sql} #>> '{}')) END)`,
        };
      }
      case 'datetime':
        return this.instant(first!, 'UTC');
      case 'datetime.from_timestamp':
        return first!.kind === 'json'
          ? { kind: 'instant', sql: this.fromTimestamp(first!.sql) }
          : { kind: 'const', value: MISSING };
      case 'datetime.offset': {
        const ms = second!.kind === 'const' ? offsetMilliseconds(second!.value) : undefined;
        if (second!.kind !== 'const') throw this.notCompilable('an offset read from a field', operand.position);
        if (ms === undefined) return { kind: 'const', value: MISSING };
        const base = this.instant(first!, 'UTC');
        if (base.kind !== 'instant') return base;
        return { kind: 'instant', sql: `(${base.sql} + ${this.param(`${ms} milliseconds`, 'interval')})` };
      }
      case 'datetime.timezone': {
        if (second!.kind !== 'const') throw this.notCompilable('a time zone read from a field', operand.position);
        const zone = second!.value;
        if (typeof zone !== 'string' || !isKnownTimeZone(zone)) return { kind: 'const', value: MISSING };
        return this.instant(first!, zone);
      }
      default:
        throw this.notCompilable(`${operand.name}() with a field argument`, operand.position);
    }
  }

  private field(field: FieldNode): SqlOperand {
    const mapping = this.mapping[field.source as SqlSource];
    if (!mapping) {
      throw this.notCompilable(
        `${field.source}@ fields (only ${Object.keys(this.mapping).join('@, ')}@ live in tables)`,
        field.position,
      );
    }
    let node: MappingNode = mappingTree(mapping);
    for (let depth = 0; depth < field.path.length; depth++) {
      const key = field.path[depth]!;
      const child = node.children.get(key);
      if (child) {
        node = child;
        continue;
      }
      const rest = field.path.slice(depth);
      if (node.column?.type === 'jsonb') {
        // A NULL column and a JSON null both have nothing below them, so the bare column will do.
        const base =
          node.children.size === 0 ? `${mapping.alias}.${node.column.column}` : this.objectBase(mapping.alias, node);
        return { kind: 'json', sql: `(${base} #> ${this.pathParam(rest)})` };
      }
      if (node.column) return { kind: 'json', sql: `(${this.leaf(mapping.alias, node)} #> ${this.pathParam(rest)})` };
      return { kind: 'json', sql: 'NULL::jsonb' };
    }
    const column = node.column;
    return {
      kind: 'json',
      sql: this.document(mapping.alias, node),
      ...(column?.type === 'timestamptz' && node.children.size === 0
        ? { timestampColumn: `${mapping.alias}.${column.column}` }
        : {}),
    };
  }

  /** The JSON a mapping node stands for: a column value, or an object of its children. */
  private document(alias: string, node: MappingNode): string {
    if (node.children.size === 0) return this.leaf(alias, node);
    const pairs = [...node.children].map(([key, child]) => `${sqlString(key)}, ${this.document(alias, child)}`);
    const built = `jsonb_build_object(${pairs.join(', ')})`;
    return node.column ? `(COALESCE(${this.objectBase(alias, node)}, '{}'::jsonb) || ${built})` : built;
  }

  /** A jsonb column with columns nested under it contributes its keys only when it is an object. */
  private objectBase(alias: string, node: MappingNode): string {
    const column = `${alias}.${node.column!.column}`;
    return `(CASE WHEN jsonb_typeof(${column}) = 'object' THEN ${column} END)`;
  }

  /** A column as JSON, with SQL NULL shown as JSON null (the key exists in the document). */
  private leaf(alias: string, node: MappingNode): string {
    const { column, type } = node.column!;
    const ref = `${alias}.${column}`;
    const json =
      type === 'jsonb'
        ? ref
        : type === 'timestamptz'
          ? `to_jsonb(to_char(${ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`
          : `to_jsonb(${ref})`;
    return `COALESCE(${json}, 'null'::jsonb)`;
  }

  /** datetime(x) in SQL: a timestamptz column as is, a JSON string parsed under a guard, a number as a Unix time. */
  private instant(value: SqlOperand, zone: string): SqlOperand {
    if (value.kind === 'instant') return value;
    if (value.kind === 'const') {
      const parsed = FUNCTIONS['datetime.timezone']([value.value, zone], this.env, 'datetime');
      return { kind: 'const', value: parsed };
    }
    if (value.timestampColumn) return { kind: 'instant', sql: value.timestampColumn };
    const text = `(${value.sql} #>> '{}')`;
    return {
      kind: 'instant',
      sql: `(CASE jsonb_typeof(${value.sql}) WHEN 'string' THEN ${this.parseTimestamp(text, zone)} WHEN 'number' THEN ${this.fromTimestamp(value.sql)} END)`,
    };
  }

  /** Casts only text the evaluator's parser accepts, so PostgreSQL never raises a cast error. */
  private parseTimestamp(text: string, zone: string): string {
    const year = `substr(${text}, 1, 4)::int`;
    const month = `substr(${text}, 6, 2)::int`;
    const lastDay = `extract(day from make_date(${year}, ${month}, 1) + interval '1 month' - interval '1 day')`;
    const naive =
      zone === 'UTC'
        ? `(${text}::timestamp AT TIME ZONE 'UTC')`
        : `(${text}::timestamp AT TIME ZONE ${this.param(zone, 'text')})`;
    return (
      `(CASE WHEN ${text} ~ ${sqlString(ISO_DATETIME_PATTERN)} THEN CASE WHEN substr(${text}, 9, 2)::int <= ${lastDay} THEN ` +
      `CASE WHEN ${text} ~ ${sqlString(OFFSET_PATTERN)} THEN ${text}::timestamptz ELSE ${naive} END END END)`
    );
  }

  private fromTimestamp(json: string): string {
    return (
      `(CASE WHEN jsonb_typeof(${json}) = 'number' THEN CASE WHEN abs((${json})::numeric) < ${MAX_TIMESTAMP_SECONDS} ` +
      `THEN to_timestamp((${json})::float8) END END)`
    );
  }

  /** Constants become parameters; a JSON constant as jsonb, a date-time as timestamptz. */
  private materialise(value: SqlOperand): Exclude<SqlOperand, { kind: 'const' }> {
    if (value.kind !== 'const') return value;
    if (value.value === MISSING) return { kind: 'json', sql: 'NULL::jsonb' };
    if (value.value instanceof Instant)
      return { kind: 'instant', sql: this.param(value.value.toIsoString(), 'timestamptz') };
    return { kind: 'json', sql: this.param(this.jsonText(value.value), 'jsonb') };
  }

  private asJson(value: SqlOperand): string {
    const materialised = this.materialise(value);
    return materialised.kind === 'json' ? materialised.sql : 'NULL::jsonb';
  }

  // ---- predicates ----

  private equals(left: SqlOperand, right: SqlOperand): string {
    // A date-time never equals JSON; decided before any parameter is created.
    if (sqlKind(left) !== sqlKind(right)) return 'FALSE';
    const a = this.materialise(left);
    if (right.kind === 'const' && right.value !== MISSING && !(right.value instanceof Instant) && a.kind === 'json') {
      return this.equalsConstant(a.sql, right.value);
    }
    const b = this.materialise(right);
    if (a.kind === 'instant' || b.kind === 'instant') return `COALESCE(${a.sql} = ${b.sql}, false)`;
    const membership = `EXISTS (SELECT 1 FROM jsonb_array_elements(${b.sql}) AS m(item) WHERE ${scalarEquals(a.sql, 'm.item')})`;
    return `COALESCE(CASE WHEN jsonb_typeof(${b.sql}) = 'array' THEN ${membership} ELSE ${scalarEquals(a.sql, b.sql)} END, false)`;
  }

  private equalsConstant(json: string, value: Exclude<RuntimeValue, Instant | typeof MISSING>): string {
    if (Array.isArray(value)) {
      const list = this.param(this.jsonText(value), 'jsonb');
      return `COALESCE(EXISTS (SELECT 1 FROM jsonb_array_elements(${list}) AS m(item) WHERE ${scalarEquals(json, 'm.item')}), false)`;
    }
    if (typeof value === 'number' || typeof value === 'boolean') {
      return `COALESCE(CASE WHEN jsonb_typeof(${json}) IN ${NUMERIC_TYPES} THEN ${numeric(json)} = ${this.numberParam(value)} ELSE false END, false)`;
    }
    return `COALESCE(${json} = ${this.param(this.jsonText(value), 'jsonb')}, false)`;
  }

  private order(left: SqlOperand, operator: '>' | '>=' | '<' | '<=', right: SqlOperand): string {
    if (sqlKind(left) !== sqlKind(right)) return 'FALSE';
    const a = this.materialise(left);
    const b =
      right.kind === 'const' && right.value !== MISSING && !(right.value instanceof Instant)
        ? right
        : this.materialise(right);
    if (a.kind === 'instant' || b.kind === 'instant')
      return `COALESCE(${a.sql} ${operator} ${(b as { sql: string }).sql}, false)`;
    if (b.kind === 'const') {
      const value = b.value;
      if (typeof value === 'number' || typeof value === 'boolean') {
        return `COALESCE(CASE WHEN jsonb_typeof(${a.sql}) IN ${NUMERIC_TYPES} THEN ${numeric(a.sql)} ${operator} ${this.numberParam(value)} ELSE false END, false)`;
      }
      if (typeof value === 'string') {
        return `COALESCE(CASE WHEN jsonb_typeof(${a.sql}) = 'string' THEN ${collated(`(${a.sql} #>> '{}')`)} ${operator} ${collated(this.param(this.checkedText(value), 'text'))} ELSE false END, false)`;
      }
      return 'FALSE';
    }
    return (
      `COALESCE(CASE WHEN jsonb_typeof(${a.sql}) IN ${NUMERIC_TYPES} AND jsonb_typeof(${b.sql}) IN ${NUMERIC_TYPES} ` +
      `THEN ${numeric(a.sql)} ${operator} ${numeric(b.sql)} ` +
      `WHEN jsonb_typeof(${a.sql}) = 'string' AND jsonb_typeof(${b.sql}) = 'string' ` +
      `THEN ${collated(`(${a.sql} #>> '{}')`)} ${operator} ${collated(`(${b.sql} #>> '{}')`)} ELSE false END, false)`
    );
  }

  private nullTest(value: SqlOperand, isNull: boolean): string {
    if (sqlKind(value) === 'instant') {
      if (isNull) return 'FALSE';
      return value.kind === 'const' ? 'TRUE' : `(${(value as { sql: string }).sql} IS NOT NULL)`;
    }
    const materialised = this.materialise(value);
    return `COALESCE(${materialised.sql} ${isNull ? '=' : '<>'} 'null'::jsonb, false)`;
  }

  private textOperator(kind: 'contains' | 'startsWith' | 'endsWith', subject: SqlOperand, value: SqlOperand): string {
    if (sqlKind(subject) !== 'json' || sqlKind(value) !== 'json') return 'FALSE';
    const a = this.materialise(subject);
    const b = this.materialise(value);
    if (a.kind !== 'json' || b.kind !== 'json') return 'FALSE';
    const text = `(${a.sql} #>> '{}')`;
    const needle = `(${b.sql} #>> '{}')`;
    let onString: string;
    let onList: string;
    if (kind === 'contains') {
      onString = `strpos(${text}, ${needle}) > 0`;
      onList = `EXISTS (SELECT 1 FROM jsonb_array_elements(${a.sql}) AS m(item) WHERE ${scalarEquals('m.item', b.sql)})`;
    } else {
      const cut = kind === 'startsWith' ? 'left' : 'right';
      onString = `${cut}(${text}, char_length(${needle})) = ${needle}`;
      const edge = kind === 'startsWith' ? `(${a.sql} -> 0)` : `(${a.sql} -> -1)`;
      onList = `CASE WHEN jsonb_array_length(${a.sql}) > 0 THEN ${scalarEquals(edge, b.sql)} ELSE false END`;
    }
    return (
      `COALESCE(CASE jsonb_typeof(${a.sql}) ` +
      `WHEN 'string' THEN CASE WHEN jsonb_typeof(${b.sql}) = 'string' THEN ${onString} ELSE false END ` +
      `WHEN 'array' THEN ${onList} ELSE false END, false)`
    );
  }

  // ---- parameters ----

  private param(value: string, cast: string): string {
    this.params.push(this.checkedText(value));
    // Typed as text first, so drivers (postgres.js, PGlite) send the string untouched.
    const placeholder = `$${this.offset + this.params.length}::text`;
    return cast === 'text' ? placeholder : `${placeholder}::${cast}`;
  }

  private numberParam(value: number | boolean): string {
    return this.param(String(Number(value)), 'numeric');
  }

  private pathParam(path: readonly string[]): string {
    const elements = path.map((key) => `"${key.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
    return this.param(`{${elements.join(',')}}`, 'text[]');
  }

  private jsonText(value: unknown): string {
    const problem = unstorableIn(value);
    if (problem) throw this.notCompilable(problem);
    return JSON.stringify(value);
  }

  /** PostgreSQL text cannot hold such a value, so it cannot be sent at all. */
  private checkedText(text: string): string {
    const problem = unstorableIn(text);
    if (problem) throw this.notCompilable(problem);
    return text;
  }

  private notCompilable(what: string, position?: number): ConditionNotCompilableError {
    return new ConditionNotCompilableError(`Cannot compile to SQL: ${what}`, position);
  }
}

/** Whether an operand is a date-time or JSON in SQL, known before any parameter is created. */
function sqlKind(operand: SqlOperand): 'json' | 'instant' {
  if (operand.kind === 'const') return operand.value instanceof Instant ? 'instant' : 'json';
  return operand.kind;
}

/** What PostgreSQL text and JSON refuse: NUL, and half a surrogate pair (no character at all). */
function unstorableIn(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.map(unstorableIn).find((problem) => problem !== undefined);
  if (typeof value !== 'string') return undefined;
  if (value.includes('\u0000')) return 'a value containing a NUL character';
  if (UNPAIRED_SURROGATE.test(value)) return 'a value containing an unpaired surrogate';
  return undefined;
}

function conditionHasField(condition: Condition): boolean {
  let found = false;
  forEachField(condition, () => (found = true));
  return found;
}

function hasField(operand: Operand): boolean {
  return operand.kind === 'field' || (operand.kind === 'call' && operand.args.some(hasField));
}

/** Python-style equality of two JSON values: numbers and booleans numerically, the rest structurally. */
function scalarEquals(a: string, b: string): string {
  return (
    `(CASE WHEN jsonb_typeof(${a}) IN ${NUMERIC_TYPES} AND jsonb_typeof(${b}) IN ${NUMERIC_TYPES} ` +
    `THEN ${numeric(a)} = ${numeric(b)} ELSE ${a} = ${b} END)`
  );
}

/** Only used under a type guard: a JSON number, or a boolean as 1/0. */
function numeric(json: string): string {
  return `(CASE WHEN jsonb_typeof(${json}) = 'boolean' THEN (CASE WHEN (${json})::boolean THEN 1 ELSE 0 END)::numeric ELSE (${json})::numeric END)`;
}

function collated(text: string): string {
  return `(${text} COLLATE "C")`;
}
