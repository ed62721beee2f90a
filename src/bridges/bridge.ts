/**
 * A bridge: one event source of a broker kind, its adapter, and the handler that takes each message
 * through the collect entry. Stored → ack; refused (a DomainError: not JSON, fails /track's checks,
 * unknown source; or a value PostgreSQL cannot store) → dead letter with the reason; anything else (the store is down) → not now, after a
 * backoff, so the broker delivers it again without spinning.
 */
import type { CollectOrigin } from '../tracking/tracker.js';
import { DomainError } from '../shared/errors.js';
import { isUnstorableValue } from '../storage/unstorable.js';
import type { Logger } from '../shared/logger.js';
import { toTrackPayload, type BridgeMessage } from './message.js';
import type { BridgeAdapter, MessageHandler, Verdict } from './port.js';
import type { BridgeConfig } from './source-config.js';
import type { BridgeState } from './status.js';

/** The collect entry, as the bridges use it. */
export interface Collector {
  collect(payload: unknown, origin: CollectOrigin): Promise<{ errors: { index: number; message: string }[] }>;
}

export interface BridgeCounters {
  received: number;
  stored: number;
  deadLettered: number;
  /** Deliveries left for the broker to redeliver (the commit failed). */
  retried: number;
}

const MAX_BACKOFF_MS = 5_000;
const MAX_REASON_LENGTH = 2_000;

/** `code: message`, as a dead letter's reason; undefined for an error that may pass on another try. */
function refusalOf(error: unknown): string | undefined {
  let reason: string;
  if (error instanceof DomainError) reason = `${error.code}: ${error.message}`;
  else if (isUnstorableValue(error)) reason = `unstorable_value: ${error.message}`;
  else return undefined;
  return reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason;
}

export class Bridge {
  readonly counters: BridgeCounters = { received: 0, stored: 0, deadLettered: 0, retried: 0 };
  /** Why it last could not start or store (a dead letter is the message's fault, not the bridge's). */
  lastError: { message: string; at: Date } | undefined;
  readonly startedAt = new Date();
  private failures = 0;
  private started = false;

  constructor(
    readonly sourceId: string,
    readonly config: BridgeConfig,
    private readonly adapter: BridgeAdapter,
    private readonly collector: Collector,
    private readonly logger: Logger,
    private readonly backoffMs = 250,
  ) {}

  readonly handle: MessageHandler = async (message: BridgeMessage): Promise<Verdict> => {
    this.counters.received++;
    try {
      const answer = await this.collector.collect(toTrackPayload(message, this.sourceId, this.config), {
        channel: 'bridge',
      });
      this.failures = 0;
      this.counters.stored++;
      // The valid events of a message are stored, as /track stores them; the others are said here.
      if (answer.errors.length > 0)
        this.logger.warn({ brokerId: message.brokerId, errors: answer.errors }, 'events of a message refused');
      return 'ack';
    } catch (error) {
      const refusal = refusalOf(error);
      if (refusal !== undefined) {
        this.counters.deadLettered++;
        this.logger.warn({ brokerId: message.brokerId, reason: refusal }, 'dead letter');
        return { deadLetter: refusal };
      }
      this.counters.retried++;
      this.failures++;
      this.failed(error);
      this.logger.warn({ err: error, brokerId: message.brokerId }, 'not stored; the broker delivers it again');
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(MAX_BACKOFF_MS, this.backoffMs * 2 ** (this.failures - 1))),
      );
      throw error;
    }
  };

  get state(): BridgeState {
    if (!this.started) return 'connecting';
    return this.adapter.connected ? 'connected' : 'disconnected';
  }

  private failed(error: unknown): void {
    this.lastError = { message: error instanceof Error ? error.message : String(error), at: new Date() };
  }

  async start(): Promise<void> {
    try {
      await this.adapter.start(this.handle);
      this.started = true;
    } catch (error) {
      this.failed(error);
      throw error;
    }
  }

  stop(): Promise<void> {
    return this.adapter.stop();
  }
}
