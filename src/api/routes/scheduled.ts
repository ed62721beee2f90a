import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { SCHEDULED_STATES, type ScheduledItem } from '../../scheduler/schedule.js';
import {
  cancelScheduled,
  getScheduled,
  retryScheduled,
  scheduleEvent,
  type SchedulerServices,
} from '../../scheduler/service.js';
import { DomainError } from '../../shared/errors.js';
import { ErrorSchema, IdParams } from '../schemas.js';

const Timestamp = Type.String({ description: 'ISO time' });

const ItemSchema = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('event'), Type.Literal('resume')]),
  dueAt: Timestamp,
  state: Type.Union(SCHEDULED_STATES.map((state) => Type.Literal(state))),
  attempts: Type.Integer({ description: 'claims so far; the counter starts afresh on a retry by hand' }),
  lastError: Type.Union([Type.String(), Type.Null()], { description: 'why the last attempt failed' }),
  work: Type.Record(Type.String(), Type.Unknown(), {
    description: 'an event: `{profileId, sessionId?, sourceId, event}`; a resume: `{runId, node, port}`',
  }),
  createdAt: Timestamp,
  doneAt: Type.Union([Timestamp, Type.Null()], { description: 'when it ran, or was cancelled' }),
});

const CreateBody = Type.Object(
  {
    profileId: Type.String({ minLength: 1, maxLength: 128 }),
    sessionId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    event: Type.Object(
      {
        type: Type.String({ minLength: 1, maxLength: 128 }),
        properties: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      },
      { additionalProperties: false },
    ),
    at: Type.Optional(Type.String({ description: 'when to track it: an ISO time (a past one: at once)' })),
    delay: Type.Optional(Type.String({ description: 'or how long from now: +30s, +15m, +2h, +1d, +1w' })),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    state: Type.Optional(Type.Union(SCHEDULED_STATES.map((state) => Type.Literal(state)))),
    profile: Type.Optional(Type.String({ minLength: 1 })),
    due_before: Type.Optional(Type.String({ description: 'an ISO time: items due before it' })),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);

const SummarySchema = Type.Object({
  counts: Type.Record(Type.String(), Type.Integer(), { description: 'items by state' }),
  overdueMs: Type.Integer({ description: 'how late the most overdue pending item is; 0 when none is' }),
  lastHour: Type.Object(
    { done: Type.Integer(), lateP99Ms: Type.Integer(), lateMaxMs: Type.Integer() },
    { description: 'items done in the last hour, and how long after their due time (p99, max)' },
  ),
});

function isoTime(text: string, field: string): Date {
  const time = Date.parse(text);
  if (Number.isNaN(time) || !/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const message = `expected an ISO time (2026-01-31T09:00:00Z), got "${text}"`;
    throw new DomainError('validation_failed', `${field}: ${message}`, [{ field, message }]);
  }
  return new Date(time);
}

const view = (item: ScheduledItem) => ({
  id: item.id,
  kind: item.kind,
  dueAt: item.dueAt.toISOString(),
  state: item.state,
  attempts: item.attempts,
  lastError: item.lastError,
  work: Object.fromEntries(Object.entries(item.work).filter(([key]) => key !== 'kind')),
  createdAt: item.createdAt.toISOString(),
  doneAt: item.doneAt?.toISOString() ?? null,
});

export function scheduledRoutes(services: SchedulerServices) {
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['scheduled'];
    const one = { params: IdParams, response: { 200: ItemSchema, '4xx': ErrorSchema } };

    api.post(
      '/scheduled',
      {
        schema: {
          tags,
          summary: 'Schedule an event for a profile: tracked through the collect pipeline when due',
          body: CreateBody,
          response: { 201: ItemSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => reply.status(201).send(view(await scheduleEvent(services, request.body))),
    );

    api.get(
      '/scheduled',
      {
        schema: {
          tags,
          summary: 'Scheduled items, soonest due first',
          querystring: ListQuery,
          response: { 200: Type.Array(ItemSchema), '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const { state, profile, due_before: dueBefore, limit } = request.query;
        const items = await services.scheduled.list({
          state,
          profileId: profile,
          dueBefore: dueBefore === undefined ? undefined : isoTime(dueBefore, 'due_before'),
          limit,
        });
        return items.map(view);
      },
    );

    api.get(
      '/scheduled/summary',
      {
        schema: {
          tags,
          summary: 'Items by state, and how late the most overdue one is',
          response: { 200: SummarySchema },
        },
      },
      () => services.scheduled.summary((services.clock ?? (() => new Date()))()),
    );

    api.get('/scheduled/:id', { schema: { tags, summary: 'One scheduled item', ...one } }, async (request) =>
      view(await getScheduled(services, request.params.id)),
    );

    api.post(
      '/scheduled/:id/retry',
      { schema: { tags, summary: 'Run a dead item again now, with fresh attempts', ...one } },
      async (request) => view(await retryScheduled(services, request.params.id)),
    );

    api.delete(
      '/scheduled/:id',
      {
        schema: {
          tags,
          summary: 'Cancel a pending or dead item; 409 when it is running or already ran',
          ...one,
        },
      },
      async (request) => view(await cancelScheduled(services, request.params.id)),
    );
  };
}
