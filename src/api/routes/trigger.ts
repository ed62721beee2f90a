import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TriggerStore } from '../../triggers/ports.js';
import { replayRule } from '../../triggers/replay.js';
import { changesHorizon } from '../../triggers/retention.js';
import { ErrorSchema, IdParams } from '../schemas.js';

const BacklogSchema = Type.Object({
  unconsumed: Type.Integer({ description: 'segment changes no trigger worker has consumed yet' }),
  oldestAgeSeconds: Type.Union([Type.Number(), Type.Null()], {
    description: 'seconds since the oldest unconsumed change was made; null when there is none',
  }),
  runsLastMinute: Type.Integer({ description: 'workflow runs segment changes started over the last minute' }),
  skipped: Type.Integer({ description: 'changes consumed without a run because their profile was deleted' }),
});

export function triggerRoutes(triggers: TriggerStore, retentionDays: number) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    api.get(
      '/workers/trigger',
      {
        schema: {
          tags: ['workflows'],
          summary: "The trigger worker's backlog of segment changes",
          response: { 200: BacklogSchema },
        },
      },
      () => triggers.backlog(),
    );
    api.post(
      '/rules/:id/replay',
      {
        schema: {
          tags: ['workflows'],
          summary: "Start a segment rule's flow for the changes of its segment made since a time",
          description:
            'A rule fires only for changes made after it was created; this asks for older ones. ' +
            'A change that already started the rule starts nothing again. ' +
            'Consumed changes are kept SEGMENT_CHANGES_RETENTION_DAYS: an older `since` is refused (400).',
          params: IdParams,
          body: Type.Object(
            { since: Type.String({ description: 'ISO 8601 date-time' }) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ recorded: Type.Integer({ description: 'runs recorded by this replay' }) }),
            '4xx': ErrorSchema,
          },
        },
      },
      (request) =>
        replayRule(triggers, request.params.id, request.body.since, changesHorizon(retentionDays, new Date())),
    );
  };
}
