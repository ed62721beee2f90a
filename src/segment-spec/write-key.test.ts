import { describe, expect, it } from 'vitest';
import type { EventSource } from '../tracking/ports.js';
import { segmentSourceConfig, sourceOfWriteKey, writeKeyOfBasic } from './write-key.js';

const source = (id: string, config: Record<string, unknown>, enabled = true, type = 'segment'): EventSource =>
  ({ id, name: id, description: '', enabled, type, config, createdAt: '', updatedAt: '' }) as EventSource;

describe('write keys', () => {
  it('makes a write key when none is configured, and keeps a valid one', () => {
    const made = segmentSourceConfig({}).writeKey;
    expect(made).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(segmentSourceConfig({}).writeKey).not.toBe(made);
    expect(segmentSourceConfig({ writeKey: 'abcdefghijklmnop' })).toEqual({ writeKey: 'abcdefghijklmnop' });
    expect(() => segmentSourceConfig({ writeKey: 'short' })).toThrow(/config.writeKey/);
    expect(() => segmentSourceConfig({ url: 'x' })).toThrow(/config.url/);
  });

  it('finds the enabled segment source of a key', () => {
    const sources = [
      source('rest', { writeKey: 'kkkkkkkkkkkkkkkk' }, true, 'rest'),
      source('off', { writeKey: 'kkkkkkkkkkkkkkkk' }, false),
      source('on', { writeKey: 'kkkkkkkkkkkkkkkk' }),
    ];
    expect(sourceOfWriteKey(sources, 'kkkkkkkkkkkkkkkk')?.id).toBe('on');
    expect(sourceOfWriteKey(sources, 'kkkkkkkkkkkkkkkx')).toBeUndefined();
  });

  it('reads the write key from HTTP Basic with an empty password', () => {
    expect(writeKeyOfBasic(`Basic ${Buffer.from('key123:').toString('base64')}`)).toBe('key123');
    expect(writeKeyOfBasic(`Basic ${Buffer.from(':').toString('base64')}`)).toBeUndefined();
    expect(writeKeyOfBasic('Bearer x')).toBeUndefined();
    expect(writeKeyOfBasic(undefined)).toBeUndefined();
  });
});
