/**
 * Recursive-descent parser. Precedence, loosest first: OR, AND, prefix NOT, predicate. Tracardi
 * refuses `a AND b OR c`; here AND simply binds tighter, as in SQL.
 */
import {
  FUNCTION_ARITY,
  type ComparisonOperator,
  type Condition,
  type FieldNode,
  type FunctionName,
  type JsonValue,
  type LiteralNode,
  type Operand,
} from './ast.js';
import { ConditionSyntaxError } from './errors.js';
import { tokenize, type Token } from './lexer.js';

/** Deeper nesting (parentheses, NOT, lists, function calls) is refused rather than risking the stack. */
export const MAX_NESTING_DEPTH = 64;

const COMPARISON: Record<string, ComparisonOperator> = {
  '==': '==',
  '=': '==',
  '!=': '!=',
  '>': '>',
  '>=': '>=',
  '=>': '>=',
  '<': '<',
  '<=': '<=',
  '=<': '<=',
};

const PREDICATE_EXPECTED = [
  'a comparison (==, !=, >, >=, <, <=)',
  'BETWEEN',
  'IS [NOT] NULL',
  '[NOT] EXISTS',
  '[NOT] EMPTY',
  '[NOT] IN',
  'CONTAINS',
  'STARTS WITH',
  'ENDS WITH',
];
const OPERAND_EXPECTED = ['a field such as profile@traits.age', 'a value', 'a function such as now()'];

export function parseCondition(text: string): Condition {
  return new Parser(tokenize(text)).parseAll();
}

class Parser {
  private index = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parseAll(): Condition {
    const condition = this.parseOr();
    const next = this.peek();
    if (next.kind !== 'end') this.fail('Unexpected input after the condition', next, ['AND', 'OR', 'end of input']);
    return condition;
  }

  private parseOr(): Condition {
    const operands = [this.parseAnd()];
    while (this.acceptKeyword('or')) operands.push(this.parseAnd());
    return operands.length === 1 ? operands[0]! : { kind: 'or', operands };
  }

  private parseAnd(): Condition {
    const operands = [this.parseUnary()];
    while (this.acceptKeyword('and')) operands.push(this.parseUnary());
    return operands.length === 1 ? operands[0]! : { kind: 'and', operands };
  }

  private parseUnary(): Condition {
    return this.nested(() => {
      if (this.acceptKeyword('not')) return { kind: 'not', operand: this.parseUnary() };
      if (this.acceptPunctuation('(')) {
        const inner = this.parseOr();
        this.expectPunctuation(')');
        return inner;
      }
      return this.parsePredicate();
    });
  }

  private parsePredicate(): Condition {
    const operand = this.parseOperand();
    const token = this.peek();
    if (token.kind === 'operator') {
      this.index++;
      return { kind: 'compare', op: COMPARISON[token.text]!, left: operand, right: this.parseOperand() };
    }
    if (this.acceptKeyword('between')) {
      const low = this.parseOperand();
      this.expectKeyword('and');
      return { kind: 'between', operand, low, high: this.parseOperand() };
    }
    if (this.acceptKeyword('is')) {
      const negated = this.acceptKeyword('not');
      this.expectKeyword('null');
      return { kind: negated ? 'isNotNull' : 'isNull', operand };
    }
    const negated = this.acceptKeyword('not');
    const positive = this.parsePositivePredicate(operand, negated);
    return negated ? { kind: 'not', operand: positive } : positive;
  }

  private parsePositivePredicate(operand: Operand, negated: boolean): Condition {
    const token = this.peek();
    if (this.acceptKeyword('exists')) {
      if (operand.kind !== 'field') this.fail('EXISTS applies to a field', token, ['a field before EXISTS']);
      return { kind: 'exists', field: operand as FieldNode };
    }
    if (this.acceptKeyword('empty')) return { kind: 'empty', operand };
    if (this.acceptKeyword('in')) {
      const list = this.parseOperand();
      if (list.kind !== 'literal' || !Array.isArray(list.value)) this.fail('IN needs a list', token, ['[value, ...]']);
      return { kind: 'in', operand, list: list as LiteralNode };
    }
    if (this.acceptKeyword('contains')) return { kind: 'contains', operand, value: this.parseOperand() };
    if (this.acceptKeyword('starts')) {
      this.expectKeyword('with');
      return { kind: 'startsWith', operand, value: this.parseOperand() };
    }
    if (this.acceptKeyword('ends')) {
      this.expectKeyword('with');
      return { kind: 'endsWith', operand, value: this.parseOperand() };
    }
    return this.fail(
      negated ? 'Expected a predicate after NOT' : 'Expected an operator',
      token,
      negated ? ['EXISTS', 'EMPTY', 'IN', 'CONTAINS', 'STARTS WITH', 'ENDS WITH'] : PREDICATE_EXPECTED,
    );
  }

  private parseOperand(): Operand {
    const token = this.peek();
    switch (token.kind) {
      case 'field':
        this.index++;
        return { kind: 'field', source: token.source, path: token.path, position: token.position };
      case 'number':
      case 'string':
        this.index++;
        return { kind: 'literal', value: token.value, position: token.position };
      case 'punctuation':
        if (token.text === '[') return { kind: 'literal', value: this.parseList(), position: token.position };
        break;
      case 'word': {
        const constant = CONSTANTS.get(token.text.toLowerCase());
        if (constant !== undefined) {
          this.index++;
          return { kind: 'literal', value: constant.value, position: token.position };
        }
        if (this.peek(1).kind === 'punctuation' && (this.peek(1) as { text: string }).text === '(') {
          return this.parseCall(token);
        }
        this.fail(`Unknown word ${JSON.stringify(token.text)} (strings must be quoted)`, token, OPERAND_EXPECTED);
      }
    }
    return this.fail('Expected a field, value or function', token, OPERAND_EXPECTED);
  }

  private parseCall(nameToken: Extract<Token, { kind: 'word' }>): Operand {
    const name = nameToken.text.toLowerCase();
    if (!Object.hasOwn(FUNCTION_ARITY, name)) {
      this.fail(
        `Unknown function ${JSON.stringify(nameToken.text)}`,
        nameToken,
        Object.keys(FUNCTION_ARITY).map((f) => `${f}()`),
      );
    }
    const [min, max] = FUNCTION_ARITY[name as FunctionName];
    this.index += 2;
    const args = this.nested(() => {
      const list: Operand[] = [];
      if (this.acceptPunctuation(')')) return list;
      do list.push(this.parseOperand());
      while (this.acceptPunctuation(','));
      this.expectPunctuation(')');
      return list;
    });
    if (args.length < min || args.length > max) {
      const count = min === max ? `${min}` : `${min} to ${max}`;
      this.fail(`${name}() takes ${count} argument(s), got ${args.length}`, nameToken, [`${count} argument(s)`]);
    }
    return { kind: 'call', name: name as FunctionName, args, position: nameToken.position };
  }

  private parseList(): JsonValue[] {
    this.index++;
    return this.nested(() => {
      const items: JsonValue[] = [];
      if (this.acceptPunctuation(']')) return items;
      do {
        const item = this.parseOperand();
        if (item.kind !== 'literal') this.fail('List items must be values', this.tokens[this.index - 1]!, ['a value']);
        items.push((item as LiteralNode).value);
      } while (this.acceptPunctuation(','));
      this.expectPunctuation(']');
      return items;
    });
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_NESTING_DEPTH) {
      this.fail(`Nesting deeper than ${MAX_NESTING_DEPTH} levels`, this.peek(), ['a flatter condition']);
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.index + ahead, this.tokens.length - 1)]!;
  }

  private acceptKeyword(keyword: string): boolean {
    const token = this.peek();
    if (token.kind === 'word' && token.text.toLowerCase() === keyword) {
      this.index++;
      return true;
    }
    return false;
  }

  private expectKeyword(keyword: string): void {
    if (!this.acceptKeyword(keyword))
      this.fail(`Expected ${keyword.toUpperCase()}`, this.peek(), [keyword.toUpperCase()]);
  }

  private acceptPunctuation(text: string): boolean {
    const token = this.peek();
    if (token.kind === 'punctuation' && token.text === text) {
      this.index++;
      return true;
    }
    return false;
  }

  private expectPunctuation(text: string): void {
    if (!this.acceptPunctuation(text)) this.fail(`Expected "${text}"`, this.peek(), [`"${text}"`]);
  }

  private fail(reason: string, token: Token, expected: readonly string[]): never {
    const found = token.kind === 'end' ? 'end of input' : describeToken(token);
    throw new ConditionSyntaxError(`${reason}; found ${found}`, token.position, expected);
  }
}

const CONSTANTS = new Map<string, { value: JsonValue }>([
  ['true', { value: true }],
  ['false', { value: false }],
  ['null', { value: null }],
]);

function describeToken(token: Token): string {
  switch (token.kind) {
    case 'word':
    case 'operator':
    case 'punctuation':
      return JSON.stringify(token.text);
    case 'number':
      return `number ${token.value}`;
    case 'string':
      return `string ${JSON.stringify(token.value).slice(0, 40)}`;
    case 'field':
      return `field ${token.source}@`;
    case 'end':
      return 'end of input';
  }
}
