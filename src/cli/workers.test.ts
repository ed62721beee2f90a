import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config/config.js';
import { EVENT_PROPS_TO_EVENT_TRAITS, EVENT_TO_PROFILE_COPYING } from '../mapping/backfill.js';
import { bullmqQueueName, logicalQueueName } from '../queue/names.js';
import { SEGMENTATION_LIVE, type SegmentationWork } from '../segmentation/job.js';
import { Composition } from './composition.js';
import { untilQueuesIdle } from './queue-drain.js';
import {
  DEFAULT_WORKER_OPTIONS,
  selectWorkers,
  worker,
  WORKERS,
  workersFor,
  type WorkerDeps,
  type WorkerOptions,
} from './workers.js';

describe('the worker registry', () => {
  it('refuses an unknown worker name, naming it and listing the known ones', () => {
    const select = () => selectWorkers(['segmentation', 'segmentaton', 'triger']);
    expect(select).toThrow(ConfigError);
    expect(select).toThrow(
      /^worker: unknown worker segmentaton, triger; expected segmentation, trigger, workflow, import, scheduler or all$/,
    );
  });

  it('takes every worker for all, and otherwise each named one once, in the registry order', () => {
    const registry = [worker('a'), worker('b'), worker('c')];
    expect(selectWorkers(['all'], registry)).toEqual(registry);
    expect(selectWorkers(['c', 'a', 'c'], registry).map(({ name }) => name)).toEqual(['a', 'c']);
    expect(selectWorkers(['all'])).toEqual(WORKERS);
  });

  it("runs Tracardi's segmentation & mapping worker under `segmentation`, with the reference queue names", () => {
    expect(WORKERS.find(({ name }) => name === 'segmentation')?.queues).toEqual([
      SEGMENTATION_LIVE,
      EVENT_PROPS_TO_EVENT_TRAITS,
      EVENT_TO_PROFILE_COPYING,
    ]);
  });

  it('has one worker per name and per queue, and a BullMQ-safe name for every queue that maps back', () => {
    const names = WORKERS.map(({ name }) => name);
    expect(new Set(names).size).toBe(names.length);
    const queues = WORKERS.flatMap((each) => each.queues);
    expect(new Set(queues).size).toBe(queues.length);
    for (const logical of queues) expect(logicalQueueName(bullmqQueueName(logical))).toBe(logical);
  });

  it('finds the workers that consume a queue, for a job command that works without Redis', () => {
    const registry = [
      worker('a', { queues: ['q:a'], start: () => ({ close: async () => {} }) }),
      worker(
        'b',
        { queues: ['q:b1'], start: () => ({ close: async () => {} }) },
        { queues: ['q:b2'], start: () => ({ close: async () => {} }) },
      ),
    ];
    expect(workersFor(['q:b2'], registry).map(({ name }) => name)).toEqual(['b']);
    expect(workersFor(['q:none'], registry)).toEqual([]);
  });
});

describe('workers started by the composition root', () => {
  const logger = pino({ level: 'silent' });
  let root: Composition | undefined;
  afterEach(async () => {
    await root?.close();
    root = undefined;
  });

  it('consumes only the selected workers’ queues, hands each its options and its name, and stops them on close', async () => {
    root = await Composition.open(loadConfig({ DATA_DIR: ':memory:', LOG_LEVEL: 'silent' }), logger);
    const seen: { worker: string; data: unknown; concurrency: number; bound: unknown }[] = [];
    const part = (name: string, queue: string) => ({
      queues: [queue],
      start: (deps: WorkerDeps, options: WorkerOptions) =>
        deps.queue.consume(queue, async (job) => {
          seen.push({
            worker: name,
            data: job.data,
            concurrency: options.concurrency,
            bound: deps.logger.bindings()['worker'],
          });
        }),
    });
    const registry = [worker('a', part('a', 'test:a')), worker('b', part('b', 'test:b'))];
    const workers = root.startWorkers(selectWorkers(['b'], registry), { ...DEFAULT_WORKER_OPTIONS, concurrency: 3 });
    await root.queue.enqueue('test:a', { n: 1 });
    await root.queue.enqueue('test:b', { n: 2 });
    await untilQueuesIdle(root.queue, ['test:b'], () => {});
    expect(seen).toEqual([{ worker: 'b', data: { n: 2 }, concurrency: 3, bound: 'b' }]);
    expect((await root.queue.counts('test:a')).waiting).toBe(1);

    await workers.close();
    await root.queue.enqueue('test:b', { n: 3 });
    expect((await root.queue.counts('test:b')).waiting).toBe(1);
    // Closing the root closes the workers again: a no-op, not an error.
  });

  it('hands the registered segmentation worker the store’s repositories', async () => {
    root = await Composition.open(loadConfig({ DATA_DIR: ':memory:', LOG_LEVEL: 'silent' }), logger);
    root.startWorkers(selectWorkers(['segmentation']), {
      ...DEFAULT_WORKER_OPTIONS,
      pendingIntervalMs: 0,
      resegmentSweepMs: 0,
    });
    const work: SegmentationWork = { segmentId: 'gone', selection: { kind: 'ids', ids: [] } };
    await root.queue.enqueue(SEGMENTATION_LIVE, work);
    await untilQueuesIdle(root.queue, [SEGMENTATION_LIVE], () => {});
    expect(await root.queue.counts(SEGMENTATION_LIVE)).toMatchObject({ completed: 1, failed: 0 });
  });
});
