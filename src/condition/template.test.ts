import { describe, expect, it } from 'vitest';
import { DotPathError } from './dot.js';
import { parseTemplateKey, renderObjectTemplate, renderStringTemplate } from './template.js';

const context = { profile: { traits: { name: 'Ann', tags: ['a'] }, stats: { visits: 0 } }, event: { type: 'buy' } };

describe('string templates', () => {
  it('replaces paths, rendering objects as JSON', () => {
    expect(
      renderStringTemplate(
        'Hi {{profile@traits.name}}, {{ event@type }} {{profile@traits.tags}} {{profile@stats.visits}}',
        context,
      ),
    ).toBe('Hi Ann, buy ["a"] 0');
  });

  it('renders missing paths as empty (or as asked) and leaves unclosed braces alone', () => {
    expect(renderStringTemplate('[{{profile@nope}}]', context)).toBe('[]');
    expect(renderStringTemplate('[{{profile@nope}}]', context, { missing: '?' })).toBe('[?]');
    expect(renderStringTemplate('a {{ b', context)).toBe('a {{ b');
  });
});

describe('object templates', () => {
  it('replaces path leaves and keeps other values', () => {
    expect(
      renderObjectTemplate({ name: 'profile@traits.name', fixed: 'text', n: 1, list: ['event@type', 2] }, context),
    ).toEqual({
      name: 'Ann',
      fixed: 'text',
      n: 1,
      list: ['buy', 2],
    });
  });

  it('drops optional keys that are missing or empty, and throws for required ones', () => {
    expect(renderObjectTemplate({ 'email?': 'profile@traits.email', name: 'profile@traits.name' }, context)).toEqual({
      name: 'Ann',
    });
    expect(() => renderObjectTemplate({ email: 'profile@traits.email' }, context)).toThrow(DotPathError);
    expect(renderObjectTemplate({ email: 'profile@traits.email' }, context, { default: 'n/a' })).toEqual({
      email: 'n/a',
    });
  });

  it('keeps a "__proto__" key as data', () => {
    const rendered = renderObjectTemplate(JSON.parse('{"__proto__": {"x": 1}}'), context) as Record<string, unknown>;
    expect(Object.getPrototypeOf(rendered)).toBe(Object.prototype);
    expect(Object.keys(rendered)).toEqual(['__proto__']);
  });

  it('parses keys: optional marker and escapes', () => {
    expect(parseTemplateKey('a?')).toEqual({ key: 'a', optional: true });
    expect(parseTemplateKey('a\\?')).toEqual({ key: 'a?', optional: false });
    expect(parseTemplateKey('source.id')).toEqual({ key: 'source.id', optional: false });
  });
});
