import { describe, expect, it } from 'vitest';
import {
  coerce,
  dateFormatProblem,
  derivedId,
  recordedRef,
  RowRejected,
  rowToEvent,
  rowToProfile,
  templateProblem,
  withDefaultTimeZone,
} from './rows.js';
import type { ImportMapping } from './model.js';

describe('derivedId', () => {
  it('is a UUID that depends only on its parts', () => {
    const id = derivedId('import-1', 'event', 'line 2');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(derivedId('import-1', 'event', 'line 2')).toBe(id);
    expect(derivedId('import-2', 'event', 'line 2')).not.toBe(id);
    expect(derivedId('import-1', 'event', 'line 3')).not.toBe(id);
  });
});

describe('coerce', () => {
  it('reads numbers, booleans, dates and JSON, and leaves empty values out', () => {
    expect(coerce(' 12.5 ', 'number', undefined, 'f')).toBe(12.5);
    expect(coerce('Yes', 'boolean', undefined, 'f')).toBe(true);
    expect(coerce('0', 'boolean', undefined, 'f')).toBe(false);
    expect(coerce('2024-02-29 13:14:15', 'date', undefined, 'f')).toBe('2024-02-29T13:14:15.000Z');
    expect(coerce('2024-02-29T13:14:15+02:00', 'date', undefined, 'f')).toBe('2024-02-29T11:14:15.000Z');
    expect(coerce('1700000000', 'date', 'epoch', 'f')).toBe('2023-11-14T22:13:20.000Z');
    expect(coerce('31/12/2023 23:59', 'date', 'DD/MM/YYYY HH:mm', 'f')).toBe('2023-12-31T23:59:00.000Z');
    expect(coerce('{"a":[1]}', 'json', undefined, 'f')).toEqual({ a: [1] });
    expect(coerce('', 'number', undefined, 'f')).toBeUndefined();
    expect(coerce(7, undefined, undefined, 'f')).toBe('7');
  });

  it('reads numbers in decimal notation only, as numbers and epoch times', () => {
    for (const [text, number] of [
      ['-0.5', -0.5],
      ['+5', 5],
      ['.5', 0.5],
      ['5.', 5],
      ['1E3', 1000],
      [' 42 ', 42],
    ] as const)
      expect(coerce(text, 'number', undefined, 'f')).toBe(number);
    for (const text of ['0x1F', '0b11', '0o7', '1,5', '1_000', 'Infinity', '1e400']) {
      expect(() => coerce(text, 'number', undefined, 'f')).toThrow(`f: expected a number, got "${text}"`);
      expect(() => coerce(text, 'date', 'epoch', 'f')).toThrow(`f: expected a date (epoch), got "${text}"`);
    }
  });

  it('takes a blank value (a padded cell, a template of empty values) for none, whatever the type', () => {
    for (const type of ['string', 'number', 'boolean', 'date', 'json'] as const)
      expect(coerce('  ', type, undefined, 'f')).toBeUndefined();
    expect(coerce(' \t', 'date', 'epoch', 'f')).toBeUndefined();
    const mapping = { properties: { name: { template: '{{first}} {{last}}', required: true } } };
    expect(() => rowToEvent('imp', 'line 2', { first: '', last: null }, mapping)).toThrow(
      'properties.name: the template is missing or empty',
    );
    expect(rowToEvent('imp', 'line 3', { a: ' ' }, { profileId: 'a' }).profileId).toBe(
      derivedId('imp', 'profile', 'line 3'),
    );
  });

  it('rejects an ISO date its month does not have, rather than roll it over into the next month', () => {
    for (const text of ['2024-02-30', '2023-02-29 10:00', '2024-04-31T00:00:00Z'])
      expect(() => coerce(text, 'date', undefined, 'time')).toThrow(`time: expected a date (iso), got "${text}"`);
    expect(coerce('2024-02-29', 'date', undefined, 'time')).toBe('2024-02-29T00:00:00.000Z');
  });

  it('rejects an epoch time beyond the year 9999, saying seconds from milliseconds', () => {
    expect(() => coerce('1700000000000', 'date', 'epoch', 'time')).toThrow(
      'time: expected a date in the years 1 to 9999, got "1700000000000" (epoch is seconds; epoch-ms reads milliseconds)',
    );
    expect(coerce('1700000000000', 'date', 'epoch-ms', 'time')).toBe('2023-11-14T22:13:20.000Z');
    expect(() => coerce(-1e14, 'date', 'epoch-ms', 'time')).toThrow(
      'time: expected a date in the years 1 to 9999, got -100000000000000',
    );
  });

  it('quotes a long value cut short in its reason', () => {
    const long = `x${'9'.repeat(1_000_000)}`;
    const reason = (type: 'number' | 'date' | 'json') => {
      try {
        coerce(long, type, undefined, 'f');
      } catch (error) {
        return (error as RowRejected).message;
      }
    };
    for (const type of ['number', 'date', 'json'] as const) {
      expect(reason(type)).toMatch(/^f: expected .+, got "x9{98}… \(1000003 characters\)$/);
      expect(reason(type)!.length).toBeLessThan(200);
    }
  });

  it('cuts a quoted value between two characters, never inside one written as a surrogate pair', () => {
    // The text quoted is `"` then the value: its 100th code unit is the first half of the emoji.
    const value = `${'x'.repeat(98)}😀${'y'.repeat(200)}`;
    let reason = '';
    try {
      coerce(value, 'number', undefined, 'f');
    } catch (error) {
      reason = (error as RowRejected).message;
    }
    expect(reason).toBe(`f: expected a number, got "${'x'.repeat(98)}… (302 characters)`);
  });

  it('rejects what is not of its type, naming the field', () => {
    expect(() => coerce('12a', 'number', undefined, 'price')).toThrow(
      new RowRejected('price: expected a number, got "12a"'),
    );
    expect(() => coerce('maybe', 'boolean', undefined, 'f')).toThrow(RowRejected);
    expect(() => coerce('2023-02-30', 'date', 'YYYY-MM-DD', 'f')).toThrow(/expected a date/);
    expect(() => coerce('yesterday', 'date', undefined, 'f')).toThrow(/expected a date \(iso\)/);
  });
});

describe('date patterns', () => {
  const date = (value: string, pattern: string) => coerce(value, 'date', pattern, 'time');

  it('read the patterns they read before, as UTC', () => {
    expect(date('2024-02-29 13:14:15', 'YYYY-MM-DD HH:mm:ss')).toBe('2024-02-29T13:14:15.000Z');
    expect(date('1/2/2024 3:04', 'DD/MM/YYYY HH:mm')).toBe('2024-02-01T03:04:00.000Z');
    expect(date(' 2024 ', 'YYYY')).toBe('2024-01-01T00:00:00.000Z');
    expect(date('2024-03', 'YYYY-MM')).toBe('2024-03-01T00:00:00.000Z');
    // A Z in a pattern was a literal; as the offset token it still reads a Z as UTC.
    expect(date('2024-02-29T13:14:15Z', 'YYYY-MM-DDTHH:mm:ssZ')).toBe('2024-02-29T13:14:15.000Z');
  });

  it('read SSS as a fraction of a second of 1 to 9 digits, kept to the millisecond', () => {
    expect(date('2026-12-06 14:03:07.250', 'YYYY-MM-DD HH:mm:ss.SSS')).toBe('2026-12-06T14:03:07.250Z');
    expect(date('2026-12-06 14:03:07,5', 'YYYY-MM-DD HH:mm:ss,SSS')).toBe('2026-12-06T14:03:07.500Z');
    expect(date('2026-12-06 14:03:07.123456789', 'YYYY-MM-DD HH:mm:ss.SSS')).toBe('2026-12-06T14:03:07.123Z');
    expect(date('2026-12-06 14:03:07.057', 'YYYY-MM-DD HH:mm:ss.SSS')).toBe('2026-12-06T14:03:07.057Z');
    for (const value of ['2026-12-06 14:03:07', '2026-12-06 14:03:07.', '2026-12-06 14:03:07.1234567890'])
      expect(() => date(value, 'YYYY-MM-DD HH:mm:ss.SSS')).toThrow(RowRejected);
  });

  it('read Z as Z or ±HH:mm and ZZ as Z or ±HHmm, the offset from UTC', () => {
    const pattern = 'DD/MM/YYYY HH:mm:ss.SSS Z';
    expect(date('06/12/2026 14:03:07.250 +02:00', pattern)).toBe('2026-12-06T12:03:07.250Z');
    expect(date('06/12/2026 14:03:07.250 -05:30', pattern)).toBe('2026-12-06T19:33:07.250Z');
    expect(date('06/12/2026 14:03:07.250 Z', pattern)).toBe('2026-12-06T14:03:07.250Z');
    expect(date('01/01/2026 01:00:00.000 +02:00', pattern)).toBe('2025-12-31T23:00:00.000Z');
    expect(date('2026-12-06T14:03:07+0200', 'YYYY-MM-DDTHH:mm:ssZZ')).toBe('2026-12-06T12:03:07.000Z');
    expect(date('2026-12-06T14:03:07Z', 'YYYY-MM-DDTHH:mm:ssZZ')).toBe('2026-12-06T14:03:07.000Z');
    expect(date('2026-12-06T14:03:07+23:59', 'YYYY-MM-DDTHH:mm:ssZ')).toBe('2026-12-05T14:04:07.000Z');
    for (const [value, format] of [
      ['2026-12-06T14:03:07+25:00', 'YYYY-MM-DDTHH:mm:ssZ'],
      ['2026-12-06T14:03:07+02:60', 'YYYY-MM-DDTHH:mm:ssZ'],
      ['2026-12-06T14:03:07+0200', 'YYYY-MM-DDTHH:mm:ssZ'],
      ['2026-12-06T14:03:07+02:00', 'YYYY-MM-DDTHH:mm:ssZZ'],
      ['2026-12-06T14:03:07+2500', 'YYYY-MM-DDTHH:mm:ssZZ'],
      ['2026-12-06T14:03:07', 'YYYY-MM-DDTHH:mm:ssZ'],
    ])
      expect(() => date(value!, format!), value).toThrow(
        new RowRejected(`time: expected a date (${format}), got "${value}"`),
      );
  });

  it('read hh with A as a 12-hour time, AM or PM in any case', () => {
    const pattern = 'MM/DD/YYYY hh:mm A';
    expect(date('12/06/2026 02:03 PM', pattern)).toBe('2026-12-06T14:03:00.000Z');
    expect(date('12/06/2026 2:03 am', pattern)).toBe('2026-12-06T02:03:00.000Z');
    expect(date('12/06/2026 12:03 AM', pattern)).toBe('2026-12-06T00:03:00.000Z');
    expect(date('12/06/2026 12:03 pm', pattern)).toBe('2026-12-06T12:03:00.000Z');
    for (const value of ['12/06/2026 00:03 AM', '12/06/2026 13:03 PM', '12/06/2026 02:03', '12/06/2026 02:03 XM'])
      expect(() => date(value, pattern), value).toThrow(RowRejected);
  });

  it('reject a part out of its range, naming the field and the pattern', () => {
    expect(() => coerce('13/01/2024', 'date', 'MM/DD/YYYY', 'order.at')).toThrow(
      new RowRejected('order.at: expected a date (MM/DD/YYYY), got "13/01/2024"'),
    );
    for (const value of ['00/01/2024', '01/00/2024', '02/30/2024', '02/29/2023', '01/32/2024'])
      expect(() => date(value, 'MM/DD/YYYY'), value).toThrow(RowRejected);
    for (const value of ['2024-01-01 24:00:00', '2024-01-01 23:60:00', '2024-01-01 23:59:60'])
      expect(() => date(value, 'YYYY-MM-DD HH:mm:ss'), value).toThrow(RowRejected);
    expect(date('02/29/2024', 'MM/DD/YYYY')).toBe('2024-02-29T00:00:00.000Z');
    // Not 1999, as Date.UTC would have it.
    expect(date('05/06/0099', 'MM/DD/YYYY')).toBe('0099-05-06T00:00:00.000Z');
  });

  it('name what is wrong with a pattern, and read the keywords as they are', () => {
    for (const keyword of ['iso', 'epoch', 'epoch-ms', 'YYYY-MM-DD hh:mm A Z'])
      expect(dateFormatProblem(keyword)).toBeUndefined();
    expect(dateFormatProblem('epoch_ms')).toBe('expected iso, epoch, epoch-ms, or a pattern with YYYY');
    expect(dateFormatProblem('YYYY-MM-DD HH:mm Z ZZ')).toBe('the offset is given twice (ZZ)');
    expect(dateFormatProblem('YYYY-MM-DD HH hh A')).toBe('the hour is given twice (hh)');
    expect(dateFormatProblem('YYYY-MM-DD hh:mm')).toBe('hh (the hour from 1 to 12) and A (AM or PM) go together');
    expect(dateFormatProblem('YYYY-MM-DD HH:mm A')).toBe('hh (the hour from 1 to 12) and A (AM or PM) go together');
    // A row read by a pattern saved before it was checked is rejected, not a failed run.
    expect(() => date('2024 2024', 'YYYY YYYY')).toThrow(
      new RowRejected('time: expected a date (YYYY YYYY), got "2024 2024"'),
    );
  });
});

describe('dates in a time zone', () => {
  const warsaw = (value: unknown, format?: string) => coerce(value, 'date', format, 'time', 'Europe/Warsaw');

  it('read a time without an offset in the zone, ISO or by a pattern, in winter and summer', () => {
    expect(warsaw('2024-01-15 12:00:00')).toBe('2024-01-15T11:00:00.000Z');
    expect(warsaw('2024-07-15T12:00')).toBe('2024-07-15T10:00:00.000Z');
    expect(warsaw('2024-07-15')).toBe('2024-07-14T22:00:00.000Z');
    expect(warsaw('15.07.2024 12:00:00.5', 'DD.MM.YYYY HH:mm:ss.SSS')).toBe('2024-07-15T10:00:00.500Z');
    expect(warsaw('07/15/2024 12:00 PM', 'MM/DD/YYYY hh:mm A')).toBe('2024-07-15T10:00:00.000Z');
  });

  it('leave a time with its offset, an epoch and a database time as they are', () => {
    expect(warsaw('2024-07-15T12:00:00Z')).toBe('2024-07-15T12:00:00.000Z');
    expect(warsaw('2024-07-15T12:00:00-05:00')).toBe('2024-07-15T17:00:00.000Z');
    expect(warsaw('15.07.2024 12:00 +0100', 'DD.MM.YYYY HH:mm ZZ')).toBe('2024-07-15T11:00:00.000Z');
    expect(warsaw('1721037600', 'epoch')).toBe('2024-07-15T10:00:00.000Z');
    expect(warsaw(1721037600000, 'epoch-ms')).toBe('2024-07-15T10:00:00.000Z');
    expect(warsaw(new Date('2024-07-15T12:00:00Z'))).toBe('2024-07-15T12:00:00.000Z');
  });

  it('move a time the clocks skip forward by the gap, and read one shown twice the first time', () => {
    // 31 March 2024 02:00 CET became 03:00 CEST; 27 October 2024 03:00 CEST became 02:00 CET.
    expect(warsaw('2024-03-31 02:30')).toBe('2024-03-31T01:30:00.000Z');
    expect(warsaw('31/03/2024 02:30', 'DD/MM/YYYY HH:mm')).toBe('2024-03-31T01:30:00.000Z');
    expect(warsaw('2024-10-27 02:30')).toBe('2024-10-27T00:30:00.000Z');
    expect(warsaw('2024-10-27 02:30+01:00')).toBe('2024-10-27T01:30:00.000Z');
  });

  it('still reject what is no date, and a date the zone takes beyond the years stored', () => {
    expect(() => warsaw('2024-02-30 10:00')).toThrow(RowRejected);
    expect(() => warsaw('30/02/2024', 'DD/MM/YYYY')).toThrow(RowRejected);
    expect(() => coerce('9999-12-31 23:00', 'date', undefined, 'time', 'America/New_York')).toThrow(
      'time: expected a date in the years 1 to 9999',
    );
  });

  it("are given the import's time zone where the mapping names none, and keep their own", () => {
    const mapping = {
      time: 'at',
      profileId: 'who',
      properties: {
        shipped: { from: 'shipped', type: 'date' as const },
        paid: { from: 'paid', type: 'date' as const, timeZone: 'America/New_York' },
        note: 'note',
      },
    };
    const zoned = withDefaultTimeZone(mapping, 'Europe/Warsaw');
    expect(zoned).toEqual({
      time: { from: 'at', timeZone: 'Europe/Warsaw' },
      profileId: 'who',
      properties: {
        shipped: { from: 'shipped', type: 'date', timeZone: 'Europe/Warsaw' },
        paid: { from: 'paid', type: 'date', timeZone: 'America/New_York' },
        note: 'note',
      },
    });
    expect(withDefaultTimeZone(mapping, undefined)).toBe(mapping);
    const row = { at: '2024-07-15 12:00', who: 'ann', shipped: '2024-07-15 12:00', paid: '2024-07-15 12:00' };
    const event = rowToEvent('imp', 'line 2', row, zoned);
    expect(event.occurredAt?.toISOString()).toBe('2024-07-15T10:00:00.000Z');
    expect(event.properties).toEqual({ shipped: '2024-07-15T10:00:00.000Z', paid: '2024-07-15T16:00:00.000Z' });
  });
});

describe('rowToEvent', () => {
  it('maps columns and dot paths into typed, nested properties', () => {
    const event = rowToEvent(
      'imp',
      'line 2',
      { user: 'u1', price: '3', meta: { city: 'Oslo' }, at: '2024-01-02T03:04:05Z' },
      {
        profileId: 'user',
        time: 'at',
        properties: { 'order.price': { from: 'price', type: 'number' }, city: 'meta.city', missing: 'nope' },
      },
    );
    expect(event).toEqual({
      id: derivedId('imp', 'event', 'line 2'),
      profileId: 'u1',
      sessionId: derivedId('imp', 'session', 'u1'),
      occurredAt: new Date('2024-01-02T03:04:05.000Z'),
      properties: { order: { price: 3 }, city: 'Oslo' },
    });
  });

  it('keeps every column without a property mapping, and makes a person of a row without a profile', () => {
    const event = rowToEvent('imp', 'key 9', { a: '1', b: 'x' }, {});
    expect(event.properties).toEqual({ a: '1', b: 'x' });
    expect(event.profileId).toBe(derivedId('imp', 'profile', 'key 9'));
    expect(event.occurredAt).toBeUndefined();
  });

  it('writes a "__proto__" or "constructor" key as data, never into a prototype', () => {
    const event = rowToEvent(
      'imp',
      'line 2',
      { a: '1' },
      { properties: { '__proto__.polluted': 'a', 'constructor.prototype.polluted': 'a' } },
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(event.properties)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(event.properties))).toEqual(
      JSON.parse('{"__proto__": {"polluted": "1"}, "constructor": {"prototype": {"polluted": "1"}}}'),
    );
  });

  it('never cuts or pads a JSON list whose "length" a path writes', () => {
    const mapping = { properties: { list: { from: 'l', type: 'json' as const }, 'list.length': 'n' } };
    for (const n of ['0', '5'])
      expect(() => rowToEvent('imp', 'line 2', { l: '[1,2,3]', n }, mapping)).toThrow('Cannot redefine property');
  });

  it('rejects a row missing a required value', () => {
    expect(() => rowToEvent('imp', 'line 3', { a: '' }, { properties: { a: { from: 'a', required: true } } })).toThrow(
      'properties.a: "a" is missing or empty',
    );
  });

  it("takes the event's type from the row where the mapping says, as text, leaving it out where the row has none", () => {
    const mapping = { type: 'kind', properties: {} };
    expect(rowToEvent('imp', 'line 2', { kind: 'Page View' }, mapping).type).toBe('Page View');
    expect(rowToEvent('imp', 'line 3', { kind: 7 }, mapping).type).toBe('7');
    for (const kind of ['', null, undefined])
      expect(rowToEvent('imp', 'line 4', { kind }, mapping)).not.toHaveProperty('type');
    expect(rowToEvent('imp', 'line 5', { kind: 'x' }, {})).not.toHaveProperty('type');
    expect(() => rowToEvent('imp', 'line 6', { kind: { a: 1 } }, mapping)).toThrow('type: expected text');
    expect(rowToEvent('imp', 'line 7', { a: 'signup' }, { type: { template: 'user-{{a}}' } }).type).toBe('user-signup');
  });

  it("maps the event's context by dot path, as properties, and gives none where the mapping maps none", () => {
    const row = { url: 'https://shop.example/?utm_source=mail', source: 'mail', at: '1', page: '{"title": "Home"}' };
    const mapping = {
      properties: {},
      context: {
        page: { from: 'page', type: 'json' as const },
        'page.url': 'url',
        'utm.source': 'source',
        'utm.medium': 'medium',
      },
    };
    expect(rowToEvent('imp', 'line 2', row, mapping).context).toEqual({
      page: { title: 'Home', url: 'https://shop.example/?utm_source=mail' },
      utm: { source: 'mail' },
    });
    expect(rowToEvent('imp', 'line 3', {}, mapping).context).toEqual({});
    expect(rowToEvent('imp', 'line 4', row, { properties: {} })).not.toHaveProperty('context');
    expect(() =>
      rowToEvent('imp', 'line 5', { n: 'x' }, { context: { 'screen.width': { from: 'n', type: 'number' } } }),
    ).toThrow('context.screen.width: expected a number, got "x"');
  });

  it('reads tags from a list, a JSON array in text, or text separated by commas, trimmed, each once', () => {
    const tags = (value: unknown, mapping: ImportMapping['tags'] = 'labels') =>
      rowToEvent('imp', 'line 2', { labels: value }, { properties: {}, tags: mapping }).tags;
    expect(tags('vip, newsletter,,vip ,  ')).toEqual(['vip', 'newsletter']);
    expect(tags('["a, b", " c ", "", null, 7, true]')).toEqual(['a, b', 'c', '7', 'true']);
    expect(tags(['x', 'y', 'x'])).toEqual(['x', 'y']);
    expect(tags(' solo ')).toEqual(['solo']);
    expect(tags(42)).toEqual(['42']);
    expect(tags('x', { template: '{{labels}},imported' })).toEqual(['x', 'imported']);
    for (const none of ['', ' ', ' , ', '[]', [], null, undefined]) expect(tags(none)).toBeUndefined();
    expect(rowToEvent('imp', 'line 3', { labels: 'a' }, { properties: {} })).not.toHaveProperty('tags');
  });

  it('rejects tags that are no list of text, naming the field, and a row without tags where they are required', () => {
    const tags =
      (value: unknown, mapping: ImportMapping['tags'] = 'labels') =>
      () =>
        rowToEvent('imp', 'line 2', { labels: value }, { properties: {}, tags: mapping });
    expect(tags('[a, b]')).toThrow('tags: expected a JSON array, or tags separated by commas, got "[a, b]"');
    expect(tags('["a"')).toThrow('tags: expected a JSON array, or tags separated by commas');
    expect(tags({ a: 1 })).toThrow('tags: expected a list, or text holding tags, got {"a":1}');
    expect(tags(['a', { b: 1 }])).toThrow('tags.1: expected text, got {"b":1}');
    expect(tags('[["a"]]')).toThrow('tags.0: expected text, got ["a"]');
    expect(tags(' , ', { from: 'labels', required: true })).toThrow('tags: "labels" is missing or empty');
  });
});

describe('templates', () => {
  it('fill {{column}} and {{dot.path}} placeholders, then take the type asked for', () => {
    const event = rowToEvent(
      'imp',
      'line 2',
      { first: 'Ada', last: 'Lovelace', n: { v: '4' }, gone: null },
      {
        properties: {
          name: { template: '{{first}} {{ last }}{{gone}}' },
          count: { template: '{{n.v}}2', type: 'number' },
        },
      },
    );
    expect(event.properties).toEqual({ name: 'Ada Lovelace', count: 42 });
  });

  it('make a JSON object of type json, nested objects and their closing braces included', () => {
    const template = '{"city": "{{city}}", "geo": {"lat": {{lat}}, "lon": {{lon}}}}';
    expect(templateProblem(template)).toBeUndefined();
    const event = rowToEvent(
      'imp',
      'line 2',
      { city: 'Paris', lat: '48.85', lon: '2.35' },
      { properties: { address: { template, type: 'json' } } },
    );
    expect(event.properties).toEqual({ address: { city: 'Paris', geo: { lat: 48.85, lon: 2.35 } } });
  });
});

describe('rowToProfile by an identity key', () => {
  const settings = { keys: ['pii.email'], placeholders: ['unknown'], maxMergeProfiles: 10 };
  const mapping = { identityKey: 'pii.email', pii: { email: 'mail' }, traits: { name: 'name' } };

  it('names the profile by the normalised value, the same however the value is written', () => {
    const ann = rowToProfile('imp', { mail: ' Ann@Example.com ', name: 'Ann' }, mapping, settings);
    expect(ann).toEqual({
      id: derivedId('imp', 'profile', 'pii.email', 'ann@example.com'),
      key: { key: 'pii.email', value: 'ann@example.com' },
      traits: { name: 'Ann' },
      pii: { email: ' Ann@Example.com ' },
    });
    expect(rowToProfile('imp', { mail: 'ANN@example.com' }, mapping, settings).id).toBe(ann.id);
  });

  it('rejects a row whose value identifies nobody', () => {
    for (const mail of ['', 'Unknown', undefined])
      expect(() => rowToProfile('imp', { mail, name: 'x' }, mapping, settings)).toThrow(RowRejected);
  });

  it('rejects a row whose value is too long to be an identity key, saying so', () => {
    const mail = `${'a'.repeat(501)}@example.com`;
    expect(rowToProfile('imp', { mail: mail.slice(1) }, mapping, settings).key?.value).toBe(mail.slice(1));
    expect(() => rowToProfile('imp', { mail }, mapping, settings)).toThrow(
      'pii.email: longer than 512 characters, the most an identity key holds',
    );
  });
});

describe('recordedRef', () => {
  it('keeps a line or a key up to an id long as it is', () => {
    expect(recordedRef('line 7')).toBe('line 7');
    expect(recordedRef(`key ${'k'.repeat(128)}`)).toBe(`key ${'k'.repeat(128)}`);
  });

  it('cuts a longer key, with its length and a hash that tells keys beginning alike apart', () => {
    const [a, b] = [`key ${'k'.repeat(3000)}a`, `key ${'k'.repeat(3000)}b`];
    expect(recordedRef(a)).toMatch(/^key k{96}… \(3005 characters, sha256 [0-9a-f]{16}\)$/);
    expect(recordedRef(a)).not.toBe(recordedRef(b));
    // Not inside a surrogate pair: its 100th code unit is the first half of the emoji.
    expect(recordedRef(`key ${'k'.repeat(95)}😀${'k'.repeat(200)}`)).toMatch(/^key k{95}… /);
  });
});
