import { describe, expect, it } from 'vitest';
import { ignoredContextFields, sessionFacts } from './enrich.js';
import { checkEvent, normalizeEventType } from './payload.js';

const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';

describe('sessionFacts', () => {
  it('reads device, OS and browser from the user agent', () => {
    const facts = sessionFacts({ userAgent: IPHONE });
    expect(facts.device).toMatchObject({ type: 'mobile', vendor: 'Apple', model: 'iPhone' });
    expect(facts.os).toMatchObject({ name: 'iOS' });
    expect(facts.app).toMatchObject({ type: 'browser', name: 'Mobile Safari' });
  });

  it("takes the user agent from Tracardi's tracker context when there is no header", () => {
    const facts = sessionFacts({
      context: { browser: { local: { browser: { userAgent: IPHONE, language: 'pl-PL' } } } },
    });
    expect(facts.os).toMatchObject({ name: 'iOS' });
    expect(facts.app).toMatchObject({ language: 'pl-PL' });
  });

  it.each([
    ['an object', { toString: 'x' }],
    ['a number', 42],
    ['a list', ['Mozilla/5.0']],
    ['true', true],
  ])('ignores %s where the context should hold text, and names what it ignored', (_name, value) => {
    const context = {
      browser: { local: { browser: { userAgent: value, language: value } } },
      time: { tz: value },
      timezone: value,
    };
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
    expect(
      ignoredContextFields({
        browser: { local: { browser: { userAgent: IPHONE, language: null } } },
        time: { tz: 'Europe/Warsaw' },
      }),
    ).toEqual([]);
    expect(ignoredContextFields(undefined)).toEqual([]);
    expect(sessionFacts({ context: { time: { tz: 'Europe/Warsaw' } } }).context['timezone']).toBe('Europe/Warsaw');
  });

  it('prefers an explicit context.utm over the page URL', () => {
    expect(
      sessionFacts({ context: { utm: { source: 'x' }, page: { url: 'https://a/?utm_source=y' } } }).context['utm'],
    ).toEqual({ source: 'x' });
    expect(sessionFacts({ context: { page: { url: 'https://a/?utm_medium=cpc' } } }).context['utm']).toEqual({
      medium: 'cpc',
    });
    expect(sessionFacts({ context: { page: { url: 'not a url' } } }).context['utm']).toBeUndefined();
    // Only the query string counts: not the fragment, not a path that merely mentions utm_.
    expect(
      sessionFacts({ context: { page: { url: 'https://a/utm_source=x#utm_source=y' } } }).context['utm'],
    ).toBeUndefined();
    expect(sessionFacts({ context: { page: { url: 'https://a/p#x?utm_source=y' } } }).context['utm']).toBeUndefined();
  });
});

describe("sessionFacts from Tracardi 0.9's browser tracker", () => {
  const HEADLESS_CHROME =
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
  const trackerContext = {
    time: { local: '2026-12-04T17:55:50.994Z', tz: 'Europe/Berlin' },
    browser: {
      local: { browser: { userAgent: HEADLESS_CHROME, language: 'en-US' }, device: { platform: 'Linux x86_64' } },
    },
    screen: { local: { width: 1280, height: 720, colorDepth: 24, pixelDepth: 24, orientation: 'landscape-primary' } },
    storage: { local: { 'tracardi-device-id': '"441c678e"' } },
  };
  const page = { url: 'http://shop.example.test/?utm_source=mail&utm_campaign=winter', path: '/', title: 'Test page' };

  it("reads the screen at context.screen.local as Tracardi's resolution, colour depth and orientation", () => {
    const facts = sessionFacts({ context: trackerContext, deviceId: '441c678e' });
    expect(facts.device).toEqual({
      id: '441c678e',
      type: 'desktop',
      resolution: '1280x720',
      color_depth: 24,
      orientation: 'landscape-primary',
    });
    expect(facts.context['screen']).toMatchObject({ width: 1280, height: 720 });
    expect(facts.context['timezone']).toBe('Europe/Berlin');
    expect(facts.os).toEqual({ name: 'Linux' });
    expect(facts.app).toMatchObject({ type: 'browser', language: 'en-US', userAgent: HEADLESS_CHROME });
  });

  it("takes the page, and its UTM parameters, from the first event's context when the request has none", () => {
    const facts = sessionFacts({
      context: trackerContext,
      eventContexts: [null, { performance: {} }, { page }, { page: { url: 'http://other/' } }],
    });
    expect(facts.context['page']).toEqual(page);
    expect(facts.context['utm']).toEqual({ source: 'mail', campaign: 'winter' });
    expect(
      sessionFacts({ context: { ...trackerContext, page: { url: 'http://a/' } }, eventContexts: [{ page }] }).context[
        'page'
      ],
    ).toEqual({ url: 'http://a/' });
  });

  it("prefers the browser's own user agent to the request header, which may name a relaying server", () => {
    const facts = sessionFacts({ userAgent: 'node-fetch/1.0', context: trackerContext });
    expect(facts.app).toMatchObject({ userAgent: HEADLESS_CHROME, name: 'Chrome Headless' });
    expect(
      sessionFacts({ userAgent: IPHONE, context: { browser: { local: { browser: { userAgent: '' } } } } }).os,
    ).toMatchObject({ name: 'iOS' });
  });

  it("keeps the tracker's location as Tracardi's device.geo", () => {
    const location = { country: { name: 'Germany', code: 'DE' }, city: 'Berlin', latitude: 52.52, longitude: 13.4 };
    expect(sessionFacts({ context: { location } }).device).toEqual({ geo: location });
    expect(sessionFacts({ context: { location: 'Berlin' } }).device).toEqual({});
  });

  it('leaves out screen facts it cannot read, and never fails on them', () => {
    const odd = sessionFacts({
      context: { screen: { local: { width: 'wide', colorDepth: 'deep', orientation: 90 } } },
    });
    expect(odd.device).toEqual({});
    expect(
      sessionFacts({ context: { screen: { local: { width: '800', height: 600, colorDepth: '16' } } } }).device,
    ).toEqual({ resolution: '800x600', color_depth: 16 });
    expect(sessionFacts({ context: { screen: 'big', browser: 7 } })).toEqual({
      device: {},
      os: {},
      app: {},
      context: {},
    });
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
    expect(checkEvent({ type: 'a', time: '2026-01-01T00:00:00Z' }, 0, now)).toMatchObject({
      time: new Date('2026-01-01T00:00:00Z'),
    });
  });
});
