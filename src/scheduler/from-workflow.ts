import type { PauseState, RunEffect } from '../workflow/model.js';
import { SCHEDULER_SOURCE_ID, stableId, type NewScheduled } from './schedule.js';

/** The run whose commit hands the scheduler its work. */
export interface SchedulingRun {
  id: string;
  profileId: string | null;
  sessionId: string | null;
  sourceId: string | null;
}

/**
 * What a workflow run's commit schedules: an item per `schedule-event` effect (tracked for the run's
 * profile, in its session, under its source), and a resume when the run paused. Ids derive from the run,
 * so a commit that is run again stores nothing twice (`scheduleInTx` keeps the first of an id).
 * A run without a profile schedules no event: a scheduled event is tracked for a profile.
 */
export function scheduledFromRun(
  run: SchedulingRun,
  effects: readonly RunEffect[],
  pause?: PauseState,
): NewScheduled[] {
  const items: NewScheduled[] = [];
  const { profileId } = run;
  if (profileId !== null) {
    effects.forEach((effect, index) => {
      if (effect.kind !== 'schedule-event') return;
      items.push({
        id: stableId(`meridian:run:${run.id}:schedule:${index}`),
        dueAt: new Date(effect.at),
        work: {
          kind: 'event',
          profileId,
          ...(run.sessionId === null ? {} : { sessionId: run.sessionId }),
          sourceId: run.sourceId ?? SCHEDULER_SOURCE_ID,
          event: { type: effect.type, properties: effect.properties },
        },
      });
    });
  }
  if (pause) {
    // Waiting for an event as well: the due time is the limit, and the run then goes on at the timeout port.
    const port = pause.untilEventType === undefined ? pause.port : (pause.timeoutPort ?? pause.port);
    items.push({
      id: stableId(`meridian:run:${run.id}:resume:${pause.node}:${pause.at}`),
      dueAt: new Date(pause.at),
      work: { kind: 'resume', runId: run.id, node: pause.node, port },
    });
  }
  return items;
}
