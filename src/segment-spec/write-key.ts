/**
 * A `segment` event source's write key: what Segment clients send as their credential (HTTP Basic
 * user name, or `writeKey` in the body), and how a call finds its source by it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { DomainError } from '../shared/errors.js';
import type { EventSource } from '../tracking/ports.js';

const WRITE_KEY = /^[A-Za-z0-9_.:-]{16,128}$/;

const invalid = (field: string, message: string) =>
  new DomainError('validation_failed', `${field}: ${message}`, [{ field, message }]);

/** A new write key: 32 URL-safe characters, 192 random bits. */
export const newWriteKey = (): string => randomBytes(24).toString('base64url');

/** A `segment` source's config: `{writeKey}`, made when absent; anything else is refused by name. */
export function segmentSourceConfig(config: Record<string, unknown>): { writeKey: string } {
  const unknown = Object.keys(config).find((key) => key !== 'writeKey');
  if (unknown !== undefined) throw invalid(`config.${unknown}`, 'a segment source takes only writeKey');
  const { writeKey } = config;
  if (writeKey === undefined) return { writeKey: newWriteKey() };
  if (typeof writeKey !== 'string' || !WRITE_KEY.test(writeKey))
    throw invalid('config.writeKey', 'expected 16 to 128 letters, digits or _ . : -');
  return { writeKey };
}

const sameKey = (a: string, b: string) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

/** The enabled `segment` source holding the write key; undefined for an unknown key. */
export function sourceOfWriteKey(sources: readonly EventSource[], writeKey: string): EventSource | undefined {
  return sources.find(
    (source) =>
      source.type === 'segment' &&
      source.enabled &&
      typeof source.config.writeKey === 'string' &&
      sameKey(source.config.writeKey, writeKey),
  );
}

/** The write key of an HTTP Basic credential (`base64(writeKey:)`); undefined when it is not one. */
export function writeKeyOfBasic(authorization: string | undefined): string | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const user = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : decoded;
  return user === '' ? undefined : user;
}
