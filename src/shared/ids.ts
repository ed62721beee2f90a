import { randomFillSync } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562): the generation time's milliseconds since the epoch in the first 48 bits, 74
 * random bits after the version and variant. Ids generated around the same time sort together, so the
 * B-trees they key (events, sessions, profiles and the timelines that carry their ids) take new
 * entries in a narrow, cached stretch instead of on random pages all over a large index.
 */
export function timeOrderedId(now: number = Date.now()): string {
  const bytes = randomFillSync(Buffer.alloc(16));
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
