import type { BridgeMessage } from './message.js';

/** What became of a message: stored (acknowledge it), or never storable (to the dead letters, with why). */
export type Verdict = 'ack' | { deadLetter: string };

/**
 * Handles one message. A rejection means "not now" (the store is down): the adapter leaves the
 * message unacknowledged so that the broker delivers it again.
 */
export type MessageHandler = (message: BridgeMessage) => Promise<Verdict>;

/**
 * One broker behind one small port (Kafka or another broker adds an adapter, nothing else). An
 * adapter acknowledges a message only after its handler resolved `'ack'`, and moves a dead letter to
 * the broker's dead-letter place, with its reason, before acknowledging the original.
 */
export interface BridgeAdapter {
  /** Connects and starts consuming; resolves once messages can flow. */
  start(handler: MessageHandler): Promise<void>;
  /** Whether the broker connection is up now: false before `start` resolved and while reconnecting. */
  readonly connected: boolean;
  /** Stops taking messages, waits for those in hand to be handled and acknowledged, then disconnects. */
  stop(): Promise<void>;
}
