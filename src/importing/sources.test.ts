import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { FileSource } from './model.js';
import { parseArrayText, postgresTime, readerFor, type Checkpoint, type ReadItem } from './sources.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-sources-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(source: FileSource, after?: Checkpoint, batchSize = 100) {
  const items: ReadItem[] = [];
  const checkpoints: Checkpoint[] = [];
  for await (const batch of readerFor(source, undefined).read(after, batchSize)) {
    items.push(...batch.items);
    checkpoints.push(batch.checkpoint);
  }
  return { items, checkpoints };
}

const file = (name: string, content: string | Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe('CSV reader', () => {
  it('reads rows without quotes as the CSV parser does: spaces and empty fields kept, a short row rejected', async () => {
    const rows = ' x ; ;\n1;2\n;;\n,,;x;\np;q;r;s\n';
    const plain = await readAll({ kind: 'csv', path: file('plain.csv', `a;b;c\n${rows}`), delimiter: ';' });
    // A quoted field in the same chunk sends every row of it through the parser.
    const quoted = await readAll({ kind: 'csv', path: file('quoted.csv', `a;b;c\n${rows}"q";r;s\n`), delimiter: ';' });
    expect(plain.items).toEqual([
      { ref: 'line 2', row: { a: ' x ', b: ' ', c: '' } },
      { ref: 'line 3', rejected: 'expected 3 columns, got 2' },
      { ref: 'line 4', row: { a: '', b: '', c: '' } },
      { ref: 'line 5', row: { a: ',,', b: 'x', c: '' } },
      { ref: 'line 6', rejected: 'expected 3 columns, got 4' },
    ]);
    expect(quoted.items).toEqual([...plain.items, { ref: 'line 7', row: { a: 'q', b: 'r', c: 's' } }]);
  });

  it('rejects a malformed row alone, by the line it starts on, and reads every good row around it', async () => {
    const path = file('bad.csv', 'a,b\n1,"x\n2,y\n3,z"q\n4,w\n5,"ok"\n6,a"b\n7,fine\n8,"never closed\n9,last\n');
    const { items } = await readAll({ kind: 'csv', path });
    expect(items.map((item) => ('row' in item ? `${item.ref}: ${item.row['a']}` : `${item.ref}: rejected`))).toEqual([
      'line 2: rejected',
      'line 3: 2',
      'line 4: rejected',
      'line 5: 4',
      'line 6: 5',
      'line 7: rejected',
      'line 8: 7',
      'line 9: rejected',
      'line 10: 9',
    ]);
    expect(items.find((item) => item.ref === 'line 9')).toEqual({
      ref: 'line 9',
      rejected: 'a quoted field is never closed (unbalanced quote)',
    });
  });

  it('keeps quoted fields over several lines, doubled quotes, CRLF endings and a BOM-less header', async () => {
    const path = file('multi.csv', 'id;text\r\n1;"two\nlines, ""quoted"""\r\n2;plain\r\n');
    const { items } = await readAll({ kind: 'csv', path, delimiter: ';' });
    expect(items).toEqual([
      { ref: 'line 2', row: { id: '1', text: 'two\nlines, "quoted"' } },
      { ref: 'line 4', row: { id: '2', text: 'plain' } },
    ]);
  });

  it('keeps a CR inside a line as data, the rows split or parsed, and drops the CR of a CRLF end', async () => {
    const rows = 'id,name,city\n1,foo\rbar,Paris\n2,ann,Rome\r\n3,x\ry,z\r\n';
    const plain = await readAll({ kind: 'csv', path: file('cr.csv', rows) });
    // A quoted field in the same chunk sends every row of it through the parser.
    const quoted = await readAll({ kind: 'csv', path: file('cr-quoted.csv', `${rows}4,"q",r\n`) });
    expect(plain.items).toEqual([
      { ref: 'line 2', row: { id: '1', name: 'foo\rbar', city: 'Paris' } },
      { ref: 'line 3', row: { id: '2', name: 'ann', city: 'Rome' } },
      { ref: 'line 4', row: { id: '3', name: 'x\ry', city: 'z' } },
    ]);
    expect(quoted.items).toEqual([...plain.items, { ref: 'line 5', row: { id: '4', name: 'q', city: 'r' } }]);
  });

  it('reads a file whose lines end with CR alone (no LF anywhere) line by line', async () => {
    const { items, checkpoints } = await readAll({ kind: 'csv', path: file('mac.csv', 'id,name\r1,"a"\r2,b\r') });
    expect(items).toEqual([
      { ref: 'line 2', row: { id: '1', name: 'a' } },
      { ref: 'line 3', row: { id: '2', name: 'b' } },
    ]);
    expect(checkpoints).toEqual([{ line: 3 }]);
    // A quoted field over several lines keeps its line breaks as the file has them.
    const quoted = await readAll({ kind: 'csv', path: file('mac-quoted.csv', 'id,v\r1,"a\rb"\r2,c\r') });
    expect(quoted.items).toEqual([
      { ref: 'line 2', row: { id: '1', v: 'a\rb' } },
      { ref: 'line 4', row: { id: '2', v: 'c' } },
    ]);
    const crlf = await readAll({ kind: 'csv', path: file('crlf-quoted.csv', 'id,v\r\n1,"a\r\nb"\r\n') });
    expect(crlf.items).toEqual([{ ref: 'line 2', row: { id: '1', v: 'a\r\nb' } }]);
  });

  it('decodes the encoding it is told, rejects what is not valid in it, and names columns without a header', async () => {
    const latin = file('latin.csv', Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(',1\n')]));
    expect((await readAll({ kind: 'csv', path: latin, header: false, encoding: 'latin1' })).items).toEqual([
      { ref: 'line 1', row: { column_1: 'café', column_2: '1' } },
    ]);
    expect((await readAll({ kind: 'csv', path: latin, header: false })).items).toEqual([
      { ref: 'line 1', rejected: 'bytes that are not valid utf-8' },
    ]);
  });

  it('fails on a header it cannot read, naming its line and why, rather than take the first row for it', async () => {
    const latin = Buffer.concat([Buffer.from('id,Stra'), Buffer.from([0xdf]), Buffer.from('e,city\n1,a,b\n2,c,d\n')]);
    await expect(readAll({ kind: 'csv', path: file('latin-header.csv', latin) })).rejects.toThrow(
      'line 1 (header): bytes that are not valid utf-8; check source.encoding and source.quote',
    );
    await expect(
      readAll({ kind: 'csv', path: file('open-header.csv', '\nid,"name,city\n1,a,b\n2,c,d\n') }),
    ).rejects.toThrow(
      'line 2 (header): a quoted field is never closed (unbalanced quote); check source.encoding and source.quote',
    );
    await expect(readAll({ kind: 'csv', path: file('stray-header.csv', 'id,na"m"e\n1,a\n') })).rejects.toThrow(
      /^line 1 \(header\): Invalid Opening Quote: .*; check source.encoding and source.quote$/,
    );
    // Read as the encoding it is in, the same header names the columns.
    expect((await readAll({ kind: 'csv', path: file('latin-header.csv', latin), encoding: 'latin1' })).items).toEqual([
      { ref: 'line 2', row: { id: '1', Straße: 'a', city: 'b' } },
      { ref: 'line 3', row: { id: '2', Straße: 'c', city: 'd' } },
    ]);
  });

  it('names every column of a header apart: a name given again is suffixed, an empty one named by its position', async () => {
    const path = file('names.csv', 'id,email,email,,email_2, ,column_6\n1,a,b,c,d,e,f\n');
    expect((await readAll({ kind: 'csv', path })).items).toEqual([
      {
        ref: 'line 2',
        row: { id: '1', email: 'a', email_3: 'b', column_4: 'c', email_2: 'd', column_6_2: 'e', column_6: 'f' },
      },
    ]);
  });

  it('rejects a line over 16 MiB alone, and one a quote left open before it, reading on after it', async () => {
    const long = 'x'.repeat((16 << 20) + 1);
    const path = file('long.csv', `a,b\n${long},1\n1,"2"\n3,"open\n${long}\n4,5\n`);
    expect((await readAll({ kind: 'csv', path })).items).toEqual([
      { ref: 'line 2', rejected: 'longer than 16 MiB' },
      { ref: 'line 3', row: { a: '1', b: '2' } },
      { ref: 'line 4', rejected: 'a quoted field is never closed (unbalanced quote)' },
      { ref: 'line 5', rejected: 'longer than 16 MiB' },
      { ref: 'line 6', row: { a: '4', b: '5' } },
    ]);
  });

  it('goes on after a checkpoint, each batch ending with the checkpoint after it', async () => {
    const path = file('many.csv', `n\n${Array.from({ length: 25 }, (_, i) => String(i)).join('\n')}\n`);
    const all = await readAll({ kind: 'csv', path }, undefined, 10);
    expect(all.checkpoints).toEqual([{ line: 11 }, { line: 21 }, { line: 26 }]);
    const rest = await readAll({ kind: 'csv', path }, { line: 11 }, 10);
    expect(rest.items.map((item) => ('row' in item ? item.row['n'] : item.ref))).toEqual(
      Array.from({ length: 15 }, (_, i) => String(i + 10)),
    );
  });
});

describe('JSON Lines reader', () => {
  it('reads one object a line, rejecting what is not one, by line', async () => {
    const path = file('rows.jsonl', '{"a":1}\n[1]\n\n{oops\n{"a":{"b":2}}');
    expect((await readAll({ kind: 'jsonl', path })).items).toEqual([
      { ref: 'line 1', row: { a: 1 } },
      { ref: 'line 2', rejected: 'expected a JSON object' },
      { ref: 'line 4', rejected: expect.stringMatching(/^not JSON/) },
      { ref: 'line 5', row: { a: { b: 2 } } },
    ]);
  });

  it('reads a file whose lines end with CR alone line by line', async () => {
    expect((await readAll({ kind: 'jsonl', path: file('mac.jsonl', '{"a":1}\r{"a":2}') })).items).toEqual([
      { ref: 'line 1', row: { a: 1 } },
      { ref: 'line 2', row: { a: 2 } },
    ]);
  });

  it('rejects a line over 16 MiB alone, the last one too, and reads on after it', async () => {
    const long = JSON.stringify({ a: 'x'.repeat(16 << 20) });
    const path = file('long.jsonl', `${long}\n{"a":1}\n${long}`);
    const { items, checkpoints } = await readAll({ kind: 'jsonl', path });
    expect(items).toEqual([
      { ref: 'line 1', rejected: 'longer than 16 MiB' },
      { ref: 'line 2', row: { a: 1 } },
      { ref: 'line 3', rejected: 'longer than 16 MiB' },
    ]);
    expect(checkpoints).toEqual([{ line: 3 }]);
  });

  it('joins the chunks of a long line once, when the line ends, not at each chunk (which takes quadratic time)', async () => {
    const path = file('wide.jsonl', `${JSON.stringify({ a: 'x'.repeat(8 << 20) })}\n`);
    const concat = vi.spyOn(Buffer, 'concat');
    try {
      expect((await readAll({ kind: 'jsonl', path })).items).toHaveLength(1);
      expect(concat).toHaveBeenCalledTimes(1);
    } finally {
      concat.mockRestore();
    }
  });
});

describe('parseArrayText', () => {
  it('reads an unquoted NULL as null and a quoted one as the text, each element by its reader', () => {
    expect(parseArrayText('{a,NULL,"NULL","x,y","q\\"uote",""}', ',', undefined)).toEqual([
      'a',
      null,
      'NULL',
      'x,y',
      'q"uote',
      '',
    ]);
    expect(parseArrayText('{{1,NULL},{3,4}}', ',', Number)).toEqual([
      [1, null],
      [3, 4],
    ]);
    expect(parseArrayText('[2:3]={5,6}', ',', Number)).toEqual([5, 6]);
    expect(parseArrayText('{}', ',', Number)).toEqual([]);
    // Boxes are delimited by semicolons: their commas are the element's.
    expect(parseArrayText('{(1,1),(0,0);NULL}', ';', undefined)).toEqual(['(1,1),(0,0)', null]);
  });
});

describe('postgresTime', () => {
  it('reads a timestamp as UTC and a timestamptz by its offset, the years before 100 and offsets in seconds included', () => {
    const read = (text: string) => {
      const time = postgresTime(text);
      return Number.isNaN(time.getTime()) ? null : time.toISOString();
    };
    expect(read('2023-01-01 00:00:00.123456')).toBe('2023-01-01T00:00:00.123Z');
    expect(read('0050-01-02 10:00:00.25')).toBe('0050-01-02T10:00:00.250Z');
    expect(read('0050-01-02 10:00:00.25+05:30')).toBe('0050-01-02T04:30:00.250Z');
    expect(read('2023-06-01 12:00:00-07')).toBe('2023-06-01T19:00:00.000Z');
    expect(read('1850-01-01 00:00:00+01:24:00')).toBe('1849-12-31T22:36:00.000Z');
    expect(read('10000-01-01 00:00:00+00')).toBe('+010000-01-01T00:00:00.000Z');
    expect(read('infinity')).toBeNull();
    expect(read('0044-03-15 12:00:00 BC')).toBeNull();
  });
});
