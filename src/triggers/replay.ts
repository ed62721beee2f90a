import { DomainError, invalidInput, notFound } from '../shared/errors.js';
import type { TriggerStore } from './ports.js';
import { decide, type ChangeKind } from './trigger.js';

/** Changes read and recorded per step of a replay. */
const REPLAY_PAGE = 1000;

const CHANGE_OF = { 'segment-entered': 'entered', 'segment-left': 'left' } as const satisfies Record<
  string,
  ChangeKind
>;

/**
 * `POST /rules/{id}/replay`: starts the rule's flow for the changes of its segment made since `since`,
 * as if the rule had existed then. Changes that already started this rule start nothing again, so a
 * replay can be repeated. Runs are recorded in change order, after whatever is recorded already.
 * A `since` before `horizon` (see changesHorizon) is refused: the changes made before it may be gone,
 * and a replay is whole or not at all.
 */
export async function replayRule(
  store: TriggerStore,
  ruleId: string,
  sinceText: string,
  horizon: Date | undefined,
): Promise<{ recorded: number }> {
  const since = new Date(sinceText);
  if (Number.isNaN(since.getTime()))
    throw invalidInput('since: not a date-time', [{ field: 'since', message: 'expected an ISO 8601 date-time' }]);
  const rule = await store.findRule(ruleId);
  if (!rule) throw notFound('rule');
  if (rule.kind === 'event')
    throw invalidInput('only segment-entered and segment-left rules can be replayed', [
      { field: 'id', message: 'expected the id of a segment rule' },
    ]);
  if (!rule.enabled || !rule.flowEnabled)
    throw new DomainError('conflict', `rule ${rule.id} ${rule.enabled ? 'starts a disabled flow' : 'is disabled'}`);
  if (horizon && since < horizon)
    throw invalidInput(
      `since: segment changes are kept SEGMENT_CHANGES_RETENTION_DAYS, so a replay reaches back to ${horizon.toISOString()}`,
      [{ field: 'since', message: `expected ${horizon.toISOString()} or later` }],
    );
  const asOfSince = { ...rule, createdAt: since };
  let recorded = 0;
  for (let after = 0; ;) {
    const changes = await store.changesSince(rule.segmentId, CHANGE_OF[rule.kind], since, after, REPLAY_PAGE);
    if (changes.length === 0) return { recorded };
    recorded += await store.record(decide(changes, [asOfSince]).runs);
    after = changes[changes.length - 1]!.seq;
  }
}
