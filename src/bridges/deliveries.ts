import type { Logger } from '../shared/logger.js';
import { withTimeout } from '../shared/timeout.js';
import type { BridgeMessage } from './message.js';
import type { MessageHandler } from './port.js';

/** How an adapter settles one message with its broker. */
export interface Settlement {
  ack(): Promise<void> | void;
  /** Stores the message at the dead-letter place with its reason, then acknowledges the original. */
  deadLetter(reason: string): Promise<void>;
  /** The handler could not decide now: leave the message to be delivered again. */
  retry(): Promise<void> | void;
}

/**
 * The messages an adapter holds: each goes through the handler and is settled by its verdict. A
 * failed settlement (the connection dropped) is only logged: the broker still holds the message and
 * delivers it again, and its event ids make that harmless. A graceful stop waits for `idle()`.
 */
export class Deliveries {
  private count = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly handler: MessageHandler,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.count;
  }

  take(message: BridgeMessage, settlement: Settlement): Promise<void> {
    this.count++;
    return this.settle(message, settlement)
      .catch((error: unknown) => this.logger.warn({ err: error }, 'message not settled; the broker delivers it again'))
      .finally(() => {
        if (--this.count === 0) for (const wake of this.waiters.splice(0)) wake();
      });
  }

  private async settle(message: BridgeMessage, settlement: Settlement): Promise<void> {
    let verdict;
    try {
      verdict = await this.handler(message);
    } catch {
      await settlement.retry();
      return;
    }
    if (verdict === 'ack') await settlement.ack();
    else await settlement.deadLetter(verdict.deadLetter);
  }

  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** How long a stop waits for a broker call (a cancel, a close) when the broker does not answer. */
const STOP_CALL_MS = 5_000;

/** A broker call made while stopping: given up after a while, as a broker that is down never answers. */
export async function bounded(call: Promise<unknown> | undefined): Promise<void> {
  await withTimeout(call ?? Promise.resolve(), STOP_CALL_MS, 'no answer').catch(() => {});
}
