import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { checkSegmentCondition, machineName, type Segment } from '../../segmentation/segment.js';
import { DomainError, notFound } from '../../shared/errors.js';
import { normalizeEventType } from '../../tracking/payload.js';
import { ErrorSchema, IdParams } from '../schemas.js';
import type { ApiServices } from '../services.js';

const SegmentSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  machineName: Type.String({ description: 'what profiles carry in `segments`' }),
  description: Type.String(),
  condition: Type.String(),
  enabled: Type.Boolean(),
  eventTypes: Type.Array(Type.String()),
  lastRunAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  failure: Type.Union([Type.Object({ message: Type.String(), at: Type.String() }), Type.Null()], {
    description:
      'why and when a run last failed; a failed segment is left out of post-event segmentation until it is saved again',
  }),
  resegmentPending: Type.Boolean({
    description:
      'a re-decision of the members is waiting for the job queue (it was unreachable); it is queued when the queue answers',
  }),
});
const SegmentWithCount = Type.Composite([SegmentSchema, Type.Object({ memberCount: Type.Integer() })]);

const Fields = {
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '[A-Za-z0-9]' }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  condition: Type.String({ minLength: 1, maxLength: 10_000 }),
  enabled: Type.Optional(Type.Boolean()),
  eventTypes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 100 })),
};
const CreateBody = Type.Object(
  { id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' })), ...Fields },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(Fields, { additionalProperties: false });
const MembersQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String()),
});

export function segmentRoutes({ segmentation }: ApiServices) {
  const { segments } = segmentation;
  /**
   * Members are re-decided in the background. The save stands either way: when the queue cannot
   * take the work, the answer says it is pending and the segmentation worker queues it later.
   */
  const resegment = async (segment: Segment): Promise<Segment> =>
    segment.enabled ? { ...segment, resegmentPending: !(await segmentation.resegment(segment.id)) } : segment;
  const input = (body: {
    name: string;
    description?: string;
    condition: string;
    enabled?: boolean;
    eventTypes?: string[];
  }) => {
    checkSegmentCondition(body.condition);
    return {
      name: body.name,
      machineName: machineName(body.name),
      description: body.description ?? '',
      condition: body.condition,
      enabled: body.enabled ?? true,
      eventTypes: [...new Set((body.eventTypes ?? []).map(normalizeEventType))],
    };
  };
  const taken = async (id: string | undefined, name: string) => {
    const idTaken = id !== undefined && (await segments.get(id)) !== undefined;
    return idTaken
      ? new DomainError('conflict', `a segment with id "${id}" exists`, [{ field: 'id', message: 'already taken' }])
      : new DomainError('conflict', `a segment named "${machineName(name)}" exists`, [
          { field: 'name', message: 'already taken' },
        ]);
  };

  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['segments'];

    api.post(
      '/segments',
      {
        schema: {
          tags,
          summary: 'Create a segment; its members are computed in the background',
          body: CreateBody,
          response: { 201: SegmentSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const segment = await segments.create({ id: request.body.id ?? randomUUID(), ...input(request.body) });
        if (!segment) throw await taken(request.body.id, request.body.name);
        return reply.status(201).send(await resegment(segment));
      },
    );

    api.get(
      '/segments',
      { schema: { tags, summary: 'List segments', response: { 200: Type.Array(SegmentSchema) } } },
      () => segments.list(),
    );

    api.get(
      '/segments/:id',
      {
        schema: {
          tags,
          summary: 'A segment with its member count and last run',
          params: IdParams,
          response: { 200: SegmentWithCount, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const segment = await segments.get(request.params.id);
        if (!segment) throw notFound('segment');
        return { ...segment, memberCount: await segments.memberCount(segment.id) };
      },
    );

    api.put(
      '/segments/:id',
      {
        schema: {
          tags,
          summary: 'Change a segment; members are re-decided in the background',
          params: IdParams,
          body: UpdateBody,
          response: { 200: SegmentSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const current = await segments.get(request.params.id);
        if (!current) throw notFound('segment');
        // The machine name is what profiles carry: it stays as created, so renaming never strands it.
        const segment = await segments.update(request.params.id, {
          ...input(request.body),
          machineName: current.machineName,
        });
        if (!segment) throw notFound('segment');
        return resegment(segment);
      },
    );

    api.delete(
      '/segments/:id',
      {
        schema: {
          tags,
          summary: 'Delete a segment; its members leave it',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        if (!(await segments.delete(request.params.id))) throw notFound('segment');
        return reply.status(204).send(null);
      },
    );

    api.get(
      '/segments/:id/profiles',
      {
        schema: {
          tags,
          summary: "A segment's current members, paged by profile id",
          params: IdParams,
          querystring: MembersQuery,
          response: {
            200: Type.Object({
              items: Type.Array(Type.Object({ profileId: Type.String(), enteredAt: Type.String() })),
              next: Type.Union([Type.String(), Type.Null()]),
            }),
            '4xx': ErrorSchema,
          },
        },
      },
      async (request) => {
        if (!(await segments.get(request.params.id))) throw notFound('segment');
        return segments.members(request.params.id, request.query.limit, request.query.cursor);
      },
    );
  };
}
