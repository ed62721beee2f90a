/**
 * Dot notation: `profile@traits.name`, `event@properties["a b"].0`, `session@...` (the whole object).
 * One reader/writer for conditions, mappings, templates and workflow actions. Text that is not a dot
 * path reads as itself; a path in backticks (`` `event@x` ``) casts a string result to a boolean, null
 * or number, as Tracardi's dot accessor does.
 */
import { SOURCES, type SourceName } from './ast.js';
import { FORBIDDEN_KEYS, listIndexOf, readPath, splitDotPath } from './path.js';
import { MISSING } from './values.js';

export type DotContext = Partial<Record<SourceName, unknown>>;

export interface DotPath {
  source: SourceName;
  path: string[];
}

/** A path that could not be read or written; `path` is the dot notation as given. */
export class DotPathError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'DotPathError';
  }
}

const SOURCE_NAMES: ReadonlySet<string> = new Set(SOURCES);

export function parseDotPath(text: string): DotPath | undefined {
  const at = text.indexOf('@');
  if (at <= 0) return undefined;
  const source = text.slice(0, at);
  if (!SOURCE_NAMES.has(source)) return undefined;
  const path = splitDotPath(text.slice(at + 1));
  return path ? { source: source as SourceName, path } : undefined;
}

/** Whether the text is a dot path into a known source (as opposed to a literal string). */
export function isDotPath(text: string): boolean {
  return parseDotPath(text) !== undefined;
}

/** Whether the text is a backtick-quoted value or path whose string result is cast. */
function castTarget(text: string): string | undefined {
  return text.length >= 2 && text.startsWith('`') && text.endsWith('`') ? text.slice(1, -1) : undefined;
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/;

/** Casts "true"/"false"/"null"/"none" (any case) and numeric text; anything else is unchanged. */
export function castString(text: string): unknown {
  const lower = text.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (lower === 'null' || lower === 'none') return null;
  if (INTEGER.test(text) || DECIMAL.test(text)) return Number(text);
  return text;
}

/** Reads a source@path; a missing value comes back as MISSING instead of throwing. */
export function lookup(context: DotContext, path: DotPath): unknown {
  return readPath(context[path.source] ?? {}, path.path);
}

/**
 * Resolves text the way Tracardi's dot accessor does: a dot path is read (throwing DotPathError when
 * missing), backticks cast, any other text is returned as is.
 */
export function readDotPath(context: DotContext, text: string): unknown {
  const value = readOrMissing(context, text);
  if (value === MISSING) throw new DotPathError(text, `${castTarget(text) ?? text} does not exist`);
  return value;
}

/** Like readDotPath, but a missing path yields `fallback` instead of throwing. */
export function readDotPathOr<T>(context: DotContext, text: string, fallback: T): unknown {
  // Without an exception: flows read missing fields (a counter's first increment) on the hot path.
  const value = readOrMissing(context, text);
  return value === MISSING ? fallback : value;
}

function readOrMissing(context: DotContext, text: string): unknown {
  const castInner = castTarget(text);
  const target = castInner ?? text;
  const parsed = parseDotPath(target);
  let value: unknown = target;
  if (parsed) {
    value = lookup(context, parsed);
    if (value === MISSING) return MISSING;
  }
  return castInner !== undefined && typeof value === 'string' ? castString(value) : value;
}

function requirePath(text: string): DotPath {
  const parsed = parseDotPath(text);
  if (!parsed) throw new DotPathError(text, `${JSON.stringify(text)} is not a dot path (source@path)`);
  for (const key of parsed.path) {
    if (FORBIDDEN_KEYS.has(key)) throw new DotPathError(text, `Key ${JSON.stringify(key)} is not allowed`);
  }
  return parsed;
}

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return value !== null && typeof value === 'object';
}

function childOf(container: Container, key: string): unknown {
  if (Array.isArray(container)) {
    const index = listIndexOf(key);
    return index === undefined ? undefined : container[index < 0 ? container.length + index : index];
  }
  return Object.hasOwn(container, key) ? container[key] : undefined;
}

function setChild(text: string, container: Container, key: string, value: unknown): void {
  if (!Array.isArray(container)) {
    container[key] = value;
    return;
  }
  const index = listIndexOf(key);
  const at = index === undefined ? -1 : index < 0 ? container.length + index : index;
  if (at < 0 || at > container.length) throw new DotPathError(text, `Index ${key} is outside the list`);
  container[at] = value;
}

/** Writes a value, creating intermediate objects; the whole source is replaced for `source@...`. */
export function writeDotPath(context: DotContext, text: string, value: unknown): void {
  const { source, path } = requirePath(text);
  if (path.length === 0) {
    context[source] = value;
    return;
  }
  if (!isContainer(context[source])) context[source] = {};
  let current = context[source] as Container;
  for (const key of path.slice(0, -1)) {
    let next = childOf(current, key);
    if (next === undefined || next === null) {
      next = {};
      setChild(text, current, key, next);
    } else if (!isContainer(next)) {
      throw new DotPathError(text, `Cannot write through ${key}: it holds a ${typeof next}`);
    }
    current = next as Container;
  }
  setChild(text, current, path[path.length - 1]!, value);
}

/** Deletes a key (or list item); returns whether something was removed. */
export function deleteDotPath(context: DotContext, text: string): boolean {
  const { source, path } = requirePath(text);
  if (path.length === 0) {
    const existed = context[source] !== undefined;
    delete context[source];
    return existed;
  }
  let current: unknown = context[source];
  for (const key of path.slice(0, -1)) {
    if (!isContainer(current)) return false;
    current = childOf(current, key);
  }
  if (!isContainer(current)) return false;
  const last = path[path.length - 1]!;
  if (Array.isArray(current)) {
    const index = listIndexOf(last);
    const at = index === undefined ? -1 : index < 0 ? current.length + index : index;
    if (at < 0 || at >= current.length) return false;
    current.splice(at, 1);
    return true;
  }
  if (!Object.hasOwn(current, last)) return false;
  delete (current as Record<string, unknown>)[last];
  return true;
}
