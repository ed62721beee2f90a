import { describe, expect, it } from 'vitest';
import { ignoredContextFields, sessionFacts } from './enrich.js';
import { checkEvent, normalizeEventType } from './payload.js';

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';

describe('sessionFacts', () => {
  it('reads device, OS and browser from the user agent', () => {
    const facts = sessionFacts({ userAgent: IPHONE });
    expect(facts.device).toMatchObject({ type: 'mobile', vendor: 'Apple', model: 'iPhone' });
    expect(facts.os).toMatchObject({ name: 'iOS' });
    expect(facts.app).toMatchObject({ type: 'browser', name: 'Mobile Safari' });
  });

  it("takes the user agent from Tracardi's tracker context when there is no header", () => {
    const facts = sessionFacts({ context: { browser: { local: { browser: { userAgent: IPHONE, language: 'pl-PL' } } } } });
    expect(facts.os).toMatchObject({ name: 'iOS' });
    expect(facts.app).toMatchObject({ language: 'pl-PL' });
  });

  it.each([
    ['an object', { toString: 'x' }],
    ['a number', 42],
    ['a list', ['Mozilla/5.0']],
    ['true', true],
  ])('ignores %s where the context should hold text, and names what it ignored', (_name, value) => {
    const context = { browser: { local: { browser: { userAgent: value, language: value } } }, time: { tz: value }, timezone: value };
    const facts = sessionFacts({ context, language: 'de-DE' });
    expect(facts.app).toEqual({ language: 'de-DE' });
    expect(facts.os).toEqual({});
    expect(facts.context['timezone']).toBeUndefined();
    expect(ignoredContextFields(context)).toEqual([
      'context.browser.local.browser.userAgent: expected a string, ignored',
      'context.browser.local.browser.language: expected a string, ignored',
      'context.time.tz: expected a string, ignored',
      'context.timezone: expected a string, ignored',
    ]);
  });

  it('has nothing to say about text, null or missing context fields', () => {
    expect(ignoredContextFields({ browser: { local: { browser: { userAgent: IPHONE, language: null } } }, time: { tz: 'Europe/Warsaw' } })).toEqual([]);
    expect(ignoredContextFields(undefined)).toEqual([]);
    expect(sessionFacts({ context: { time: { tz: 'Europe/Warsaw' } } }).context['timezone']).toBe('Europe/Warsaw');
  });

  it('prefers an explicit context.utm over the page URL', () => {
    expect(sessionFacts({ context: { utm: { source: 'x' }, page: { url: 'https://a/?utm_source=y' } } }).context['utm']).toEqual({ source: 'x' });
    expect(sessionFacts({ context: { page: { url: 'https://a/?utm_medium=cpc' } } }).context['utm']).toEqual({ medium: 'cpc' });
    expect(sessionFacts({ context: { page: { url: 'not a url' } } }).context['utm']).toBeUndefined();
  });
});

describe('payload checks', () => {
  it('normalises event types as Tracardi does', () => {
    expect(normalizeEventType('  Page   View ')).toBe('page-view');
    expect(normalizeEventType('Add To Cart')).toBe('add-to-cart');
  });

  it('names the field of a bad event with its index', () => {
    const now = new Date();
    expect(checkEvent({ type: '' }, 3, now)).toMatchObject({ index: 3, field: 'events.3.type' });
    expect(checkEvent({ type: 'a', tags: [1] }, 0, now)).toMatchObject({ field: 'events.0.tags.0' });
    expect(checkEvent('nope', 1, now)).toMatchObject({ field: 'events.1' });
    expect(checkEvent({ type: 'a', time: '2026-01-01T00:00:00Z' }, 0, now)).toMatchObject({ time: new Date('2026-01-01T00:00:00Z') });
  });
});
