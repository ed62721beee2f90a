/**
 * Readers of import sources. Each yields the rows after a checkpoint in batches, every batch with
 * the checkpoint that follows it, and a bad row as a rejection (its line or key and the reason)
 * rather than an error, so one row never stops a run. Files are streamed and databases paged by
 * their key (keyset pages, a statement each): memory stays at one batch.
 */
import { constants, createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { parse as parseSync } from 'csv-parse/sync';
import mysql, { type TypeCast } from 'mysql2/promise';
import postgres from 'postgres';
import { invalidInput } from '../shared/errors.js';
import type { DatabaseSource, FileSource, ImportSource, TracardiSource } from './model.js';
import type { SourceRow } from './rows.js';
import { withTimeout } from '../shared/timeout.js';
import {
  KEY_TEXT,
  keyError,
  KeySequence,
  keyRef,
  mysqlKeyForm,
  postgresKeyForm,
  resolveKey,
  uniquelyKeyed,
  type KeyForm,
} from './keyset.js';

/** How far a source was read: the last line of a file, or the last key of a table. */
export type Checkpoint = { line: number } | { key: string | number };

export type ReadItem = { ref: string; row: SourceRow } | { ref: string; rejected: string };

export interface ReadBatch {
  items: ReadItem[];
  checkpoint: Checkpoint;
  /** How far into `total` the reader is after this batch (bytes of a file, rows of a table). */
  position: number;
}

export interface RowReader {
  /**
   * Refuses a source that cannot be read as configured (a file it cannot read, a database key that
   * repeats) before a run reads it, when it starts or, `after` its checkpoint, goes on: a file is looked
   * at again, a database's keys are counted only at the start (a repeat read later fails the run as it is read).
   */
  validate?(after: Checkpoint | undefined): Promise<void>;
  /** What `position` counts up to, when the source can say up front. */
  total(): Promise<number | undefined>;
  read(after: Checkpoint | undefined, batchSize: number): AsyncIterable<ReadBatch>;
}

/** Values a JSON document can hold: dates as ISO text, bytes as base64, big integers as text. */
function plain(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

const plainRow = (row: Record<string, unknown>): SourceRow =>
  Object.fromEntries(Object.entries(row).map(([column, value]) => [column, plain(value)]));

const lineAfter = (after: Checkpoint | undefined) => (after && 'line' in after ? after.line : 0);

/** A file's item with the line it is on and the byte offset after it. */
type LineItem = { item: ReadItem; line: number; position: number };

/**
 * Groups items, which come a run at a time (an await per item would cost more than the item), into
 * batches; `progress` says where the reader is after the last item taken.
 */
async function* batched(runs: AsyncIterable<LineItem[]>, after: number, size: number): AsyncIterable<ReadBatch> {
  let batch: ReadItem[] = [];
  let last = { line: after, position: 0 };
  for await (const run of runs)
    for (const { item, line, position } of run) {
      last = { line, position };
      if (line <= after) continue;
      batch.push(item);
      if (batch.length >= size) {
        yield { items: batch, checkpoint: { line }, position };
        batch = [];
      }
    }
  if (batch.length > 0 || last.line > after)
    yield { items: batch, checkpoint: { line: Math.max(last.line, after) }, position: last.position };
}

function decoder(encoding: string | undefined) {
  const decode = new TextDecoder(encoding ?? 'utf-8', { fatal: true });
  return (bytes: Buffer): string | undefined => {
    try {
      return decode.decode(bytes);
    } catch {
      return undefined;
    }
  };
}

/** A quoted field longer than this is taken for a quote never closed: its row is rejected, the next line read on. */
const MAX_RECORD_BYTES = 1 << 20;
/** The longest line a file may hold: a longer one is rejected alone, never held whole. */
const MAX_LINE_BYTES = 16 << 20;
const LINE_TOO_LONG = `longer than ${MAX_LINE_BYTES >> 20} MiB`;
/** Records parsed in one call; a chunk holding a malformed record is parsed again record by record. */
const PARSE_CHUNK = 500;

type CsvRecord = { text: string; line: number; end: number } | { rejected: string; line: number; end: number };

/**
 * A CSV file's records as text with the line each starts on, cut where a line ends with its quotes
 * balanced (RFC 4180 doubles a quote inside a quoted field, so the count of quotes says whether a
 * field is still open). A quote never closed, up to MAX_RECORD_BYTES or the end of the file, rejects
 * the line it opened on and reading goes on with the line after, so one stray quote costs one row.
 */
async function* csvRecords(
  path: string,
  quote: number,
  encoding: string,
  check: (text: string) => string | undefined,
): AsyncIterable<CsvRecord[]> {
  const decode = decoder(encoding);
  const lines: (ByteLine & { line: number })[] = [];
  let number = 0;
  let source: AsyncIterator<ByteLine[]> | undefined = byteLines(path)[Symbol.asyncIterator]();
  // Records are handed on a run at a time: those found in the lines read so far.
  let records: CsvRecord[] = [];
  const quotes = (bytes: Buffer) => {
    let count = 0;
    for (let at = bytes.indexOf(quote); at >= 0; at = bytes.indexOf(quote, at + 1)) count++;
    return count;
  };
  for (;;) {
    // Gather lines from the first pending one until the quotes balance, the record is too long, or the file ends.
    let open = 0;
    let size = 0;
    let taken = 0;
    for (;;) {
      if (taken === lines.length) {
        if (records.length > 0) {
          yield records;
          records = [];
        }
        const next = source ? await source.next() : { done: true as const, value: undefined };
        if (next.done) {
          source = undefined;
          break;
        }
        for (const each of next.value) lines.push({ ...each, line: ++number });
        if (taken === lines.length) continue;
      }
      const line = lines[taken++]!;
      // A line too long to hold ends no record: one opened before it is rejected as never closed.
      open += line.bytes ? quotes(line.bytes) : 0;
      size += (line.bytes?.length ?? MAX_LINE_BYTES) + 1;
      if (open % 2 === 0 || size > MAX_RECORD_BYTES) break;
    }
    if (taken === 0) {
      if (records.length > 0) yield records;
      return;
    }
    const first = lines[0]!;
    if (first.bytes === undefined) {
      lines.shift();
      records.push({ rejected: LINE_TOO_LONG, line: first.line, end: first.end });
      continue;
    }
    const spans = open % 2 === 0 ? taken : 0;
    const bytes =
      spans === 1
        ? first.bytes
        : Buffer.concat(
            lines
              .slice(0, spans)
              // Joined again by the line end they were cut at: a quoted field keeps its line breaks as they were.
              .flatMap((each, index) =>
                index === 0 ? [each.bytes!] : [LINE_ENDS[lines[index - 1]!.cut], each.bytes!],
              ),
          );
    const text = spans === 0 ? undefined : decode(bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes);
    // A record over several lines is checked here: if it is malformed (a stray quote in an unquoted
    // field opened it), only its first line is rejected and the lines after it are read again.
    const problem =
      spans === 0
        ? 'a quoted field is never closed (unbalanced quote)'
        : spans > 1 && text !== undefined
          ? check(text)
          : undefined;
    if (problem !== undefined) {
      lines.shift();
      records.push({ rejected: problem, line: first.line, end: first.end });
      continue;
    }
    const last = lines[spans - 1]!;
    lines.splice(0, spans);
    if (text === undefined)
      records.push({ rejected: `bytes that are not valid ${encoding}`, line: first.line, end: last.end });
    else if (text.trim() !== '') records.push({ text, line: first.line, end: last.end });
  }
}

/**
 * A CSV file's column names from its header: a name given again gets `_2`, `_3`, … and an empty one is
 * `column_N` (N its position, as without a header), each passing over the names the header holds, so
 * that no column hides another under its name.
 */
function columnNames(header: readonly string[]): string[] {
  const taken = new Set(header);
  const named = new Set<string>();
  return header.map((name, at) => {
    if (name.trim() !== '' && !named.has(name)) {
      named.add(name);
      return name;
    }
    const base = name.trim() === '' ? `column_${at + 1}` : name;
    let unique = base;
    for (let suffix = 2; taken.has(unique); suffix++) unique = `${base}_${suffix}`;
    taken.add(unique);
    return unique;
  });
}

/** csv-parse's message without its line, which counts from the start of what it was given, not of the file. */
const parseError = (error: unknown) => (error as Error).message.replace(/ at line \d+/, '');

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a part of the path is not a directory)',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
};

/** Why this process cannot read the file at `path`, in a line naming it; undefined when it can. */
export async function unreadableFile(path: string): Promise<string | undefined> {
  try {
    if ((await stat(path)).isDirectory()) return `cannot read ${path}: it is a directory`;
    await access(path, constants.R_OK);
    return undefined;
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return `cannot read ${path}: ${(code && FILE_ERRORS[code]) ?? message}`;
  }
}

/** A file's reader: its size is its total, and a run starts only on a file it can read. */
abstract class FileReader<Source extends FileSource | TracardiSource> implements RowReader {
  constructor(protected readonly source: Source) {}

  async validate() {
    const problem = await unreadableFile(this.source.path);
    // Said in a line, as a refusal: a missing file is no fault of the program, whose stack would say nothing.
    if (problem) throw invalidInput(`source.path: ${problem}`, [{ field: 'source.path', message: problem }]);
  }

  async total() {
    return (await stat(this.source.path)).size;
  }

  abstract read(after: Checkpoint | undefined, batchSize: number): AsyncIterable<ReadBatch>;
}

class CsvReader extends FileReader<FileSource> {
  read(after: Checkpoint | undefined, batchSize: number) {
    return batched(this.records(), lineAfter(after), batchSize);
  }

  private get options() {
    // Records are cut at LF already (a CR before it dropped): a CR the parser took for the record
    // delimiter would split a record, or shift the records after it in a chunk.
    return {
      delimiter: this.source.delimiter ?? ',',
      quote: this.source.quote ?? '"',
      record_delimiter: '\n',
      relax_column_count: true,
    };
  }

  /** Why one record does not parse, if it does not. */
  private readonly check = (text: string): string | undefined => {
    try {
      parseSync(text, this.options);
      return undefined;
    } catch (error) {
      return parseError(error);
    }
  };

  /** Fields of each record: a chunk at a time, record by record when the chunk holds a malformed one. */
  private parse(records: readonly { text: string }[]): (string[] | { error: string })[] {
    const options = this.options;
    // Records without a quote are their fields between delimiters, as the parser would find them.
    if (records.every(({ text }) => !text.includes(options.quote)))
      return records.map(({ text }) => text.split(options.delimiter));
    try {
      const parsed = parseSync(records.map((record) => record.text).join('\n'), options) as string[][];
      if (parsed.length === records.length) return parsed;
    } catch {
      // Found below, record by record.
    }
    return records.map((record) => {
      try {
        const [fields] = parseSync(record.text, options) as string[][];
        return fields ?? [];
      } catch (error) {
        return { error: parseError(error) };
      }
    });
  }

  private async *records(): AsyncIterable<LineItem[]> {
    const { source } = this;
    const quote = Buffer.from(source.quote ?? '"')[0]!;
    let columns: string[] | undefined;
    // Rejected like a row, a header would leave the first row to name the columns: every row after
    // it would be stored under wrong names.
    const headerFails = (line: number, reason: string) =>
      invalidInput(`line ${line} (header): ${reason}; check source.encoding and source.quote`);
    const isHeader = () => columns === undefined && source.header !== false;
    let chunk: (CsvRecord & { text: string })[] = [];
    let items: LineItem[] = [];
    const flush = () => {
      const parsed = this.parse(chunk);
      for (const [index, record] of chunk.entries()) {
        const fields = parsed[index]!;
        const { line, end: position } = record;
        const ref = `line ${line}`;
        if (!Array.isArray(fields)) {
          if (isHeader()) throw headerFails(line, fields.error);
          items.push({ item: { ref, rejected: fields.error }, line, position });
          continue;
        }
        if (!columns) {
          // Without a header, every column is unnamed.
          columns = columnNames(source.header === false ? fields.map(() => '') : fields);
          if (source.header !== false) continue;
        }
        const names = columns;
        items.push(
          fields.length === names.length
            ? { item: { ref, row: Object.fromEntries(names.map((name, at) => [name, fields[at]])) }, line, position }
            : { item: { ref, rejected: `expected ${names.length} columns, got ${fields.length}` }, line, position },
        );
      }
      chunk = [];
    };
    for await (const run of csvRecords(source.path, quote, source.encoding ?? 'utf-8', this.check)) {
      for (const record of run) {
        if ('rejected' in record) {
          if (isHeader()) throw headerFails(record.line, record.rejected);
          flush();
          items.push({
            item: { ref: `line ${record.line}`, rejected: record.rejected },
            line: record.line,
            position: record.end,
          });
          continue;
        }
        chunk.push(record);
        if (chunk.length >= PARSE_CHUNK || !columns) flush();
      }
      if (items.length > 0) {
        yield items;
        items = [];
      }
    }
    flush();
    if (items.length > 0) yield items;
  }
}

/** A line's bytes without its line end (undefined: longer than MAX_LINE_BYTES) and the offset after it. */
const LF = 0x0a;
const CR = 0x0d;
const LINE_ENDS = { [LF]: Buffer.from('\n'), [CR]: Buffer.from('\r') } as const;

/** A line's bytes (undefined past MAX_LINE_BYTES), the offset after it, and the byte it was cut at. */
type ByteLine = { bytes: Buffer | undefined; end: number; cut: typeof LF | typeof CR };

/**
 * Lines of a file as bytes, with the offset after each (a line's own bytes decide whether it
 * decodes), the lines of each chunk read together. A line over several chunks is kept as its
 * chunks and joined once, when its LF comes (joined at each chunk, a long line would be copied over
 * and over); past MAX_LINE_BYTES they are let go and the rest of the line skipped. A file with CRs
 * and no LF (classic Mac OS, Excel's "CSV (Macintosh)") is read again, its lines cut at CR.
 */
async function* byteLines(path: string, lineEnd: typeof LF | typeof CR = LF): AsyncIterable<ByteLine[]> {
  // The start of the line the last chunk ended in, or none when it is too long.
  let held: Buffer[] = [];
  let heldBytes = 0;
  let tooLong = false;
  let offset = 0;
  let lineEnded = false;
  let sawCr = false;
  const lineEndingWith = (part: Buffer) =>
    tooLong || heldBytes + part.length > MAX_LINE_BYTES
      ? undefined
      : held.length === 0
        ? part
        : Buffer.concat([...held, part], heldBytes + part.length);
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const lines: ByteLine[] = [];
    let start = 0;
    sawCr ||= !lineEnded && chunk.includes(CR);
    for (let newline = chunk.indexOf(lineEnd); newline >= 0; newline = chunk.indexOf(lineEnd, start)) {
      lineEnded = true;
      lines.push({ bytes: lineEndingWith(chunk.subarray(start, newline)), end: offset + newline + 1, cut: lineEnd });
      if (heldBytes > 0 || tooLong) [held, heldBytes, tooLong] = [[], 0, false];
      start = newline + 1;
    }
    const rest = chunk.subarray(start);
    if (tooLong || heldBytes + rest.length > MAX_LINE_BYTES) [held, heldBytes, tooLong] = [[], 0, true];
    else if (rest.length > 0) {
      held.push(rest);
      heldBytes += rest.length;
    }
    offset += chunk.length;
    if (lines.length > 0) yield lines;
  }
  if (lineEnd === LF && !lineEnded && sawCr) return yield* byteLines(path, CR);
  if (heldBytes > 0 || tooLong) yield [{ bytes: lineEndingWith(Buffer.alloc(0)), end: offset, cut: lineEnd }];
}

class JsonLinesReader extends FileReader<FileSource | TracardiSource> {
  read(after: Checkpoint | undefined, batchSize: number) {
    return batched(this.records(), lineAfter(after), batchSize);
  }

  private async *records(): AsyncIterable<LineItem[]> {
    const decode = decoder(this.source.encoding);
    let line = 0;
    for await (const run of byteLines(this.source.path))
      yield run.flatMap(({ bytes, end }) => {
        line++;
        const ref = `line ${line}`;
        const item = bytes === undefined ? { ref, rejected: LINE_TOO_LONG } : this.item(decode(bytes), ref);
        return item ? [{ item, line, position: end }] : [];
      });
  }

  /** A line (undefined: not valid in the encoding) as its row or its rejection; nothing for a blank line. */
  private item(text: string | undefined, ref: string): ReadItem | undefined {
    if (text === undefined) return { ref, rejected: `bytes that are not valid ${this.source.encoding ?? 'utf-8'}` };
    if (text.trim() === '') return undefined;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (error) {
      return { ref, rejected: `not JSON: ${(error as Error).message}` };
    }
    return row !== null && typeof row === 'object' && !Array.isArray(row)
      ? { ref, row: row as SourceRow }
      : { ref, rejected: 'expected a JSON object' };
  }
}

const keyAfter = (after: Checkpoint | undefined) => (after && 'key' in after ? after.key : undefined);

/**
 * Rows of a table or query from a database, ordered by the key column; `quote` quotes an identifier. A
 * query is a subquery: its trailing semicolons go, and a line comment ending it is closed by a line end.
 */
function relation(source: DatabaseSource, quote: (name: string) => string): string {
  if (source.table !== undefined) return source.table.split('.').map(quote).join('.');
  return `(${source.query!.replace(/[\s;]+$/, '')}\n) AS q`;
}

/**
 * A page of a database's rows in key order, each with its key's text (KEY_TEXT), as items keyed (their
 * ref) by their key, checked in turn.
 */
function keyedItems(keys: KeySequence, column: string, page: readonly Record<string, unknown>[]): ReadItem[] {
  const rows = page.map(({ [KEY_TEXT]: text, ...row }) => ({ text: text === null ? null : String(text), row }));
  const before = keys.last === undefined ? undefined : String(keys.last);
  const texts = keys.page(rows.map(({ text }) => text));
  return rows.map(({ row }, at) => ({
    ref: `key ${keyRef(plain(row[column]), texts[at]!, at === 0 ? before : texts[at - 1])}`,
    row: plainRow(row),
  }));
}

/** How long a reader waits for its database to take a connection and answer: a host that never does fails the run. */
const CONNECT_TIMEOUT_MS = 10_000;

const unreachable = (host: string, port: number) =>
  `could not connect to ${host}:${port} in ${CONNECT_TIMEOUT_MS / 1000} s`;

/** The key column as the rows name it, and how its values go to the server and back. */
interface Key {
  column: string;
  form: KeyForm;
}

/** A connection to a database, whichever the driver. */
interface Session {
  /** A statement's rows; `key`, a key's text, is its one parameter (`KeyForm.value`). */
  rows(statement: string, key?: string | number): Promise<Record<string, unknown>[]>;
  /** The columns a statement's rows have, each with how it goes to the server and back as a key. */
  columns(statement: string): Promise<{ name: string; keyForm: () => KeyForm }[]>;
  end(): Promise<void>;
}

/**
 * A table or query of a database read in keyset pages, `WHERE key > last ORDER BY key LIMIT n`: each
 * page is a statement of its own (an index range scan where the key is indexed), so a run holds no
 * transaction between batches (nor vacuum back, on PostgreSQL), however long it is paused or throttled.
 */
abstract class DatabaseReader implements RowReader {
  private key: Promise<Key> | undefined;
  private counted: number | undefined;

  constructor(
    protected readonly source: DatabaseSource,
    protected readonly password: string | undefined,
  ) {}

  /** An identifier as the server's dialect quotes it. */
  protected abstract quote(name: string): string;
  protected abstract open(): Promise<Session>;

  private from() {
    return relation(this.source, (name) => this.quote(name));
  }

  private async session<T>(work: (session: Session) => Promise<T>): Promise<T> {
    const session = await this.open();
    try {
      return await work(session);
    } finally {
      await session.end();
    }
  }

  /** The key, found among the columns (`resolveKey`) once. */
  private keyOf(): Promise<Key> {
    this.key ??= this.session((session) => session.columns(`SELECT * FROM ${this.from()} LIMIT 0`)).then((columns) => {
      const column = resolveKey(
        this.source.key,
        columns.map(({ name }) => name),
      );
      return { column, form: columns.find(({ name }) => name === column)!.keyForm() };
    });
    return this.key;
  }

  async validate(after: Checkpoint | undefined) {
    // A full scan of a big table: once, when the run starts.
    if (after !== undefined) return;
    const { column } = await this.keyOf();
    const [rows, keys] = [this.quote('rows'), this.quote('keys')];
    const [counted] = await this.session((session) =>
      session.rows(`SELECT count(*) AS ${rows}, count(DISTINCT ${this.quote(column)}) AS ${keys} FROM ${this.from()}`),
    );
    this.counted = uniquelyKeyed(column, Number(counted!['rows']), Number(counted!['keys']));
  }

  async total() {
    if (this.counted !== undefined) return this.counted;
    const [counted] = await this.session((session) => session.rows(`SELECT count(*) AS n FROM ${this.from()}`));
    return Number(counted!['n']);
  }

  async *read(after: Checkpoint | undefined, batchSize: number): AsyncIterable<ReadBatch> {
    const { column, form } = await this.keyOf();
    const keys = new KeySequence(column, keyAfter(after), form);
    const [key, from] = [this.quote(column), this.from()];
    const session = await this.open();
    try {
      let position = 0;
      if (keys.last !== undefined) {
        // MySQL casts text it cannot read to NULL, after which no row would follow: the run would end done.
        if (this.source.kind === 'mysql') {
          const [read] = await session.rows(`SELECT ${form.value} IS NULL AS ${this.quote('lost')}`, keys.last);
          if (Number(read!['lost']) === 1)
            throw keyError(
              column,
              `cannot go on from ${keys.last}, which the server reads as no value: start a new run`,
            );
        }
        const [counted] = await session.rows(
          `SELECT count(*) AS n FROM ${from} WHERE ${key} <= ${form.value}`,
          keys.last,
        );
        position = Number(counted!['n']);
      }
      for (;;) {
        const { last } = keys;
        const where = last === undefined ? '' : `WHERE ${key} > ${form.value}`;
        const page = await session.rows(
          `SELECT *, ${form.text} AS ${this.quote(KEY_TEXT)} FROM ${from} ${where} ORDER BY ${key} LIMIT ${batchSize}`,
          last,
        );
        if (page.length === 0) return;
        const items = keyedItems(keys, column, page);
        position += page.length;
        yield { items, checkpoint: { key: keys.last! }, position };
        if (page.length < batchSize) return;
      }
    } finally {
      await session.end();
    }
  }
}

/**
 * A DATE, DATETIME or TIMESTAMP read from its text as UTC. mysql2 takes a DATE's zero month or day
 * (`0000-00-00`, `2023-05-00`, stored where sql_mode lacks NO_ZERO_DATE, as MariaDB's default does) for
 * days before the month (`1899-11-30`), and a year below 100 for 19xx: a time JavaScript cannot hold reads
 * as null, as on PostgreSQL.
 */
function mysqlTime(text: string | null): Date | null {
  const time = text === null ? undefined : /^(\d{4}-(\d\d)-(\d\d))(?: (\d\d:\d\d:\d\d(?:\.\d+)?))?$/.exec(text);
  if (!time) return null;
  const [, day, month, dayOfMonth, clock] = time;
  return month === '00' || dayOfMonth === '00' ? null : new Date(`${day}T${clock ?? '00:00:00'}Z`);
}
const MYSQL_TIME_TYPES = new Set(['DATE', 'NEWDATE', 'DATETIME', 'DATETIME2', 'TIMESTAMP', 'TIMESTAMP2']);

/**
 * A BIT as the number its bits make (a string beyond a double's integers, as a BIGINT), which mysql2
 * gives as bytes: a BIT(1) flag, read as base64 (`AQ==`), could not map as a boolean.
 */
function mysqlBits(bytes: Buffer | null): number | string | null {
  if (bytes === null) return null;
  const value = bytes.reduce((sum, byte) => (sum << 8n) | BigInt(byte), 0n);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

const mysqlValue: TypeCast = (field, next) =>
  MYSQL_TIME_TYPES.has(field.type)
    ? mysqlTime(field.string())
    : field.type === 'BIT'
      ? mysqlBits(field.buffer())
      : next();

class MysqlReader extends DatabaseReader {
  protected quote(name: string) {
    return `\`${name.replace(/`/g, '``')}\``;
  }

  protected async open(): Promise<Session> {
    const connection = await this.connect();
    const query = (statement: string, key?: string | number) =>
      connection.query(statement, key === undefined ? [] : [key]);
    return {
      rows: async (statement, key) => (await query(statement, key))[0] as Record<string, unknown>[],
      columns: async (statement) =>
        (await query(statement))[1].map((field) => ({
          name: field.name,
          keyForm: () => mysqlKeyForm(field.name, field, this.quote(field.name)),
        })),
      end: () => connection.end(),
    };
  }

  private async connect() {
    const { source } = this;
    const port = source.port ?? 3306;
    const connection = await mysql
      .createConnection({
        host: source.host,
        port,
        user: source.user,
        password: this.password,
        database: source.database,
        timezone: 'Z',
        supportBigNumbers: true,
        bigNumberStrings: true,
        typeCast: mysqlValue,
        connectTimeout: CONNECT_TIMEOUT_MS,
      })
      .catch((error: unknown) => {
        throw (error as { code?: string }).code === 'ETIMEDOUT' ? new Error(unreachable(source.host, port)) : error;
      });
    // The server gives a TIMESTAMP (and NOW(), FROM_UNIXTIME()) in the session's time zone, and
    // mysql2 reads every time as UTC ('Z'): a session in the server's zone would shift them all.
    try {
      await connection.query(`SET time_zone = '+00:00', max_sort_length = 8388608`);
    } catch (error) {
      connection.destroy();
      throw error;
    }
    return connection;
  }
}

/** PostgreSQL's pseudo-type `unknown`: a parameter so declared is typed by the statement, as a literal is. */
const UNKNOWN_TYPE = 705;

/** PostgreSQL's `timestamp without time zone`. */
const TIMESTAMP_TYPE = 1114;

/** PostgreSQL's `timestamp with time zone`. */
const TIMESTAMPTZ_TYPE = 1184;

/** A time as the ISO DateStyle writes it: date, time, fraction, and for a `timestamptz` its offset. */
const POSTGRES_TIME =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?$/;

/**
 * A `timestamp` or `timestamptz` as the time it writes; a `timestamp without time zone` as UTC, as
 * docs/imports.md says naive times are and as the MySQL reader reads a DATETIME, where postgres.js
 * would read it in the process's time zone. Read by its parts, not by JavaScript's parser, which takes
 * the years 0 to 99 for 1900 to 1999 and refuses an offset in seconds (a zone's local mean time before
 * 1900); `infinity` and BC dates, which match no time, are invalid dates (read as null).
 */
export function postgresTime(text: string): Date {
  const parts = POSTGRES_TIME.exec(text);
  if (!parts) return new Date(Number.NaN);
  const [, year, month, day, hours, minutes, seconds, fraction = '', sign, offsetHours, offsetMinutes, offsetSeconds] =
    parts;
  const time = new Date(0);
  time.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  time.setUTCHours(Number(hours), Number(minutes), Number(seconds), Number(fraction.padEnd(3, '0').slice(0, 3)));
  const offset =
    sign === undefined
      ? 0
      : (sign === '-' ? -1 : 1) *
        (Number(offsetHours) * 3600 + Number(offsetMinutes ?? 0) * 60 + Number(offsetSeconds ?? 0));
  return new Date(time.getTime() - offset * 1000);
}

/**
 * An array as PostgreSQL writes it as text (`{a,NULL,"NULL","x,y"}`, nested `{{1,2},{3,4}}`, bounds
 * `[0:1]={5,6}`), each element read by `element`. postgres.js's own reader takes an unquoted NULL for
 * the text "NULL" (`NaN` in a number array): a null would be imported as a word.
 */
export function parseArrayText(
  text: string,
  delimiter: string,
  element: ((text: string) => unknown) | undefined,
): unknown[] {
  let at = text.startsWith('[') ? text.indexOf('=') + 1 : 0;
  const item = (raw: string) => (element ? element(raw) : raw);
  const list = (): unknown[] => {
    const items: unknown[] = [];
    at++;
    if (text[at] === '}') {
      at++;
      return items;
    }
    for (;;) {
      if (text[at] === '{') items.push(list());
      else if (text[at] === '"') {
        let raw = '';
        for (at++; at < text.length && text[at] !== '"'; at++) raw += text[text[at] === '\\' ? ++at : at];
        at++;
        items.push(item(raw));
      } else {
        let end = at;
        while (end < text.length && text[end] !== delimiter && text[end] !== '}') end++;
        const raw = text.slice(at, end);
        items.push(raw === 'NULL' ? null : item(raw));
        at = end;
      }
      if (text[at++] !== delimiter) return items;
    }
  };
  return list();
}

class PostgresReader extends DatabaseReader {
  protected quote(name: string) {
    return `"${name.replace(/"/g, '""')}"`;
  }

  protected async open(): Promise<Session> {
    const sql = await this.connect();
    // Of type unknown, the key's text is typed by the server as the key, and read as such.
    const query = (statement: string, key?: string | number) =>
      sql.unsafe(statement, key === undefined ? [] : [sql.typed(String(key), UNKNOWN_TYPE)]);
    return {
      rows: (statement, key) => query(statement, key),
      columns: async (statement) =>
        (await query(statement)).columns.map(({ name, type }) => ({
          name,
          keyForm: () => postgresKeyForm(type, this.quote(name)),
        })),
      end: () => sql.end({ timeout: 1 }),
    };
  }

  /**
   * A connection that answered: postgres.js connects on the first query, and waits forever for a
   * host that never answers (trying again), so the first query is bounded.
   */
  private async connect() {
    const { source } = this;
    const port = source.port ?? 5432;
    const sql = postgres({
      host: source.host,
      port,
      user: source.user,
      password: this.password,
      database: source.database,
      max: 1,
      onnotice: () => {},
      types: {
        utcTimestamp: {
          to: TIMESTAMP_TYPE,
          from: [TIMESTAMP_TYPE],
          serialize: (time: Date) => time.toISOString(),
          parse: postgresTime,
        },
        instant: {
          to: TIMESTAMPTZ_TYPE,
          from: [TIMESTAMPTZ_TYPE],
          serialize: (time: Date) => time.toISOString(),
          parse: postgresTime,
        },
      },
    });
    try {
      await withTimeout(sql`SELECT 1`, CONNECT_TIMEOUT_MS, unreachable(source.host, port));
      // The array types postgres.js read on connecting get a reader that keeps their nulls.
      const arrays = await sql<{ array: number; element: number; delimiter: string }[]>`
        SELECT typarray::int AS array, oid::int AS element, typdelim AS delimiter
          FROM pg_catalog.pg_type WHERE typarray <> 0`;
      const { parsers } = sql.options;
      for (const { array, element, delimiter } of arrays) {
        const parseElement = parsers[element];
        parsers[array] = (text: string) => parseArrayText(text, delimiter, parseElement);
      }
    } catch (error) {
      await sql.end({ timeout: 0 });
      throw error;
    }
    return sql;
  }
}

export function readerFor(source: ImportSource, password: string | undefined): RowReader {
  switch (source.kind) {
    case 'csv':
      return new CsvReader(source);
    case 'jsonl':
    case 'tracardi':
      return new JsonLinesReader(source);
    case 'mysql':
      return new MysqlReader(source, password);
    case 'postgres':
      return new PostgresReader(source, password);
  }
}
