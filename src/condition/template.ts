/**
 * Templates over dot notation: string templates (`Hello {{profile@traits.name}}`) and object
 * templates, whose string leaves that are dot paths are replaced by the values they point to.
 */
import { readDotPath, readDotPathOr, type DotContext } from './dot.js';
import { isEmptyValue, MISSING } from './values.js';

const OPEN = '{{';
const CLOSE = '}}';

export interface StringTemplateOptions {
  /** What a missing path renders as; defaults to the empty string. */
  missing?: string;
}

/** Replaces every `{{source@path}}`; objects and lists render as JSON, null as the empty string. */
export function renderStringTemplate(
  template: string,
  context: DotContext,
  options: StringTemplateOptions = {},
): string {
  let output = '';
  let cursor = 0;
  for (;;) {
    const open = template.indexOf(OPEN, cursor);
    const close = open < 0 ? -1 : template.indexOf(CLOSE, open + OPEN.length);
    if (close < 0) return output + template.slice(cursor);
    output += template.slice(cursor, open);
    const path = template.slice(open + OPEN.length, close).trim();
    const value = readDotPathOr(context, path, MISSING);
    output += value === MISSING ? (options.missing ?? '') : formatTemplateValue(value);
    cursor = close + CLOSE.length;
  }
}

function formatTemplateValue(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export interface ObjectTemplateOptions {
  /** Used for a missing (non-optional) path; without it a missing path throws DotPathError. */
  default?: unknown;
  /** When false, null values are left out of lists and objects. Defaults to true. */
  includeNone?: boolean;
}

/**
 * Fills an object template. A key ending in `?` is optional: its `?` is dropped from the output and
 * the key is left out when its value is missing or empty; paths missing inside it are dropped too.
 * A backslash in a key escapes the next character (write `\?` for a key that really ends in `?`).
 */
export function renderObjectTemplate(
  template: unknown,
  context: DotContext,
  options: ObjectTemplateOptions = {},
): unknown {
  const value = fill(template, context, options, false);
  return value === MISSING ? null : value;
}

function fill(node: unknown, context: DotContext, options: ObjectTemplateOptions, optional: boolean): unknown {
  if (typeof node === 'string') {
    if (optional || 'default' in options) {
      const value = readDotPathOr(context, node, MISSING);
      return value === MISSING && !optional ? options.default : value;
    }
    return readDotPath(context, node);
  }
  if (Array.isArray(node)) {
    const items: unknown[] = [];
    for (const item of node) {
      const value = fill(item, context, options, optional);
      if (value !== MISSING && !(value === null && options.includeNone === false)) items.push(value);
    }
    return items;
  }
  if (node === null || typeof node !== 'object') return node;
  const output: Record<string, unknown> = {};
  for (const [rawKey, child] of Object.entries(node)) {
    const { key, optional: keyOptional } = parseTemplateKey(rawKey);
    const value = fill(child, context, options, optional || keyOptional);
    if (value === MISSING || (keyOptional && isEmptyValue(value))) continue;
    if (value === null && options.includeNone === false) continue;
    // defineProperty, so that a "__proto__" key stays data instead of replacing the prototype.
    Object.defineProperty(output, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return output;
}

/** Strips the optional marker and unescapes backslashes. */
export function parseTemplateKey(rawKey: string): { key: string; optional: boolean } {
  let key = '';
  let optional = false;
  for (let i = 0; i < rawKey.length; i++) {
    const char = rawKey[i]!;
    if (char === '\\' && i + 1 < rawKey.length) {
      key += rawKey[++i];
    } else if (char === '?' && i === rawKey.length - 1) {
      optional = true;
    } else {
      key += char;
    }
  }
  return { key, optional };
}
