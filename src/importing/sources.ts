/**
 * Readers of import sources. Each yields the rows after a checkpoint in batches, every batch with
 * the checkpoint that follows it, and a bad row as a rejection (its line or key and the reason)
 * rather than an error, so one row never stops a run. Files are streamed and databases paged by
 * their key (keyset for MySQL/MariaDB, a cursor for PostgreSQL): memory stays at one batch.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parse } from 'csv-parse';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import type { DatabaseSource, FileSource, ImportSource, TracardiSource } from './model.js';
import type { SourceRow } from './rows.js';

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

/** Groups items into batches; `progress` says where the reader is after the last item taken. */
async function* batched(
  items: AsyncIterable<{ item: ReadItem; line: number; position: number }>,
  after: number,
  size: number,
): AsyncIterable<ReadBatch> {
  let batch: ReadItem[] = [];
  let last = { line: after, position: 0 };
  for await (const { item, line, position } of items) {
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

class CsvReader implements RowReader {
  constructor(private readonly source: FileSource) {}

  async total() {
    return (await stat(this.source.path)).size;
  }

  read(after: Checkpoint | undefined, batchSize: number) {
    return batched(this.records(), lineAfter(after), batchSize);
  }

  private async *records(): AsyncIterable<{ item: ReadItem; line: number; position: number }> {
    const { source } = this;
    const decode = decoder(source.encoding);
    const skipped: { line: number; reason: string }[] = [];
    // Bytes, not text: a field that is not valid in the file's encoding rejects its row instead of
    // being stored with replacement characters.
    const parser = createReadStream(source.path).pipe(
      parse({
        encoding: null,
        bom: true,
        delimiter: source.delimiter ?? ',',
        quote: source.quote ?? '"',
        info: true,
        relax_column_count: true,
        skip_empty_lines: true,
        skip_records_with_error: true,
        on_skip: (error) => {
          if (error) skipped.push({ line: (error as { lines?: number }).lines ?? 0, reason: error.message });
          return undefined;
        },
      }),
    );
    let columns: string[] | undefined;
    let position = 0;
    const rejected = (line: number, reason: string) => ({
      item: { ref: `line ${line}`, rejected: reason },
      line,
      position,
    });
    for await (const { record, info } of parser as AsyncIterable<{
      record: Buffer[];
      info: { lines: number; bytes: number };
    }>) {
      for (const skip of skipped.splice(0)) yield rejected(skip.line, skip.reason);
      position = info.bytes;
      const line = info.lines;
      const fields = record.map(decode);
      const bad = fields.findIndex((field) => field === undefined);
      if (bad >= 0) {
        yield rejected(line, `column ${bad + 1}: bytes that are not valid ${source.encoding ?? 'utf-8'}`);
        continue;
      }
      const values = fields as string[];
      if (!columns) {
        columns = source.header === false ? values.map((_, index) => `column_${index + 1}`) : values;
        if (source.header !== false) continue;
      }
      if (values.length !== columns.length) {
        yield rejected(line, `expected ${columns.length} columns, got ${values.length}`);
        continue;
      }
      yield {
        item: { ref: `line ${line}`, row: Object.fromEntries(columns.map((c, i) => [c, values[i]])) },
        line,
        position,
      };
    }
    for (const skip of skipped.splice(0)) yield rejected(skip.line, skip.reason);
  }
}

/** Lines of a file as bytes, with the offset after each (a line's own bytes decide whether it decodes). */
async function* byteLines(path: string): AsyncIterable<{ bytes: Buffer; end: number }> {
  let rest = Buffer.alloc(0);
  let offset = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let newline: number;
    while ((newline = data.indexOf(0x0a)) >= 0) {
      offset += newline + 1;
      yield { bytes: data.subarray(0, newline), end: offset };
      data = data.subarray(newline + 1);
    }
    rest = Buffer.from(data);
  }
  if (rest.length > 0) yield { bytes: rest, end: offset + rest.length };
}

class JsonLinesReader implements RowReader {
  constructor(private readonly source: FileSource | TracardiSource) {}

  async total() {
    return (await stat(this.source.path)).size;
  }

  read(after: Checkpoint | undefined, batchSize: number) {
    return batched(this.records(), lineAfter(after), batchSize);
  }

  private async *records(): AsyncIterable<{ item: ReadItem; line: number; position: number }> {
    const decode = decoder(this.source.encoding);
    let line = 0;
    for await (const { bytes, end } of byteLines(this.source.path)) {
      line++;
      const ref = `line ${line}`;
      const text = decode(bytes);
      if (text === undefined) {
        yield {
          item: { ref, rejected: `bytes that are not valid ${this.source.encoding ?? 'utf-8'}` },
          line,
          position: end,
        };
        continue;
      }
      if (text.trim() === '') continue;
      let row: unknown;
      try {
        row = JSON.parse(text);
      } catch (error) {
        yield { item: { ref, rejected: `not JSON: ${(error as Error).message}` }, line, position: end };
        continue;
      }
      yield row !== null && typeof row === 'object' && !Array.isArray(row)
        ? { item: { ref, row: row as SourceRow }, line, position: end }
        : { item: { ref, rejected: 'expected a JSON object' }, line, position: end };
    }
  }
}

const keyAfter = (after: Checkpoint | undefined) => (after && 'key' in after ? after.key : undefined);

/** Rows of a table or query from a database, ordered by the key column; `quote` quotes an identifier. */
function relation(source: DatabaseSource, quote: (name: string) => string): string {
  return source.table !== undefined ? source.table.split('.').map(quote).join('.') : `(${source.query}) AS q`;
}

function keyed(row: Record<string, unknown>, source: DatabaseSource): ReadItem & { key: string | number } {
  const key = row[source.key];
  const value = typeof key === 'number' || typeof key === 'string' ? key : String(plain(key));
  if (key === null || key === undefined)
    return { ref: `key null`, rejected: `the key column "${source.key}" is null`, key: value };
  return { ref: `key ${value}`, row: plainRow(row), key: value };
}

/** MySQL/MariaDB: pages of `WHERE key > last ORDER BY key LIMIT n`, each an index range scan. */
class MysqlReader implements RowReader {
  constructor(
    private readonly source: DatabaseSource,
    private readonly password: string | undefined,
  ) {}

  private connect() {
    const { source } = this;
    return mysql.createConnection({
      host: source.host,
      port: source.port ?? 3306,
      user: source.user,
      password: this.password,
      database: source.database,
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
  }

  private from() {
    return relation(this.source, (name) => `\`${name.replace(/`/g, '``')}\``);
  }

  async total() {
    const connection = await this.connect();
    try {
      const [rows] = await connection.query(`SELECT COUNT(*) AS n FROM ${this.from()}`);
      return Number((rows as { n: number }[])[0]!.n);
    } finally {
      await connection.end();
    }
  }

  async *read(after: Checkpoint | undefined, batchSize: number): AsyncIterable<ReadBatch> {
    const connection = await this.connect();
    const key = `\`${this.source.key.replace(/`/g, '``')}\``;
    let last = keyAfter(after);
    let position = 0;
    try {
      if (last !== undefined) {
        const [rows] = await connection.query(`SELECT COUNT(*) AS n FROM ${this.from()} WHERE ${key} <= ?`, [last]);
        position = Number((rows as { n: number }[])[0]!.n);
      }
      for (;;) {
        const where = last === undefined ? '' : `WHERE ${key} > ?`;
        const [rows] = await connection.query(`SELECT * FROM ${this.from()} ${where} ORDER BY ${key} LIMIT ?`, [
          ...(last === undefined ? [] : [last]),
          batchSize,
        ]);
        const page = rows as Record<string, unknown>[];
        if (page.length === 0) return;
        const items = page.map((row) => keyed(row, this.source));
        last = items.at(-1)!.key;
        position += page.length;
        yield { items, checkpoint: { key: last }, position };
        if (page.length < batchSize) return;
      }
    } finally {
      await connection.end();
    }
  }
}

/** PostgreSQL: one cursor over the rows after the checkpoint, in key order. */
class PostgresReader implements RowReader {
  constructor(
    private readonly source: DatabaseSource,
    private readonly password: string | undefined,
  ) {}

  private connect() {
    const { source } = this;
    return postgres({
      host: source.host,
      port: source.port ?? 5432,
      user: source.user,
      password: this.password,
      database: source.database,
      max: 1,
      onnotice: () => {},
    });
  }

  private from() {
    return relation(this.source, (name) => `"${name.replace(/"/g, '""')}"`);
  }

  async total() {
    const sql = this.connect();
    try {
      const [row] = await sql.unsafe(`SELECT count(*)::bigint AS n FROM ${this.from()}`);
      return Number(row!['n']);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  async *read(after: Checkpoint | undefined, batchSize: number): AsyncIterable<ReadBatch> {
    const sql = this.connect();
    const key = `"${this.source.key.replace(/"/g, '""')}"`;
    const last = keyAfter(after);
    // The key compares as text sent back to its own type: the checkpoint keeps it as JSON.
    const where = last === undefined ? '' : `WHERE ${key} > $1`;
    try {
      let position = 0;
      if (last !== undefined) {
        const [row] = await sql.unsafe(`SELECT count(*)::bigint AS n FROM ${this.from()} WHERE ${key} <= $1`, [
          String(last),
        ]);
        position = Number(row!['n']);
      }
      const cursor = sql
        .unsafe(`SELECT * FROM ${this.from()} ${where} ORDER BY ${key}`, last === undefined ? [] : [String(last)])
        .cursor(batchSize);
      for await (const page of cursor) {
        const items = page.map((row) => keyed(row, this.source));
        position += page.length;
        yield { items, checkpoint: { key: items.at(-1)!.key }, position };
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
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
