/**
 * A paused run handed back by the scheduler, executed over a real store (PGlite and PostgreSQL): it
 * continues at its resume point with its memory and earlier trace, and a second delivery of the same
 * resume (a slow process whose claim expired) commits nothing: the claim's token guards the commit.
 * An event committing while a run's pause until that event commits still continues the run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/shared/logger.js';
import { SqlWorkflowRuns, type RunIdentity } from '../src/storage/sql-workflow-runs.js';
import { ACTIONS } from '../src/workflow/actions/index.js';
import { runFlow } from '../src/workflow/engine.js';
import { DEFAULT_EXECUTOR_SETTINGS, executeRuns, outcomeOf, type ExecutorDeps } from '../src/workflow/executor.js';
import { fetchHttpClient } from '../src/workflow/fetch-http.js';
import { compositionBackends, openTestComposition, profileAndFlow } from './support/composition.js';
import { eventually } from './support/eventually.js';

const logger = createLogger('silent');
const backends = await compositionBackends();

const graph = {
  nodes: [
    { id: 'start', action: 'start', config: {} },
    { id: 'wait', action: 'pause', config: { delay: '+1h' } },
    { id: 'b', action: 'increment', config: { target: 'profile@traits.b', by: 1 } },
    { id: 'copy', action: 'set-value', config: { target: 'profile@traits.copied', value: 'memory@step' } },
    { id: 'echo', action: 'set-value', config: { target: 'profile@traits.input', value: 'payload@x' } },
  ],
  edges: [
    { from: { node: 'start', port: 'payload' }, to: { node: 'wait' } },
    { from: { node: 'wait', port: 'payload' }, to: { node: 'b' } },
    { from: { node: 'b', port: 'payload' }, to: { node: 'copy' } },
    { from: { node: 'copy', port: 'payload' }, to: { node: 'echo' } },
  ],
};

for (const backend of backends) {
  describe.skipIf(!backend.available)(`a resumed workflow run on ${backend.name}`, () => {
    let dispose: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await dispose?.();
      dispose = undefined;
    });

    it('continues at its resume point once, though delivered twice', async () => {
      const opened = await openTestComposition(backend.name);
      dispose = opened.dispose;
      const { root } = opened;
      const { profileId, flowId } = await profileAndFlow(root, 'resume', graph);
      const runId = `run-${flowId}`;
      const earlierTrace = [
        { node: 'start', action: 'start', input: {}, outputs: { payload: {} }, startedAt: '', durationMs: 0 },
        { node: 'wait', action: 'pause', input: { x: 7 }, outputs: {}, startedAt: '', durationMs: 0 },
      ];
      // As the scheduler leaves a paused run whose resume came due.
      const pause = {
        node: 'wait',
        port: 'payload',
        input: { x: 7 },
        at: new Date().toISOString(),
        resume: { node: 'wait', port: 'payload' },
      };
      await root.db.query(
        `INSERT INTO workflow_runs (id, flow_id, trigger, status, profile_id, pause, memory, trace)
         VALUES ($1, $2, 'event', 'pending', $3, $4::text::jsonb, '{"step": "kept"}', $5::text::jsonb)`,
        [runId, flowId, profileId, JSON.stringify(pause), JSON.stringify(earlierTrace)],
      );
      const settings = { ...DEFAULT_EXECUTOR_SETTINGS, leaseMs: 60_000 };
      const deps = (clock: () => Date): ExecutorDeps => ({
        runs: root.repositories.workflowRuns,
        runFlow: (flow, context, resume) =>
          runFlow(flow, context, { actions: ACTIONS, http: fetchHttpClient, ...(resume ? { resume } : {}) }),
        raise: () => Promise.resolve(undefined),
        settings,
        logger,
        clock,
      });

      // The first delivery: claimed by a process that then stalls past its claim.
      const now = new Date();
      const [slow] = await root.repositories.workflowRuns.claim({ ids: [runId] }, now, settings.leaseMs);
      expect(slow?.resume).toMatchObject({
        node: 'wait',
        port: 'payload',
        input: { x: 7 },
        memory: { step: 'kept' },
      });
      // The second delivery takes the expired claim over and finishes the run.
      const later = new Date(now.getTime() + 2 * settings.leaseMs);
      expect(
        await executeRuns(
          deps(() => later),
          { ids: [runId] },
        ),
      ).toMatchObject([{ status: 'completed' }]);

      const profile = async () => (await root.repositories.readModel.profile(profileId))?.traits;
      expect(await profile()).toEqual({ b: 1, copied: 'kept', input: 7 });
      const stored = async () =>
        (
          await root.db.query<{ status: string; pause: unknown; trace: { node: string }[]; attempts: number }>(
            'SELECT status, pause, trace, attempts FROM workflow_runs WHERE id = $1',
            [runId],
          )
        )[0];
      const done = await stored();
      expect(done).toMatchObject({ status: 'completed', pause: null, attempts: 2 });
      expect(done?.trace.map((step) => step.node)).toEqual(['start', 'wait', 'b', 'copy', 'echo']);

      // The stalled process finishes its copy: its commit is refused, nothing applies twice.
      const result = await deps(() => later).runFlow(
        slow!.flow!,
        { profile: slow!.profile, session: null, event: null, payload: null, flow: slow!.flow!, memory: {} },
        { node: 'wait', port: 'payload', input: { x: 7 } },
      );
      const committed = await root.repositories.workflowRuns.finish(
        [{ run: slow!, outcome: outcomeOf(result, slow!.resume!.effects) }],
        later,
      );
      expect(committed.has(runId)).toBe(false);
      expect(await profile()).toEqual({ b: 1, copied: 'kept', input: 7 });
      expect(await stored()).toEqual(done);
    });
  });
}

const waitingGraph = {
  nodes: [
    { id: 'start', action: 'start', config: {} },
    { id: 'merge', action: 'merge-profiles', config: { keys: ['profile@pii.email'] } },
    { id: 'wait', action: 'pause', config: { delay: '+1h', untilEventType: 'arrived' } },
    { id: 'done', action: 'set-value', config: { target: 'profile@traits.outcome', value: 'event' } },
  ],
  edges: [
    { from: { node: 'start', port: 'payload' }, to: { node: 'merge' } },
    { from: { node: 'merge', port: 'payload' }, to: { node: 'wait' } },
    { from: { node: 'wait', port: 'payload' }, to: { node: 'done' } },
  ],
};

// Only a server runs the two commits at once: the embedded store has one connection.
const server = backends.find((backend) => backend.name === 'postgres')!;
describe.skipIf(!server.available)('a run pausing until an event on postgres', () => {
  it('is continued by that event when the event commits while the pause does', async () => {
    const { root, dispose } = await openTestComposition('postgres');
    try {
      const { profileId, flowId } = await profileAndFlow(root, 'waits', waitingGraph);
      const collect = (type: string) =>
        root
          .tracking()
          .tracker.collect(
            { source: { id: 'scheduler' }, profile: { id: profileId }, events: [{ type }] },
            { channel: 'scheduler' },
          );
      // The flow saved above moved the rules' generation on: this commit has the cache read again, so
      // the event's commit below reads whether a run waits with its locks.
      await collect('warm-up');
      const runId = `run-${flowId}`;
      await root.db.query(`INSERT INTO workflow_runs (id, flow_id, trigger, profile_id) VALUES ($1, $2, 'event', $3)`, [
        runId,
        flowId,
        profileId,
      ]);
      // The pause's commit stops before committing until the event's commit has started (at the merge
      // its flow asks for: a run that changes no profile writes no profile row).
      let pausing = 0;
      let inCommit!: () => void;
      const entered = new Promise<void>((resolve) => (inCommit = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const identity: RunIdentity = {
        mergeByKeys: async (tx) => {
          pausing = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid;
          inCommit();
          await released;
          return profileId;
        },
        holdsKeys: () => false,
      };
      const executing = executeRuns(
        {
          runs: new SqlWorkflowRuns(root.db, [], identity),
          runFlow: (flow, context, resume) =>
            runFlow(flow, context, { actions: ACTIONS, http: fetchHttpClient, ...(resume ? { resume } : {}) }),
          raise: () => Promise.resolve(undefined),
          settings: DEFAULT_EXECUTOR_SETTINGS,
          logger,
        },
        { ids: [runId] },
      );
      await entered;
      let committed = false;
      const tracked = collect('arrived').then(() => (committed = true));
      // The event's commit either commits first or waits for the pause's: then the pause commits.
      await eventually(
        async () =>
          committed ||
          (await root.db.query('SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [pausing]))
            .length > 0,
        Boolean,
      );
      release();
      expect(await executing).toMatchObject([{ status: 'paused' }]);
      await tracked;
      const [run] = await root.db.query<{ status: string; pause: { resume?: { port: string } } }>(
        'SELECT status, pause FROM workflow_runs WHERE id = $1',
        [runId],
      );
      expect(run).toMatchObject({ status: 'pending', pause: { resume: { port: 'payload' } } });
      const resumes = await root.db.query<{ state: string }>(
        `SELECT state FROM scheduled WHERE kind = 'resume' AND payload->>'runId' = $1`,
        [runId],
      );
      expect(resumes).toEqual([{ state: 'cancelled' }]);
    } finally {
      await dispose();
    }
  });
});
