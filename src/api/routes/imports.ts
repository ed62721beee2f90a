import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  checkDraft,
  checkImportReferences,
  checkKeptSecret,
  isDatabaseSource,
  SOURCE_KINDS,
  splitSecret,
  TARGETS,
  type ImportDraft,
} from '../../importing/model.js';
import type { ImportRun, ImportStore } from '../../importing/ports.js';
import { importFigures, progressOf, waitsForWorker } from '../../importing/progress.js';
import { TRACARDI_INDICES } from '../../importing/tracardi.js';
import { invalidInput, notFound } from '../../shared/errors.js';
import type { EventSourceRepository } from '../../tracking/ports.js';
import { ErrorSchema, IdParams } from '../schemas.js';

/** What the HTTP layer needs for imports, wired by the composition root. */
export interface ImportApiServices {
  imports: ImportStore;
  start(importId: string): Promise<ImportRun>;
  /** Deletes an import; refused (409) while one of its runs is going. */
  delete(importId: string): Promise<void>;
  control(runId: string, action: 'pause' | 'resume' | 'cancel'): Promise<ImportRun>;
  /** Encrypts a source's credentials for storing. */
  seal(secret: string): Promise<string>;
  /** The event sources an import may name. */
  sources: Pick<EventSourceRepository, 'get'>;
  /**
   * Why this process cannot read a file, where it is the process that runs the imports (the in-process
   * queue); absent where workers run them through Redis, which may see files this process does not.
   */
  unreadableFile?(path: string): Promise<string | undefined>;
}

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Column = Type.String({
  minLength: 1,
  maxLength: 500,
  description: 'a column name, or a dot path into a JSON row',
});
const Field = Type.Union([
  Column,
  Type.Object(
    {
      from: Type.Optional(Column),
      template: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 2000,
          description: 'text with {{column}} placeholders, instead of from',
        }),
      ),
      type: Type.Optional(
        Type.Union(['string', 'number', 'boolean', 'date', 'json'].map((type) => Type.Literal(type))),
      ),
      format: Type.Optional(
        Type.String({
          maxLength: 64,
          description:
            'dates: iso (default), epoch, epoch-ms, or a pattern like YYYY-MM-DD HH:mm:ss.SSS Z (docs/imports.md)',
        }),
      ),
      timeZone: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 64,
          description:
            'dates: the IANA time zone (Europe/Warsaw) of a time read without an offset; default options.timeZone, else UTC',
        }),
      ),
      required: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
]);

const CHECKED_PATH =
  'without Redis (this process runs imports) an enabled import is saved only if this process can read it';
const FileSourceSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('csv'), Type.Literal('jsonl')]),
    path: Type.String({
      minLength: 1,
      maxLength: 4096,
      description: `read by the worker that runs the import; ${CHECKED_PATH}`,
    }),
    header: Type.Optional(
      Type.Boolean({
        description:
          'CSV: the first row names the columns (default true); a name given again becomes name_2, name_3, …, an empty one column_N (N its position); without a header every column is column_N',
      }),
    ),
    delimiter: Type.Optional(Type.String({ minLength: 1, maxLength: 1 })),
    quote: Type.Optional(Type.String({ minLength: 1, maxLength: 1 })),
    encoding: Type.Optional(Type.String({ maxLength: 40, description: 'utf-8 (default), latin1, windows-1252, …' })),
  },
  { additionalProperties: false },
);
const TracardiSourceSchema = Type.Object(
  {
    kind: Type.Literal('tracardi'),
    path: Type.String({
      minLength: 1,
      maxLength: 4096,
      description: `an NDJSON dump of one Tracardi index; ${CHECKED_PATH}`,
    }),
    index: Type.Union(
      TRACARDI_INDICES.map((index) => Type.Literal(index)),
      { description: 'import profiles first, then sessions, then events' },
    ),
    encoding: Type.Optional(Type.String({ maxLength: 40 })),
  },
  { additionalProperties: false },
);
const DatabaseFields = {
  kind: Type.Union([Type.Literal('mysql'), Type.Literal('postgres')]),
  host: Type.String({ minLength: 1, maxLength: 255 }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  user: Type.String({ minLength: 1, maxLength: 128 }),
  database: Type.String({ minLength: 1, maxLength: 128 }),
  table: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  query: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100_000, description: 'a SELECT; its rows are paged by key' }),
  ),
  key: Type.String({ minLength: 1, maxLength: 128, description: 'a unique column ordering the rows' }),
};
const SourceInput = Type.Union([
  FileSourceSchema,
  TracardiSourceSchema,
  Type.Object(
    {
      ...DatabaseFields,
      password: Type.Optional(Type.String({ maxLength: 1000, description: 'stored encrypted, never returned' })),
    },
    { additionalProperties: false },
  ),
]);
const SourceOutput = Type.Union([FileSourceSchema, TracardiSourceSchema, Type.Object(DatabaseFields)]);

/** Dot paths (`order.id`) to the fields mapped there. */
const FieldsByPath = (description: string) =>
  Type.Record(Type.String({ minLength: 1, maxLength: 500 }), Field, { maxProperties: 500, description });

const MappingSchema = Type.Object(
  {
    type: Type.Optional(
      Type.Union(Field.anyOf, {
        description: "target events: each row's event type, from a column; a row without one is an eventType event",
      }),
    ),
    profileId: Type.Optional(Field),
    sessionId: Type.Optional(Field),
    time: Type.Optional(Field),
    traits: Type.Optional(FieldsByPath("target profiles: the profile's traits, by dot path")),
    pii: Type.Optional(FieldsByPath("target profiles: the profile's PII, by dot path")),
    identityKey: Type.Optional(
      Type.String({
        maxLength: 500,
        description:
          'target profiles, instead of profileId: an identity key path (pii.email) whose holder the row sets',
      }),
    ),
    properties: Type.Optional(
      FieldsByPath("target events: the event's properties, by dot path; absent, every column as it is"),
    ),
    context: Type.Optional(FieldsByPath("target events: the event's context, by dot path (page.url, utm.source)")),
    tags: Type.Optional(
      Type.Union(Field.anyOf, {
        description:
          "target events: the event's tags, from a list or from text holding a JSON array or tags separated by commas",
      }),
    ),
  },
  { additionalProperties: false },
);
const OptionsSchema = Type.Object(
  {
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    rowsPerSecond: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    runFlows: Type.Optional(Type.Boolean({ description: 'false: imported events start no workflow rule (history)' })),
    timeZone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description:
          'the IANA time zone (Europe/Warsaw) of the times the mapping reads without an offset, where a field names none',
      }),
    ),
  },
  { additionalProperties: false },
);

const Body = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    source: SourceInput,
    eventSourceId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description:
          'the event source the events come from (required where rows become events; it must exist); none for profiles or a Tracardi profile or session dump',
      }),
    ),
    eventType: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description:
          'the type of the events its rows become (those without mapping.type): required for target events, not used otherwise',
      }),
    ),
    target: Type.Optional(
      Type.Union(
        TARGETS.map((target) => Type.Literal(target)),
        {
          description:
            'events (default): a row is an event; profiles: a row sets a profile, by id (mapping.profileId) or by an identity key (mapping.identityKey)',
        },
      ),
    ),
    mapping: Type.Optional(MappingSchema),
    options: Type.Optional(OptionsSchema),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const ImportSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  source: SourceOutput,
  hasSecret: Type.Boolean({ description: 'whether credentials are stored (they are never returned)' }),
  eventSourceId: Type.Optional(Type.String({ description: 'absent where the import stores no event' })),
  eventType: Type.Optional(Type.String({ description: 'absent where its rows become no events' })),
  target: Type.Union(TARGETS.map((target) => Type.Literal(target))),
  mapping: MappingSchema,
  options: OptionsSchema,
  enabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const ImportRunSchema = Type.Object({
  id: Type.String(),
  kind: Type.Literal('import'),
  subject: Type.String({ description: 'the import id' }),
  state: Type.Union(['queued', 'running', 'paused', 'cancelled', 'done', 'failed'].map((state) => Type.Literal(state))),
  rowsRead: Type.Integer(),
  rowsStored: Type.Integer({
    description:
      'rows handled (stored as events, profiles or Tracardi documents), whether new or found stored already: a row read again is stored once but counted again',
  }),
  rowsRejected: Type.Integer({ description: 'rows rejected; the first 1,000 at /jobs/{id}/rejections' }),
  rowsPerSecond: Nullable(Type.Number()),
  percent: Nullable(Type.Number({ description: 'share of the source read, when its size is known' })),
  etaSeconds: Nullable(Type.Integer({ description: 'seconds left at the rate so far, while a worker runs it' })),
  waitingForWorker: Type.Boolean({
    description:
      'a running run whose worker stopped renewing its lease (killed): another worker takes it over once its job is handed out again, with no ETA meanwhile',
  }),
  total: Nullable(Type.Integer({ description: 'size of the source: bytes of a file, rows of a table' })),
  position: Type.Integer({ description: 'how far into total the run has read' }),
  lastError: Nullable(Type.String()),
  createdAt: Type.String(),
  startedAt: Nullable(Type.String()),
  updatedAt: Type.String(),
  finishedAt: Nullable(Type.String()),
});

export const importRunView = (run: ImportRun): Static<typeof ImportRunSchema> => ({
  id: run.id,
  kind: 'import',
  subject: run.importId,
  state: run.state,
  rowsRead: run.rowsRead,
  rowsStored: run.rowsStored,
  rowsRejected: run.rowsRejected,
  ...progressOf(importFigures(run)),
  waitingForWorker: waitsForWorker(run),
  total: run.total,
  position: run.position,
  lastError: run.lastError,
  createdAt: run.createdAt,
  startedAt: run.startedAt,
  updatedAt: run.updatedAt,
  finishedAt: run.finishedAt,
});

export function importRoutes(services: ImportApiServices) {
  const { imports } = services;
  // An enabled import's file must be there when it is saved, for the run to read; a disabled one may
  // be saved before its file is written.
  const checkFile = async ({ source, enabled }: ImportDraft) => {
    if (!services.unreadableFile || isDatabaseSource(source) || enabled === false) return;
    const problem = await services.unreadableFile(source.path);
    if (problem) throw invalidInput(`source.path: ${problem}`, [{ field: 'source.path', message: problem }]);
  };
  const prepare = async (draft: ImportDraft) => {
    checkDraft(draft);
    await checkImportReferences(draft, services.sources);
    await checkFile(draft);
    const { source, secret } = splitSecret(draft.source);
    return { draft: { ...draft, source }, sealed: secret === undefined ? undefined : await services.seal(secret) };
  };
  return async (app: FastifyInstance) => {
    const api = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['imports'];

    api.post(
      '/imports',
      {
        schema: {
          tags,
          summary: `Save an import: a source (${SOURCE_KINDS.join(', ')}) whose rows become events`,
          body: Body,
          response: { 201: ImportSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        const { draft, sealed } = await prepare(request.body as ImportDraft);
        return reply.status(201).send(await imports.create(randomUUID(), draft, sealed));
      },
    );
    api.get(
      '/imports',
      { schema: { tags, summary: 'Saved imports', response: { 200: Type.Array(ImportSchema) } } },
      async () => imports.list(),
    );
    api.get(
      '/imports/:id',
      {
        schema: { tags, summary: 'One import', params: IdParams, response: { 200: ImportSchema, '4xx': ErrorSchema } },
      },
      async (request) => (await imports.get(request.params.id)) ?? Promise.reject(notFound('import')),
    );
    api.put(
      '/imports/:id',
      {
        schema: {
          tags,
          summary:
            'Replace an import; a password left out is kept while the source names the same server, database and user. Runs already started keep their settings.',
          params: IdParams,
          body: Body,
          response: { 200: ImportSchema, '4xx': ErrorSchema },
        },
      },
      async (request) => {
        const body = request.body as ImportDraft;
        const stored = await imports.get(request.params.id);
        if (!stored) throw notFound('import');
        checkKeptSecret(stored, body.source);
        const { draft, sealed } = await prepare(body);
        return (await imports.update(request.params.id, draft, sealed)) ?? Promise.reject(notFound('import'));
      },
    );
    api.delete(
      '/imports/:id',
      {
        schema: {
          tags,
          summary: 'Delete an import (409 while one of its runs is queued, running or paused)',
          params: IdParams,
          response: { 204: Type.Null(), '4xx': ErrorSchema },
        },
      },
      async (request, reply) => {
        await services.delete(request.params.id);
        return reply.status(204).send(null);
      },
    );
    api.post(
      '/imports/:id/run',
      {
        schema: {
          tags,
          summary:
            'Start a run; follow it at GET /jobs/{id} (409 while another run of it is queued, running or paused)',
          params: IdParams,
          response: { 202: ImportRunSchema, '4xx': ErrorSchema },
        },
      },
      async (request, reply) => reply.status(202).send(importRunView(await services.start(request.params.id))),
    );
    api.get(
      '/imports/:id/runs',
      {
        schema: {
          tags,
          summary: "The import's runs, newest first",
          params: IdParams,
          response: { 200: Type.Array(ImportRunSchema), '4xx': ErrorSchema },
        },
      },
      async (request) => {
        if (!(await imports.get(request.params.id))) throw notFound('import');
        return (await imports.runsOf(request.params.id)).map(importRunView);
      },
    );
  };
}
