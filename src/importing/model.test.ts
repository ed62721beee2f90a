import { describe, expect, it } from 'vitest';
import type { DomainError } from '../shared/errors.js';
import { checkDraft, fileImportId, type FileSource, type ImportDraft } from './model.js';

const csv: FileSource = {
  kind: 'csv',
  path: '/data/orders.csv',
  header: true,
  delimiter: ',',
  quote: '"',
  encoding: 'utf-8',
};
const draft: ImportDraft = {
  name: 'file orders.csv',
  source: csv,
  eventSourceId: 'history',
  eventType: 'purchase',
  mapping: { profileId: 'email' },
};

/** What checkDraft names as wrong with a mapping, nothing when it saves. */
const problems = (mapping: ImportDraft['mapping']) => {
  try {
    checkDraft({ ...draft, mapping });
    return [];
  } catch (error) {
    return (error as DomainError).details;
  }
};

describe('fileImportId', () => {
  it('is the same for the same file and settings, whatever the batch size or throttle', () => {
    const id = fileImportId(draft);
    expect(fileImportId({ ...draft, options: { batchSize: 100, rowsPerSecond: 50 } })).toBe(id);
    expect(fileImportId({ ...draft, target: 'events' })).toBe(id);
  });

  it('differs for another file, another way of reading it, other events, or another time zone', () => {
    const id = fileImportId(draft);
    const others: ImportDraft[] = [
      { ...draft, source: { ...csv, path: '/data/orders-2.csv' } },
      { ...draft, source: { ...csv, delimiter: ';' } },
      { ...draft, source: { ...csv, header: false } },
      { ...draft, source: { kind: 'jsonl', path: '/data/orders.csv', encoding: 'utf-8' } },
      { ...draft, eventSourceId: 'other' },
      { ...draft, eventType: 'refund' },
      { ...draft, target: 'profiles' },
      { ...draft, mapping: { profileId: 'email', time: 'at' } },
      { ...draft, mapping: {} },
      { ...draft, options: { timeZone: 'Europe/Warsaw' } },
    ];
    expect(new Set([id, ...others.map(fileImportId)]).size).toBe(others.length + 1);
  });
});

describe('checkDraft', () => {
  it('names a date format that cannot read a date, where it is read as one', () => {
    expect(
      problems({
        time: { from: 'at', format: 'DD/MM hh:mm' },
        properties: { due: { from: 'due', type: 'date', format: 'epoch_ms' }, note: { from: 'n', format: 'x' } },
      }),
    ).toEqual([
      { field: 'mapping.time.format', message: 'expected iso, epoch, epoch-ms, or a pattern with YYYY' },
      { field: 'mapping.properties.due.format', message: 'expected iso, epoch, epoch-ms, or a pattern with YYYY' },
    ]);
    expect(problems({ time: { from: 'at', format: 'YYYY-MM-DD hh:mm:ss.SSS A ZZ' } })).toEqual([]);
  });
});

describe('checkDraft of the paths a mapping writes', () => {
  it('refuses a key that reaches into a prototype, and an empty key', () => {
    expect(
      problems({
        properties: {
          '__proto__.polluted': 'a',
          'constructor.prototype.x': 'b',
          'a..b': 'c',
          '.x': 'd',
          'x.prototype': 'e',
        },
      }),
    ).toEqual([
      { field: 'mapping.properties.__proto__.polluted', message: 'key "__proto__" is not allowed' },
      { field: 'mapping.properties.constructor.prototype.x', message: 'key "constructor" is not allowed' },
      { field: 'mapping.properties.a..b', message: 'expected a dot path of keys that are not empty (order.id)' },
      { field: 'mapping.properties..x', message: 'expected a dot path of keys that are not empty (order.id)' },
      { field: 'mapping.properties.x.prototype', message: 'key "prototype" is not allowed' },
    ]);
  });

  it('refuses a path inside another mapped one, unless that one is JSON to lay it into', () => {
    expect(problems({ properties: { order: 'id', 'order.id': 'email' } })).toEqual([
      {
        field: 'mapping.properties.order.id',
        message:
          'goes inside "order", which is mapped to a value of its own: map one of the two, or make "order" of type json',
      },
    ]);
    expect(problems({ properties: { order: { from: 'o', type: 'json' }, 'order.id': 'id', orders: 'x' } })).toEqual([]);
    // Inside a JSON object, yet inside a value of its own too.
    expect(
      problems({ properties: { order: { from: 'o', type: 'json' }, 'order.id': 'id', 'order.id.x': 'x' } }),
    ).toEqual([
      {
        field: 'mapping.properties.order.id.x',
        message:
          'goes inside "order.id", which is mapped to a value of its own: map one of the two, or make "order.id" of type json',
      },
    ]);
  });
});

describe('checkDraft of the options', () => {
  it('refuses a throttle that is not a finite number above 0', () => {
    for (const rowsPerSecond of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => checkDraft({ ...draft, options: { rowsPerSecond } })).toThrow(
        'options.rowsPerSecond: expected a number > 0',
      );
    expect(() => checkDraft({ ...draft, options: { rowsPerSecond: 0.5 } })).not.toThrow();
  });
});

describe('checkDraft of templates', () => {
  it('refuses a placeholder mistyped, which every row would get as it is', () => {
    const message = 'a {{ or }} that is not part of a placeholder: expected {{column}} or {{dot.path}}';
    expect(
      problems({
        profileId: { template: 'u-{{id}' },
        properties: { a: { template: '{{ }}' }, b: { template: '{{first}} {{last' }, c: { template: 'x}}' } },
      }),
    ).toEqual([
      { field: 'mapping.profileId.template', message },
      { field: 'mapping.properties.a.template', message },
      { field: 'mapping.properties.b.template', message },
      { field: 'mapping.properties.c.template', message },
    ]);
    expect(problems({ properties: { name: { template: '{{first}} {{ user.last }}, since 2024' } } })).toEqual([]);
  });

  it('takes the braces a template writes as text, such as the nested objects of a JSON template', () => {
    expect(
      problems({
        properties: {
          address: { template: '{"city": "{{city}}", "geo": {"lat": {{lat}}, "lon": {{lon}}}}', type: 'json' },
          set: { template: '{a, {b}} {{c}}' },
        },
      }),
    ).toEqual([]);
    const message = 'a {{ or }} that is not part of a placeholder: expected {{column}} or {{dot.path}}';
    expect(problems({ properties: { a: { template: '{id}}' }, b: { template: '{"a": {{x}}}}' } } })).toEqual([
      { field: 'mapping.properties.a.template', message },
      { field: 'mapping.properties.b.template', message },
    ]);
  });
});

describe('checkDraft of what a mapping cannot do', () => {
  const refused = (changes: Partial<ImportDraft>) => {
    try {
      checkDraft({ ...draft, ...changes });
      return [];
    } catch (error) {
      return (error as DomainError).details.map(({ field }) => field);
    }
  };

  it('refuses the fields its target never reads, rather than save them to be ignored', () => {
    expect(
      refused({ mapping: { profileId: 'id', traits: { a: 'a' }, pii: { b: 'b' }, identityKey: 'pii.b' } }),
    ).toEqual(['mapping.traits', 'mapping.pii', 'mapping.identityKey']);
    expect(
      refused({ target: 'profiles', mapping: { profileId: 'id', sessionId: 's', time: 't', properties: { a: 'a' } } }),
    ).toEqual(['mapping.sessionId', 'mapping.time', 'mapping.properties']);
    expect(
      refused({ source: { kind: 'tracardi', path: '/d/profiles.ndjson', index: 'profile' }, mapping: { time: 't' } }),
    ).toEqual(['mapping.time']);
    expect(refused({ target: 'profiles', mapping: { identityKey: 'pii.email', traits: { a: 'a' }, pii: {} } })).toEqual(
      [],
    );
  });

  it("takes an event's context and tags for events, and refuses them where rows set profiles", () => {
    const mapping = { profileId: 'id', context: { 'page.url': 'url' }, tags: { from: 'labels', required: true } };
    expect(refused({ mapping })).toEqual([]);
    expect(refused({ target: 'profiles', mapping })).toEqual(['mapping.context', 'mapping.tags']);
    expect(problems({ ...mapping, tags: 'labels' })).toEqual([]);
    expect(() => checkDraft({ ...draft, target: 'profiles', mapping })).toThrow(
      'mapping.tags: is for rows imported as events (target events); a profiles import reads profileId or identityKey, traits and pii',
    );
  });

  it('checks the paths of a context, and tags and their templates, as it checks the fields of properties', () => {
    expect(
      problems({
        context: { page: 'p', 'page.url': 'url', 'utm..source': 's', '__proto__.x': 'x' },
        tags: { template: '{{segment}},{{plan}' },
      }),
    ).toEqual([
      {
        field: 'mapping.context.page.url',
        message:
          'goes inside "page", which is mapped to a value of its own: map one of the two, or make "page" of type json',
      },
      { field: 'mapping.context.utm..source', message: 'expected a dot path of keys that are not empty (order.id)' },
      { field: 'mapping.context.__proto__.x', message: 'key "__proto__" is not allowed' },
      {
        field: 'mapping.tags.template',
        message: 'a {{ or }} that is not part of a placeholder: expected {{column}} or {{dot.path}}',
      },
    ]);
    expect(problems({ tags: { from: 'labels', type: 'json' } })).toEqual([
      {
        field: 'mapping.tags.type',
        message:
          'tags are a list, or text holding a JSON array or comma-separated tags: expected string, or leave it out',
      },
    ]);
    expect(
      problems({ tags: { from: 'labels', type: 'string' }, context: { page: { from: 'p', type: 'json' } } }),
    ).toEqual([]);
  });

  it('requires an event source and type of imports that store events, and neither of those that store none', () => {
    const { eventSourceId: _source, eventType: _type, ...unnamed } = draft;
    const refusedUnnamed = (changes: Partial<ImportDraft>) => {
      try {
        checkDraft({ ...unnamed, ...changes });
        return [];
      } catch (error) {
        return (error as DomainError).details.map(({ field }) => field);
      }
    };
    const tracardi = (index: 'profile' | 'session' | 'event') =>
      ({ source: { kind: 'tracardi', path: '/d/dump.ndjson', index }, mapping: {} }) as const;
    expect(refusedUnnamed({})).toEqual(['eventSourceId', 'eventType']);
    expect(refusedUnnamed({ target: 'events', eventSourceId: 'history' })).toEqual(['eventType']);
    expect(refusedUnnamed({ target: 'profiles' })).toEqual([]);
    expect(refusedUnnamed(tracardi('profile'))).toEqual([]);
    expect(refusedUnnamed(tracardi('session'))).toEqual([]);
    expect(refusedUnnamed(tracardi('event'))).toEqual(['eventSourceId']);
    expect(refusedUnnamed({ ...tracardi('event'), eventSourceId: 'history' })).toEqual([]);
  });

  it('refuses a time zone Intl does not know, or one no time of its field could be in, naming the field', () => {
    const unknown =
      'unknown time zone "Europe/Warszawa": expected an IANA name such as Europe/Warsaw, America/New_York or UTC';
    expect(problems({ time: { from: 'at', timeZone: 'Europe/Warsaw' } })).toEqual([]);
    expect(problems({ time: { from: 'at', format: 'DD.MM.YYYY HH:mm', timeZone: 'Europe/Warsaw' } })).toEqual([]);
    expect(problems({ properties: { at: { from: 'at', type: 'date', timeZone: 'UTC' } } })).toEqual([]);
    expect(problems({ time: { from: 'at', timeZone: 'Europe/Warszawa' } })).toEqual([
      { field: 'mapping.time.timeZone', message: unknown },
    ]);
    expect(problems({ properties: { 'order.at': { from: 'at', timeZone: 'Europe/Warsaw' } } })).toEqual([
      {
        field: 'mapping.properties.order.at.timeZone',
        message: 'a time zone is for dates: give type date, or leave timeZone out',
      },
    ]);
    expect(problems({ time: { from: 'at', format: 'epoch', timeZone: 'Europe/Warsaw' } })).toEqual([
      { field: 'mapping.time.timeZone', message: 'epoch times are instants, in no time zone: leave timeZone out' },
    ]);
    expect(problems({ time: { from: 'at', format: 'YYYY-MM-DD HH:mm Z', timeZone: 'Europe/Warsaw' } })).toEqual([
      {
        field: 'mapping.time.timeZone',
        message: 'the pattern reads each time with its offset (Z or ZZ): leave timeZone out, or the offset',
      },
    ]);
    const optionsProblems = (changes: Partial<ImportDraft>) => {
      try {
        checkDraft({ ...draft, ...changes });
        return [];
      } catch (error) {
        return (error as DomainError).details;
      }
    };
    expect(optionsProblems({ options: { timeZone: 'America/New_York' } })).toEqual([]);
    expect(optionsProblems({ options: { timeZone: 'Europe/Warszawa' } })).toEqual([
      { field: 'options.timeZone', message: unknown },
    ]);
    expect(
      optionsProblems({
        source: { kind: 'tracardi', path: '/d/events.ndjson', index: 'event' },
        mapping: {},
        options: { timeZone: 'Europe/Warsaw' },
      }),
    ).toEqual([
      {
        field: 'options.timeZone',
        message: "a Tracardi export's times are read as Tracardi wrote them (UTC): leave options.timeZone out",
      },
    ]);
  });

  it('refuses a time of another type than date, and says how a pattern writes the year and day', () => {
    expect(problems({ time: { from: 'at', type: 'number' } })).toEqual([
      {
        field: 'mapping.time.type',
        message: 'the time is a date: leave type out (format epoch reads seconds, epoch-ms milliseconds)',
      },
    ]);
    expect(problems({ time: { from: 'at', type: 'date', format: 'epoch' } })).toEqual([]);
    expect(problems({ time: { from: 'at', format: 'dd/MM/yyyy' } })).toEqual([
      {
        field: 'mapping.time.format',
        message:
          'expected iso, epoch, epoch-ms, or a pattern with YYYY: the year is YYYY and the day DD, in capitals (DD/MM/YYYY)',
      },
    ]);
  });
});
