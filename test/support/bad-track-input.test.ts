import { describe, expect, it } from 'vitest';
import { createBadInputGenerator, namesField, type GeneratedRequest } from './bad-track-input.js';
import { mulberry32 } from './random.js';

const OPTIONS = { sourceId: 'source-1', maxPayloadBytes: 4096 };
const generateRun = (seed: number, count: number): GeneratedRequest[] => {
  const generate = createBadInputGenerator(mulberry32(seed), OPTIONS);
  return Array.from({ length: count }, (_, n) => generate(n));
};
const parses = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

/** The reliability suite trusts what each generated request says about itself; these check that it holds. */
describe('the bad /track input generator', () => {
  const run = generateRun(42, 600);

  it('repeats a run from its seed, and another seed gives another run', () => {
    expect(generateRun(42, 600)).toEqual(run);
    expect(generateRun(43, 600)).not.toEqual(run);
  });

  it('makes every kind of request, good ones included', () => {
    const kinds = new Set(run.map((request) => request.mutation));
    expect([...kinds].sort()).toEqual([
      'bad-date',
      'bad-string',
      'content-type',
      'deep',
      'good',
      'oversize',
      'prototype-key',
      'truncated',
      'unknown-source',
      'wrong-type-event',
      'wrong-type-request',
    ]);
  });

  it('gives every field of the payload a wrong type, whatever the seed', () => {
    const fields = new Set(
      generateRun(7, 600)
        .filter((request) => request.mutation.startsWith('wrong-type'))
        .map((request) => request.fields[0]!.replace(/^events\.\d+/, 'events.N')),
    );
    for (const field of [
      'source',
      'source.id',
      'session.id',
      'profile.id',
      'device.id',
      'context',
      'events',
      'options.saveProfile',
      'events.N',
      'events.N.type',
      'events.N.id',
      'events.N.tags.0',
      'events.N.time',
    ]) {
      expect(fields).toContain(field);
    }
  });

  it('sends good requests as the JSON they claim, with their event ids and the source', () => {
    for (const request of run.filter((item) => item.mutation === 'good')) {
      const body = JSON.parse(request.body) as {
        source: { id: string };
        events: { id: string; properties: { marker: string } }[];
      };
      expect(body.source.id).toBe('source-1');
      expect(body.events.map((event) => event.id)).toEqual(request.eventIds);
      expect(body.events.map((event) => event.properties.marker)).toEqual(request.eventIds);
      expect(request.expected).toEqual({ kind: 'stored' });
    }
  });

  it('truncates into invalid JSON, goes over the size limit, and writes prototype keys and deep nesting as raw JSON', () => {
    for (const request of run) {
      if (request.mutation === 'truncated') expect(parses(request.body)).toBe(false);
      if (request.mutation === 'oversize')
        expect(Buffer.byteLength(request.body)).toBeGreaterThan(OPTIONS.maxPayloadBytes);
      if (request.mutation === 'prototype-key') expect(request.body).toMatch(/"(__proto__|constructor)":\{/);
      if (request.mutation === 'deep') expect(request.body).toMatch(/"leaf"/);
      if (request.mutation === 'bad-string') expect(request.body).toMatch(/\\u(0000|d[89a-f][0-9a-f]{2})/);
    }
  });

  it('relates a named field to the one that is wrong: the same, one inside it, or one it sits in', () => {
    expect(namesField('events.0.time', 'events.0.time')).toBe(true);
    expect(namesField('events.0', 'events.0.time')).toBe(true);
    expect(namesField('events.0.time.create', 'events.0.time')).toBe(true);
    expect(namesField('events.0.type', 'events.0.time')).toBe(false);
    expect(namesField('events.1', 'events.10')).toBe(false);
    expect(namesField('context', 'properties.q')).toBe(false);
  });
});
