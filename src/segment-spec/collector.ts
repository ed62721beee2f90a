/**
 * Stores Segment calls through the collect entry, each with its own profile and session, in order;
 * an alias's merge follows its event. HTTP-free: the routes authenticate and read the request.
 */
import { DomainError } from '../shared/errors.js';
import type { EventSource, EventSourceRepository } from '../tracking/ports.js';
import type { CollectExtras, CollectOrigin } from '../tracking/tracker.js';
import type { MappedCall } from './segment.js';
import { sourceOfWriteKey } from './write-key.js';

export interface SegmentPorts {
  collect(payload: unknown, origin: CollectOrigin, extras: CollectExtras): Promise<unknown>;
  alias(previousId: string, userId: string): Promise<unknown>;
}

/** /track's names for a call's one event, as the Segment call names them. */
function segmentField(field: string): string {
  const path = field.replace(/^events\.0\.?/, '');
  if (path.startsWith('time')) return 'timestamp';
  if (path.startsWith('id')) return 'messageId';
  return path === '' ? 'body' : path;
}

/**
 * Stores the calls; `prefixes[i]` names call i in a problem (`batch.3.`). A call /track refuses is
 * `validation_failed` (Segment answers a malformed call with 400), naming the Segment field; the
 * calls before it are stored, and a client's retry stores them once by their messageId.
 */
export async function storeCalls(
  ports: SegmentPorts,
  calls: readonly MappedCall[],
  origin: CollectOrigin,
  prefixes: readonly string[],
): Promise<void> {
  for (const [index, call] of calls.entries()) {
    try {
      await ports.collect(call.payload, origin, { staticProfileId: true, profileMappings: () => call.profileMappings });
    } catch (error) {
      if (!(error instanceof DomainError) || !['invalid_events', 'validation_failed'].includes(error.code)) throw error;
      const details = error.details.map(({ field, message }) => ({
        field: `${prefixes[index] ?? ''}${segmentField(field)}`,
        message,
      }));
      throw new DomainError(
        'validation_failed',
        details.map(({ field, message }) => `${field}: ${message}`).join('; ') || error.message,
        details,
      );
    }
    if (call.merge) await ports.alias(call.merge.previousId, call.merge.userId);
  }
}

/**
 * The sources by write key, read at most every `ttlMs`, and at once after a change through this
 * process (`generation` moved: SourceCache's), so that a call does not pay a query for its key.
 */
export class WriteKeys {
  private cached: { at: number; generation: number; sources: EventSource[] } | undefined;

  constructor(
    private readonly repository: EventSourceRepository,
    private readonly generation: () => number,
    private readonly ttlMs = 2000,
    private readonly clock: () => number = Date.now,
  ) {}

  async source(writeKey: string): Promise<EventSource> {
    const cached = this.cached;
    const fresh = cached && cached.generation === this.generation() && this.clock() - cached.at <= this.ttlMs;
    if (!fresh)
      this.cached = { at: this.clock(), generation: this.generation(), sources: await this.repository.list() };
    const found = sourceOfWriteKey(this.cached!.sources, writeKey);
    if (!found)
      throw new DomainError('invalid_source', 'unknown write key', [
        { field: 'writeKey', message: 'unknown write key' },
      ]);
    return found;
  }
}
