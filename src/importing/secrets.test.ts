import { describe, expect, it } from 'vitest';
import { SecretBox } from './secrets.js';

describe('SecretBox', () => {
  const box = new SecretBox(SecretBox.generateKey());

  it('opens what it sealed, and the sealed text does not hold the secret', () => {
    const sealed = box.seal('s3cret-password');
    expect(sealed).not.toContain('s3cret');
    expect(box.open(sealed)).toBe('s3cret-password');
    expect(box.seal('same')).not.toBe(box.seal('same'));
  });

  it('refuses a tampered value and another key', () => {
    const sealed = Buffer.from(box.seal('secret'), 'base64');
    sealed[sealed.length - 1]! ^= 1;
    expect(() => box.open(sealed.toString('base64'))).toThrow();
    expect(() => new SecretBox(SecretBox.generateKey()).open(box.seal('secret'))).toThrow();
  });

  it('wants a 32-byte key', () => {
    expect(() => new SecretBox('c2hvcnQ=')).toThrow(/32 bytes/);
  });
});
