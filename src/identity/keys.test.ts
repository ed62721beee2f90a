import { describe, expect, it } from 'vitest';
import { identityKeys, normaliseValue, writePath, type IdentitySettings } from './keys.js';

const settings: IdentitySettings = {
  keys: ['pii.email', 'data.contact.email.main', 'data.contact.phone.main', 'data.identifier.id'],
  placeholders: ['null', 'undefined', '0', 'unknown', 'test@test.com'],
  maxMergeProfiles: 10,
};

describe('identity key normalisation', () => {
  it('trims and lower-cases emails', () => {
    expect(normaliseValue('pii.email', '  Ann@Example.COM ', settings)).toBe('ann@example.com');
  });

  it('brings phones to E.164 when parseable, with the configured country for national numbers', () => {
    expect(normaliseValue('data.contact.phone.main', '+48 601 234 567', settings)).toBe('+48601234567');
    expect(normaliseValue('data.contact.phone.main', '601-234-567', { ...settings, phoneCountry: 'PL' })).toBe(
      '+48601234567',
    );
    expect(normaliseValue('data.contact.phone.main', '(12) 34-5', settings)).toBe('12345');
  });

  it('keeps other ids as given, numbers as their text', () => {
    expect(normaliseValue('data.identifier.id', ' CRM-7 ', settings)).toBe('CRM-7');
    expect(normaliseValue('data.identifier.id', 42, settings)).toBe('42');
  });

  it('refuses values that identify nobody', () => {
    for (const value of ['', '   ', 'null', 'UNDEFINED', '0', 0, 'Unknown', ' TEST@test.com', null, true, {}, NaN]) {
      expect(normaliseValue('pii.email', value, settings)).toBeUndefined();
    }
  });

  it('refuses values longer than an identity key holds, which its index could not take', () => {
    const longest = `${'a'.repeat(500)}@example.com`;
    expect(normaliseValue('pii.email', ` ${longest} `, settings)).toBe(longest);
    expect(normaliseValue('pii.email', `a${longest}`, settings)).toBeUndefined();
    expect(normaliseValue('data.contact.phone.main', '1'.repeat(513), settings)).toBeUndefined();
  });
});

describe('identity keys of a profile', () => {
  it('reads each configured path, a list giving one key per element, without repeats', () => {
    const profile = {
      pii: { email: 'A@x.io' },
      data: { contact: { email: { main: ['a@x.io ', 'b@x.io', 'unknown'] } }, identifier: { id: '' } },
    };
    expect(identityKeys(profile, settings)).toEqual([
      { key: 'pii.email', value: 'a@x.io' },
      { key: 'data.contact.email.main', value: 'a@x.io' },
      { key: 'data.contact.email.main', value: 'b@x.io' },
    ]);
  });

  it('writes a path, making the objects on the way', () => {
    const document: Record<string, unknown> = { pii: 'not an object' };
    writePath(document, 'pii.email', 'a@x.io');
    writePath(document, 'data.contact.phone.main', '+1');
    expect(document).toEqual({ pii: { email: 'a@x.io' }, data: { contact: { phone: { main: '+1' } } } });
  });
});
