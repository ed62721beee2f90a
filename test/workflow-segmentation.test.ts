import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { Composition } from '../src/cli/composition.js';
import { runSegmentationCommand } from '../src/cli/work.js';
import { loadConfig } from '../src/config/config.js';
import { COMMIT_STEPS } from '../src/cli/commit-steps.js';
import { untilQueuesIdle } from '../src/cli/queue-drain.js';
import { MemoryJobQueue } from '../src/queue/memory.js';
import { runSegmentationJob, SEGMENTATION_LIVE } from '../src/segmentation/job.js';
import {
  runSegmentationWork,
  startSegmentationWorker,
  type SegmentationWorkerDeps,
} from '../src/segmentation/worker.js';
import type { Database } from '../src/storage/database.js';
import { SqlFlows } from '../src/storage/sql-flows.js';
import { SqlRunHistory } from '../src/storage/sql-run-history.js';
import { SqlMembership, SqlSegments } from '../src/storage/sql-segments.js';
import { SqlWorkflowRuns } from '../src/storage/sql-workflow-runs.js';
import { ACTIONS } from '../src/workflow/actions/index.js';
import { runFlow } from '../src/workflow/engine.js';
import { DEFAULT_EXECUTOR_SETTINGS } from '../src/workflow/executor.js';
import type { FlowGraph } from '../src/workflow/model.js';
import { segmentationRunId } from '../src/workflow/run-ids.js';
import { BACKENDS } from './support/api.js';
import { openTestDatabase } from './support/db.js';
import { createTestDatabase } from './support/postgres.js';
import { NO_HTTP } from './support/flows.js';

// Needs: PostgreSQL for the second half (skipped when absent); the queue is in-process.

const logger = pino({ level: 'silent' });

/** start → if condition → add-segment on `true`, remove-segment on `false` (when `orElse`). */
function segmentGraph(condition: string, segment: string, orElse = false): FlowGraph {
  return {
    nodes: [
      { id: 'start', action: 'start', config: {} },
      { id: 'if', action: 'if', config: { condition } },
      { id: 'add', action: 'add-segment', config: { segment } },
      ...(orElse ? [{ id: 'remove', action: 'remove-segment', config: { segment } }] : []),
    ],
    edges: [
      { from: { node: 'start', port: 'payload' }, to: { node: 'if' } },
      { from: { node: 'if', port: 'true' }, to: { node: 'add' } },
      ...(orElse ? [{ from: { node: 'if', port: 'false' }, to: { node: 'remove' } }] : []),
    ],
  };
}

for (const backend of BACKENDS) {
  const available = await backend.available();
  describe.skipIf(!available)(`segmentation flows on ${backend.name}`, () => {
    let db: Database & { dispose(): Promise<void> };
    let flows: SqlFlows;
    let deps: SegmentationWorkerDeps & { flows: SqlFlows; queue: MemoryJobQueue };
    beforeAll(async () => {
      db = await openTestDatabase(backend.name);
      flows = new SqlFlows(db);
      const runs = new SqlWorkflowRuns(db, COMMIT_STEPS);
      deps = {
        queue: new MemoryJobQueue({ logger }),
        segments: new SqlSegments(db),
        membership: new SqlMembership(db),
        logger,
        flows,
        segmentationRuns: runs,
        workflow: {
          runs,
          runFlow: (flow, context) => runFlow(flow, context, { actions: ACTIONS, http: NO_HTTP }),
          raise: () => Promise.reject(new Error('segmentation flows here raise no event')),
          settings: DEFAULT_EXECUTOR_SETTINGS,
        },
      };
    });
    afterAll(async () => {
      await deps?.queue.close();
      await db?.dispose();
    });

    const taggedWith = async (segment: string) =>
      (await db.query<{ id: string }>('SELECT id FROM profiles WHERE $1 = ANY(segments) ORDER BY 1', [segment])).map(
        (row) => row.id,
      );
    const runsOf = (flowId: string) =>
      db.query<{ id: string; profile_id: string; trigger: string; status: string }>(
        'SELECT id, profile_id, trigger, status FROM workflow_runs WHERE flow_id = $1 ORDER BY profile_id, id',
        [flowId],
      );
    const versions = async () =>
      db.query<{ id: string; version: number; segments: string[] }>(
        'SELECT id, version, segments FROM profiles ORDER BY id',
      );

    /** `meridian job segmentation` as it runs without Redis: the job enqueues, the worker here works. */
    async function segmentationJob() {
      const report = await runSegmentationJob(deps, { batchSize: 4 });
      const worker = startSegmentationWorker(deps, {
        concurrency: 2,
        pendingIntervalMs: 0,
        pendingBatch: 100,
        resegmentSweepMs: 0,
        resegmentBatch: 4,
      });
      try {
        await untilQueuesIdle(deps.queue, [SEGMENTATION_LIVE], () => {});
      } finally {
        await worker.close();
      }
      expect(await deps.queue.counts(SEGMENTATION_LIVE)).toMatchObject({ failed: 0 });
      return report;
    }

    it('runs each enabled segmentation flow once per profile per job run; its segment actions decide membership', async () => {
      const spend = [50, 150, 300, 20, 101, 100, 0, 999, 5, 250, 40];
      const ids = spend.map((_, i) => `wseg-${String(i).padStart(3, '0')}`);
      await db.query(
        `INSERT INTO profiles (id, traits, segments)
         SELECT id, jsonb_build_object('spend', spend), '{loyal}' FROM unnest($1::text[], $2::int[]) AS t(id, spend)`,
        [ids, spend],
      );
      const bigSpenders = (amounts: number[]) => ids.filter((_, i) => amounts[i]! > 100);
      const flow = await flows.create({
        id: 'big-spenders',
        name: 'Big spenders',
        description: '',
        type: 'segmentation',
        enabled: true,
        answersClient: false,
        graph: segmentGraph('profile@traits.spend > 100', 'big-spender', true),
      });
      const inert = {
        description: '',
        answersClient: false,
        graph: segmentGraph('profile@traits.spend >= 0', 'never'),
      };
      await flows.create({ ...inert, id: 'disabled', name: 'Disabled', type: 'segmentation', enabled: false });
      await flows.create({ ...inert, id: 'collection', name: 'Collection', type: 'collection', enabled: true });

      const first = await segmentationJob();
      expect(first.flows).toBe(1);
      expect(first.jobs).toBeGreaterThan(1);
      expect(await taggedWith('big-spender')).toEqual(bigSpenders(spend));
      // Added after what the profile had: its other segments stay.
      expect((await versions()).find((row) => row.id === ids[1])?.segments).toEqual(['loyal', 'big-spender']);
      expect(await taggedWith('never')).toEqual([]);
      expect(await runsOf('disabled')).toEqual([]);
      expect(await runsOf('collection')).toEqual([]);
      const firstRuns = await runsOf(flow!.id);
      expect(firstRuns.map((run) => run.profile_id)).toEqual(ids);
      expect(firstRuns.every((run) => run.trigger === 'segmentation' && run.status === 'completed')).toBe(true);
      expect(firstRuns.map((run) => run.id)).toEqual(ids.map((id) => segmentationRunId(first.jobRunId, flow!.id, id)));
      // In the flow's run history as any run.
      const history = await new SqlRunHistory(db).listForFlow(flow!.id, 100);
      expect(history.items).toHaveLength(ids.length);
      expect(history.items[0]).toMatchObject({ trigger: 'segmentation', status: 'completed', eventId: null });

      // A second job run decides the same: one more run per profile, and no profile written.
      const before = await versions();
      const second = await segmentationJob();
      expect(second.jobRunId).not.toBe(first.jobRunId);
      expect(await versions()).toEqual(before);
      const secondRuns = await runsOf(flow!.id);
      expect(secondRuns).toHaveLength(2 * ids.length);
      expect(secondRuns.every((run) => run.status === 'completed')).toBe(true);

      // The same batch delivered again finds its runs done: nothing runs, nothing is recorded.
      await runSegmentationWork(deps, {
        flowId: flow!.id,
        jobRunId: second.jobRunId,
        selection: { fromId: null, toId: null },
      });
      expect(await runsOf(flow!.id)).toEqual(secondRuns);
      expect(await versions()).toEqual(before);

      // Spend changes: the next job run moves profiles in and out.
      const changed = [...spend];
      changed[1] = 10;
      changed[0] = 500;
      await db.query(
        `UPDATE profiles p SET traits = jsonb_build_object('spend', t.spend)
           FROM unnest($1::text[], $2::int[]) AS t(id, spend) WHERE p.id = t.id`,
        [
          [ids[0], ids[1]],
          [changed[0], changed[1]],
        ],
      );
      await segmentationJob();
      expect(await taggedWith('big-spender')).toEqual(bigSpenders(changed));
      expect(await taggedWith('loyal')).toEqual(ids);
    });

    it('skips work for a flow disabled since the job queued it', async () => {
      const flow = await flows.create({
        id: 'switched-off',
        name: 'Switched off',
        description: '',
        type: 'segmentation',
        enabled: true,
        answersClient: false,
        graph: segmentGraph('profile@traits.spend >= 0', 'switched-off'),
      });
      await flows.update(flow!.id, { ...flow!, enabled: false });
      await runSegmentationWork(deps, {
        flowId: flow!.id,
        jobRunId: 'job-1',
        selection: { fromId: null, toId: null },
      });
      expect(await runsOf(flow!.id)).toEqual([]);
      expect(await taggedWith('switched-off')).toEqual([]);
    });

    it('is what `meridian job segmentation` runs, with the store the command opens', async () => {
      const database = backend.name === 'postgres' ? await createTestDatabase() : undefined;
      const dataDir = await mkdtemp(join(tmpdir(), 'meridian-wfseg-'));
      const config = loadConfig({
        LOG_LEVEL: 'silent',
        DATA_DIR: dataDir,
        ...(database ? { DATABASE_URL: database.url } : {}),
      });
      const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      try {
        let root = await Composition.open(config, logger);
        await root.db.query(
          `INSERT INTO profiles (id, traits) VALUES ('c1', '{"spend": 500}'), ('c2', '{"spend": 5}')`,
        );
        await root.repositories.flows.create({
          id: 'cli-flow',
          name: 'CLI flow',
          description: '',
          type: 'segmentation',
          enabled: true,
          answersClient: false,
          graph: segmentGraph('profile@traits.spend > 100', 'big-spender'),
        });
        await root.close();

        await runSegmentationCommand(config, logger, {});
        expect(write).toHaveBeenCalledWith(
          expect.stringMatching(/^segmentation: 0 segments, 1 flows, 1 jobs done \(job run [0-9a-f-]{36}\)\n$/),
        );

        root = await Composition.open(config, logger);
        try {
          const rows = await root.db.query<{ id: string; segments: string[] }>(
            'SELECT id, segments FROM profiles ORDER BY id',
          );
          expect(rows).toEqual([
            { id: 'c1', segments: ['big-spender'] },
            { id: 'c2', segments: [] },
          ]);
          expect((await root.repositories.runHistory.listForFlow('cli-flow', 10)).items).toHaveLength(2);
        } finally {
          await root.close();
        }
      } finally {
        write.mockRestore();
        await database?.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
}
