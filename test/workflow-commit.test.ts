/**
 * A workflow run's commit over a real store (PGlite and PostgreSQL): its profile changes, replayed on
 * the document its claim read, are written only while the row still holds that state; when another
 * writer changed the profile in between, they are replayed on the row as it is, losing nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/shared/logger.js';
import { ACTIONS } from '../src/workflow/actions/index.js';
import { runFlow } from '../src/workflow/engine.js';
import { DEFAULT_EXECUTOR_SETTINGS, executeRuns, type WorkflowRunStore } from '../src/workflow/executor.js';
import { fetchHttpClient } from '../src/workflow/fetch-http.js';
import type { FlowNode } from '../src/workflow/model.js';
import { chain } from './support/flows.js';
import { compositionBackends, openTestComposition, profileAndFlow } from './support/composition.js';

const logger = createLogger('silent');
const backends = await compositionBackends();

for (const backend of backends) {
  describe.skipIf(!backend.available)(`a workflow run's commit on ${backend.name}`, () => {
    let dispose: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await dispose?.();
      dispose = undefined;
    });

    /**
     * A profile, a flow of `nodes` and `count` pending runs of it for the profile; `execute(between)`
     * claims, runs and commits them, calling `between` after the claim and before the commit.
     */
    async function setUp(nodes: Omit<FlowNode, 'id'>[], count: number) {
      const opened = await openTestComposition(backend.name);
      dispose = opened.dispose;
      const { root } = opened;
      const { profileId, flowId } = await profileAndFlow(root, 'commit', chain(nodes));
      const runIds = Array.from({ length: count }, (_, index) => `run-${flowId}-${index}`);
      for (const runId of runIds)
        await root.db.query(
          `INSERT INTO workflow_runs (id, flow_id, trigger, profile_id) VALUES ($1, $2, 'manual', $3)`,
          [runId, flowId, profileId],
        );
      const store = root.repositories.workflowRuns;
      const execute = (between: () => Promise<unknown>) => {
        const runs: WorkflowRunStore = {
          claim: (selection, now, leaseMs) => store.claim(selection, now, leaseMs),
          finish: async (finished, now) => {
            await between();
            return store.finish(finished, now);
          },
          pendingRaises: (limit) => store.pendingRaises(limit),
          raisesTracked: (runId) => store.raisesTracked(runId),
          answers: (ids) => store.answers(ids),
        };
        return executeRuns(
          {
            runs,
            runFlow: (flow, context) => runFlow(flow, context, { actions: ACTIONS, http: fetchHttpClient }),
            raise: () => Promise.resolve(undefined),
            settings: DEFAULT_EXECUTOR_SETTINGS,
            logger,
          },
          { ids: runIds },
        );
      };
      const profile = async () =>
        (
          await root.db.query<{ traits: Record<string, unknown>; segments: string[]; version: number }>(
            'SELECT traits, segments, version FROM profiles WHERE id = $1',
            [profileId],
          )
        )[0]!;
      return { root, profileId, execute, profile };
    }

    const counting = [
      { action: 'increment', config: { target: 'profile@traits.n', by: 1 } },
      { action: 'set-value', config: { target: 'profile@traits.last', value: 'flow' } },
      { action: 'add-segment', config: { segment: 'seen' } },
    ];

    it("writes the runs' changes once when the profile is as the claim read it", async () => {
      const { execute, profile } = await setUp(counting, 3);
      const before = await profile();
      const executed = await execute(() => Promise.resolve());
      expect(executed.map((run) => run.status)).toEqual(['completed', 'completed', 'completed']);
      expect(await profile()).toEqual({
        traits: { n: 3, last: 'flow' },
        segments: ['seen'],
        version: before.version + 1,
      });
    });

    it('replays them on the row as it is when another writer changed the profile after the claim', async () => {
      const { root, profileId, execute, profile } = await setUp(counting, 2);
      const executed = await execute(() =>
        root.db.query(`UPDATE profiles SET traits = '{"n": 10, "other": "kept"}', segments = '{vip}' WHERE id = $1`, [
          profileId,
        ]),
      );
      expect(executed.map((run) => run.status)).toEqual(['completed', 'completed']);
      expect(await profile()).toMatchObject({
        traits: { n: 12, last: 'flow', other: 'kept' },
        segments: ['vip', 'seen'],
      });
    });

    it('writes nothing for changes that leave the profile as it was, unless it changed after the claim', async () => {
      const { root, profileId, execute, profile } = await setUp(
        [{ action: 'add-segment', config: { segment: 'seen' } }],
        1,
      );
      await root.db.query(`UPDATE profiles SET segments = '{seen}' WHERE id = $1`, [profileId]);
      const before = await profile();
      expect(await execute(() => Promise.resolve())).toMatchObject([{ status: 'completed' }]);
      expect(await profile()).toEqual(before);

      // Run again, with segmentation taking the segment away between the claim and the commit.
      await root.db.query(`UPDATE workflow_runs SET status = 'pending', finished_at = NULL`);
      await execute(() => root.db.query(`UPDATE profiles SET segments = '{}' WHERE id = $1`, [profileId]));
      expect((await profile()).segments).toEqual(['seen']);
    });
  });
}
