/** Splits condition text into tokens; every token keeps its start offset for error messages. */
import { SOURCES, type SourceName } from './ast.js';
import { ConditionSyntaxError } from './errors.js';
import { readBracket, readQuoted } from './path.js';

export type Token =
  | { kind: 'field'; source: SourceName; path: string[]; position: number }
  | { kind: 'word'; text: string; position: number }
  | { kind: 'number'; value: number; position: number }
  | { kind: 'string'; value: string; position: number }
  | { kind: 'operator'; text: string; position: number }
  | { kind: 'punctuation'; text: '(' | ')' | '[' | ']' | ','; position: number }
  | { kind: 'end'; position: number };

/** Inputs longer than this are refused before any work is done. */
export const MAX_CONDITION_LENGTH = 16_384;

/** Duration literals (`10m`) are numbers of seconds. */
const DURATION_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

const KEY_CHAR = /[\p{L}\p{N}_$-]/u;
const WORD_START = /[A-Za-z_]/;
const WORD_CHAR = /[A-Za-z0-9_]/;
const isDigit = (char: string | undefined): boolean => char !== undefined && char >= '0' && char <= '9';
const OPERATORS = ['==', '!=', '>=', '=>', '<=', '=<', '=', '>', '<'];
const SOURCE_NAMES: ReadonlySet<string> = new Set(SOURCES);

export function tokenize(text: string): Token[] {
  if (text.length > MAX_CONDITION_LENGTH) {
    throw new ConditionSyntaxError(`Condition is longer than ${MAX_CONDITION_LENGTH} characters`, MAX_CONDITION_LENGTH);
  }
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    if (/\s/.test(char)) {
      i++;
      continue;
    }
    const start = i;
    if (char === '(' || char === ')' || char === '[' || char === ']' || char === ',') {
      tokens.push({ kind: 'punctuation', text: char, position: start });
      i++;
    } else if (char === '"' || char === "'") {
      const quoted = readQuoted(text, i);
      if (!quoted) throw new ConditionSyntaxError('Unterminated or malformed string', start, ['closing quote']);
      refuseUnpairedSurrogate(quoted.value, start);
      tokens.push({ kind: 'string', value: quoted.value, position: start });
      i = quoted.end;
    } else if (isDigit(char) || ((char === '-' || char === '.') && startsNumber(text, i))) {
      i = readNumber(text, i, tokens);
    } else if (WORD_START.test(char)) {
      i = readWordOrField(text, i, tokens);
    } else {
      const operator = OPERATORS.find((op) => text.startsWith(op, i));
      if (!operator || text.startsWith('<>', i)) {
        throw new ConditionSyntaxError(`Unexpected character ${JSON.stringify(char)}`, start, [
          'a field such as profile@traits.age',
          'an operator',
          'a value',
        ]);
      }
      tokens.push({ kind: 'operator', text: operator, position: start });
      i += operator.length;
    }
  }
  tokens.push({ kind: 'end', position: text.length });
  return tokens;
}

/** In Unicode mode a surrogate code unit only matches when it is not half of a pair. */
export const UNPAIRED_SURROGATE = /\p{Surrogate}/u;

/**
 * Half a surrogate pair (raw, or written `\ud800`) is no character: PostgreSQL refuses it in text and
 * JSON, so a condition holding one could be saved but never run.
 */
function refuseUnpairedSurrogate(value: string, position: number): void {
  const found = UNPAIRED_SURROGATE.exec(value);
  if (!found) return;
  const code = found[0].charCodeAt(0).toString(16).padStart(4, '0');
  throw new ConditionSyntaxError(`String holds an unpaired surrogate (\\u${code})`, position, [
    'a string of whole Unicode characters',
  ]);
}

function startsNumber(text: string, i: number): boolean {
  if (text[i] === '-') i++;
  if (text[i] === '.') i++;
  return isDigit(text[i]);
}

function readNumber(text: string, start: number, tokens: Token[]): number {
  let i = start;
  if (text[i] === '-') i++;
  while (isDigit(text[i])) i++;
  if (text[i] === '.') {
    i++;
    while (isDigit(text[i])) i++;
  }
  if (
    (text[i] === 'e' || text[i] === 'E') &&
    (isDigit(text[i + 1]) || (/[+-]/.test(text[i + 1] ?? '') && isDigit(text[i + 2])))
  ) {
    i += 2;
    while (isDigit(text[i])) i++;
  }
  let value = Number(text.slice(start, i));
  const unit = text[i];
  if (unit !== undefined && unit in DURATION_SECONDS && !WORD_CHAR.test(text[i + 1] ?? '')) {
    value *= DURATION_SECONDS[unit]!;
    i++;
  }
  if (WORD_CHAR.test(text[i] ?? '') || !Number.isFinite(value)) {
    throw new ConditionSyntaxError('Malformed number', start, [
      'a number such as 3, -1.5 or .5',
      'a duration such as 10m',
    ]);
  }
  tokens.push({ kind: 'number', value, position: start });
  return i;
}

function readWordOrField(text: string, start: number, tokens: Token[]): number {
  let i = start;
  for (;;) {
    while (WORD_CHAR.test(text[i] ?? '')) i++;
    if (text[i] === '.' && WORD_START.test(text[i + 1] ?? '')) i++;
    else break;
  }
  const word = text.slice(start, i);
  if (text[i] !== '@') {
    tokens.push({ kind: 'word', text: word, position: start });
    return i;
  }
  if (!SOURCE_NAMES.has(word)) {
    throw new ConditionSyntaxError(
      `Unknown source ${JSON.stringify(word)}`,
      start,
      [...SOURCES].map((s) => `${s}@`),
    );
  }
  const { path, end } = readFieldPath(text, i + 1);
  tokens.push({ kind: 'field', source: word as SourceName, path, position: start });
  return end;
}

/** Reads `a.b["c d"].0` after the `@`; an empty path (`profile@`) is the whole object. */
function readFieldPath(text: string, start: number): { path: string[]; end: number } {
  const path: string[] = [];
  let i = start;
  let expectKey = false;
  for (;;) {
    const char = text[i];
    if (char !== undefined && KEY_CHAR.test(char)) {
      let key = '';
      while (i < text.length && KEY_CHAR.test(text[i]!)) key += text[i++];
      path.push(key);
    } else if (char === '[') {
      const bracket = readBracket(text, i);
      if (!bracket) throw new ConditionSyntaxError('Malformed [..] path segment', i, ['["key"]', '[index]']);
      refuseUnpairedSurrogate(bracket.key, i);
      path.push(bracket.key);
      i = bracket.end;
    } else if (expectKey || (char === '.' && path.length === 0)) {
      throw new ConditionSyntaxError('Expected a key in the field path', i, ['a key', '["quoted key"]']);
    } else {
      return { path, end: i };
    }
    expectKey = false;
    if (text[i] === '.') {
      i++;
      expectKey = true;
    }
  }
}
