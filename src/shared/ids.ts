import { randomFillSync } from 'node:crypto';

/** Random bytes for 256 ids at a time: each call into OpenSSL has a fixed cost, which the pool spreads over /track's ids. */
const pool = Buffer.alloc(16 * 256);
let offset = pool.length;

/** The 48-bit timestamp field's range. */
const MAX_MILLISECONDS = 2 ** 48 - 1;

/**
 * A UUIDv7 (RFC 9562): `at`'s milliseconds since the epoch in the first 48 bits, 74 random bits after
 * the version and variant. Ids made around the same time sort together, so the B-trees they key
 * (events, sessions, profiles and the timelines that carry their ids) take new entries in a narrow,
 * cached stretch instead of on random pages all over a large index. The id shows when it was made.
 */
export function timeOrderedId(at: Date = new Date()): string {
  const milliseconds = at.getTime();
  if (!Number.isInteger(milliseconds) || milliseconds < 0 || milliseconds > MAX_MILLISECONDS) {
    throw new RangeError(`timeOrderedId: ${at.toString()} is outside a UUIDv7's time field`);
  }
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, (offset += 16)));
  bytes.writeUIntBE(milliseconds, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
