import { Type, type Static } from '@sinclair/typebox';

/** How profiles, sessions and events are shown to API clients: Tracardi's document shapes. */
const Json = Type.Record(Type.String(), Type.Unknown());
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const Ref = Type.Object({ id: Type.String() });

export const ProfileViewSchema = Type.Object({
  id: Type.String(),
  ids: Type.Array(Type.String()),
  active: Type.Boolean(),
  metadata: Type.Object({
    time: Type.Object({
      create: Time,
      update: Time,
      visit: Type.Object({ last: Time, current: Time, count: Type.Integer() }),
    }),
  }),
  traits: Json,
  pii: Json,
  data: Json,
  stats: Json,
  consents: Json,
  segments: Type.Array(Type.String()),
});
export type ProfileView = Static<typeof ProfileViewSchema>;

export const SessionViewSchema = Type.Object({
  id: Type.String(),
  profile: Ref,
  source: Type.Union([Ref, Type.Null()]),
  status: Type.String(),
  inactive: Type.Boolean(),
  eventsCount: Type.Integer(),
  device: Json,
  os: Json,
  app: Json,
  context: Json,
  metadata: Type.Object({
    time: Type.Object({
      create: Time,
      update: Time,
      lastEvent: Time,
      visit: Type.Object({ started: Time, ended: Time }),
    }),
  }),
});
export type SessionView = Static<typeof SessionViewSchema>;

export const EventViewSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  profile: Type.Union([Ref, Type.Null()]),
  session: Type.Union([Ref, Type.Null()]),
  source: Ref,
  properties: Json,
  traits: Json,
  context: Json,
  tags: Type.Array(Type.String()),
  status: Type.String(),
  metadata: Json,
  time: Type.Object({ occurred: Time, inserted: Time }),
});
export type EventView = Static<typeof EventViewSchema>;

export interface EventPage {
  items: EventView[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  next: string | null;
}

export interface EventQuery {
  type?: string;
  /** A profile's ids: its own and those merged into it, whose events keep the id they were stored with. */
  profileIds?: string[];
  sessionId?: string;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
}
