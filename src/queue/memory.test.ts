import { describe } from 'vitest';
import { createLogger } from '../shared/logger.js';
import { jobQueueContract } from '../../test/support/queue-contract.js';
import { MemoryJobQueue } from './memory.js';

describe('MemoryJobQueue', () => {
  jobQueueContract(() => new MemoryJobQueue({ logger: createLogger('silent') }));
});
