/**
 * Imports end to end, through the admin API with the import worker in-process: CSV and JSON Lines
 * files written here, MariaDB (127.0.0.1:3306, root, database `test`) and PostgreSQL tables made here.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHeartbeatConfig } from '../src/config/config.js';
import { runHeartbeat } from '../src/heartbeat/job.js';
import { createImportRun, runImport } from '../src/importing/runner.js';
import { BACKENDS, startTestApi, type TestApi } from './support/api.js';
import { eventually } from './support/eventually.js';
import { POSTGRES_ADMIN_URL, postgresAvailable } from './support/postgres.js';
import { serviceAvailable } from './support/services.js';

interface RunView {
  id: string;
  state: string;
  rowsRead: number;
  rowsStored: number;
  rowsRejected: number;
  rowsPerSecond: number | null;
  percent: number | null;
  total: number | null;
  lastError: string | null;
}

const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };

/** Text of `length` random characters: PostgreSQL cannot compress it under an index entry's limit. */
const incompressible = (length: number) => randomBytes(length).toString('base64url').slice(0, length);
const mariadbAvailable = () =>
  serviceAvailable('MariaDB', async () => {
    const connection = await mysql.createConnection(MARIADB);
    await connection.end();
  });

const backends = await Promise.all(BACKENDS.map(async (backend) => ({ ...backend, up: await backend.available() })));

describe.each(backends.filter((backend) => backend.up))('imports on $name', ({ name }) => {
  let api: TestApi;
  let dir: string;
  const suffix = randomBytes(4).toString('hex');

  beforeAll(async () => {
    api = await startTestApi(name, {}, { workers: ['all'] });
    dir = mkdtempSync(join(tmpdir(), 'meridian-imports-'));
  });
  afterAll(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const createImport = async (body: Record<string, unknown>) => {
    const created = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: { name: 'history', eventSourceId: api.sourceId, eventType: 'purchase', ...body },
    });
    expect(created.statusCode, created.body).toBe(201);
    return created.json<{ id: string; hasSecret: boolean; source: Record<string, unknown> }>();
  };
  const job = async (id: string) => (await api.admin({ method: 'GET', url: `/jobs/${id}` })).json<RunView>();
  const run = async (importId: string) => {
    const started = await api.admin({ method: 'POST', url: `/imports/${importId}/run` });
    expect(started.statusCode, started.body).toBe(202);
    return started.json<RunView>().id;
  };
  const finished = (id: string) =>
    eventually(
      () => job(id),
      (view) => ['done', 'failed'].includes(view.state),
    );
  const events = async (type: string) =>
    Number((await api.runtime.db.query(`SELECT count(*) AS n FROM events WHERE type = $1`, [type]))[0]!['n']);

  it('stores each good CSV row once, rejects bad ones with their line and reason, and a second run adds nothing', async () => {
    const lines = ['user;amount;name;at'];
    for (let i = 1; i <= 40; i++) lines.push(`u${i % 7};${i}.5;"item ${i}; big";2024-03-0${(i % 9) + 1} 10:00:00`);
    lines.push('u1;12'); // line 42: a column short
    lines.push('u2;twelve;thing;2024-03-01 10:00:00'); // line 43: not a number
    const bytes = Buffer.concat([
      Buffer.from(`${lines.join('\n')}\n`),
      Buffer.from('u3;1;caf'),
      Buffer.from([0xe9]), // line 44: latin-1 é in a UTF-8 file
      Buffer.from(';2024-03-01 10:00:00\nu4;2;fine;2024-03-02 11:00:00\n'),
    ]);
    const path = join(dir, 'orders.csv');
    writeFileSync(path, bytes);
    const created = await createImport({
      eventType: 'csv-order',
      source: { kind: 'csv', path, delimiter: ';' },
      mapping: {
        profileId: 'user',
        time: { from: 'at', format: 'YYYY-MM-DD HH:mm:ss' },
        properties: { amount: { from: 'amount', type: 'number', required: true }, 'item.name': 'name' },
      },
      options: { batchSize: 7 },
    });
    const first = await finished(await run(created.id));
    expect(first).toMatchObject({ state: 'done', rowsRead: 44, rowsStored: 41, rowsRejected: 3, percent: 100 });
    expect(first.rowsPerSecond).toBeGreaterThan(0);
    expect(await events('csv-order')).toBe(41);
    const rejections = (await api.admin({ method: 'GET', url: `/jobs/${first.id}/rejections` })).json<
      { ref: string; reason: string }[]
    >();
    expect(rejections).toEqual([
      { ref: 'line 42', reason: 'expected 4 columns, got 2' },
      { ref: 'line 43', reason: expect.stringContaining('amount: expected a number') },
      { ref: 'line 44', reason: 'bytes that are not valid utf-8' },
    ]);
    const [stored] = await api.runtime.db.query<{ properties: Record<string, unknown>; occurred_at: Date }>(
      `SELECT properties, occurred_at FROM events WHERE type = 'csv-order' AND properties->>'amount' = '1.5'`,
    );
    expect(stored!.properties).toEqual({ amount: 1.5, item: { name: 'item 1; big' } });
    expect(stored!.occurred_at.toISOString()).toBe('2024-03-02T10:00:00.000Z');
    // Rows with the same user share one profile.
    const profiles = await api.runtime.db.query(`SELECT DISTINCT profile_id FROM events WHERE type = 'csv-order'`);
    expect(profiles).toHaveLength(7);

    const again = await finished(await run(created.id));
    expect(again).toMatchObject({ state: 'done', rowsRead: 44, rowsStored: 41 });
    expect(await events('csv-order')).toBe(41);
  });

  it('keeps the first 1,000 rejected rows by line, whether the mapping or collect rejected them, and counts all', async () => {
    const path = join(dir, 'many-bad.csv');
    const bad = Array.from({ length: 1001 }, (_, i) => `m${i},bad,ok`);
    // Line 2: a type /track refuses (collect's rejection); lines 3 to 1003: amounts that are no number (the mapping's).
    writeFileSync(path, `id,amount,kind\nc0,1,${'x'.repeat(129)}\n${bad.join('\n')}\n`);
    const created = await createImport({
      eventType: 'many-bad',
      source: { kind: 'csv', path },
      mapping: { type: 'kind', properties: { amount: { from: 'amount', type: 'number' } } },
    });
    const view = await finished(await run(created.id));
    expect(view).toMatchObject({ state: 'done', rowsRead: 1002, rowsStored: 0, rowsRejected: 1002 });
    const kept = (await api.admin({ method: 'GET', url: `/jobs/${view.id}/rejections` })).json<{ ref: string }[]>();
    expect(kept).toHaveLength(1000);
    expect(kept.map(({ ref }) => ref)).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i + 2}`));
  });

  it('keeps a rejection whose quoted value is cut where an emoji was, and goes on', async () => {
    const path = join(dir, 'emoji-cut.csv');
    // The reason quotes 100 characters of "…": the 100th is the first half of the emoji.
    writeFileSync(path, `id,amount\n1,${'x'.repeat(98)}😀 not a number\n2,5\n`);
    const created = await createImport({
      eventType: 'emoji-cut',
      source: { kind: 'csv', path },
      mapping: { properties: { amount: { from: 'amount', type: 'number' } } },
    });
    const view = await finished(await run(created.id));
    expect(view).toMatchObject({ state: 'done', rowsRead: 2, rowsStored: 1, rowsRejected: 1 });
    const kept = (await api.admin({ method: 'GET', url: `/jobs/${view.id}/rejections` })).json<{ ref: string }[]>();
    expect(kept).toEqual([
      { ref: 'line 2', reason: `properties.amount: expected a number, got "${'x'.repeat(98)}… (115 characters)` },
    ]);
  });

  it('fails a CSV run whose header cannot be read, saying why, rather than take its first row for the header', async () => {
    const path = join(dir, 'latin-header.csv');
    writeFileSync(path, Buffer.concat([Buffer.from('id,Stra'), Buffer.from([0xdf]), Buffer.from('e\n1,a\n2,b\n')]));
    const created = await createImport({ eventType: 'csv-bad-header', source: { kind: 'csv', path } });
    const view = await finished(await run(created.id));
    expect(view).toMatchObject({
      state: 'failed',
      rowsRead: 0,
      lastError: 'line 1 (header): bytes that are not valid utf-8; check source.encoding and source.quote',
    });
    expect(await events('csv-bad-header')).toBe(0);
  });

  it('lands rows on the survivor of a merge, by a merged id a row names or a session it shares, and counts each session once', async () => {
    const path = join(dir, 'merges.csv');
    const rows = (users: string[]) => users.map((user, at) => `${user},${at}`).join('\n');
    writeFileSync(path, `user,amount\n${rows(['a', 'b', 'a', 'b', 'a', 'b'])}\n`);
    const created = await createImport({
      eventType: 'merge-order',
      source: { kind: 'csv', path },
      mapping: { profileId: 'user', properties: { amount: { from: 'amount', type: 'number' } } },
      options: { batchSize: 2 },
    });
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 6 });
    const ofUser = async () =>
      api.runtime.db.query<{ profile_id: string; session_id: string; amount: string; events_count: number }>(
        `SELECT e.profile_id, e.session_id, e.properties->>'amount' AS amount, s.events_count
           FROM events e JOIN sessions s ON s.id = e.session_id WHERE e.type = 'merge-order' ORDER BY e.occurred_at, e.seq`,
      );
    const first = await ofUser();
    expect(first.map((row) => row.events_count)).toEqual([3, 3, 3, 3, 3, 3]);
    const [a, b] = [first[0]!.profile_id, first[1]!.profile_id];
    // b's profile absorbs a's, and an id a row will name.
    await api.runtime.db.query(`UPDATE profiles SET ids = ARRAY[$1, 'merged-x'] WHERE id = $2`, [a, b]);
    await api.runtime.db.query(`DELETE FROM profiles WHERE id = $1`, [a]);

    writeFileSync(path, `user,amount\n${rows(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'merged-x', 'a'])}\n`);
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 9 });
    const second = await ofUser();
    expect(second).toHaveLength(9);
    const added = second.filter((row) => Number(row.amount) >= 6);
    expect(added.map((row) => row.profile_id)).toEqual([b, b, b]);
    const countOf = (amount: string) => second.find((row) => row.amount === amount)!.events_count;
    expect([countOf('0'), countOf('1'), countOf('7')]).toEqual([5, 3, 1]);
    expect(await api.runtime.db.query(`SELECT id FROM profiles WHERE id = $1`, [a])).toEqual([]);
  });

  it('appends the later rows of a history to the sessions of their people, counted as /track counts them once the run settles', async () => {
    const path = join(dir, 'appended.csv');
    // Three people, four rows each, a batch a round: the first batch opens their sessions, the others append.
    const rows = Array.from({ length: 12 }, (_, at) => `h${at % 3},${at}`);
    writeFileSync(path, `user,amount\n${rows.join('\n')}\n`);
    const created = await createImport({
      eventType: 'appended-order',
      source: { kind: 'csv', path },
      mapping: { profileId: 'user', properties: { amount: { from: 'amount', type: 'number' } } },
      options: { batchSize: 3 },
    });
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 12 });
    const people = async () =>
      api.runtime.db.query<{
        session_id: string;
        profile_id: string;
        status: string;
        events_count: number;
        inactive: boolean;
        visits: number;
        active: boolean;
        types: string[];
      }>(
        `SELECT s.id AS session_id, s.profile_id, s.status, s.events_count, s.inactive, p.visits, p.active,
                ARRAY(SELECT type FROM events e WHERE e.session_id = s.id ORDER BY type) AS types
           FROM sessions s JOIN profiles p ON p.id = s.profile_id
          WHERE EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = 'appended-order')
          ORDER BY s.id`,
      );
    const visit = ['appended-order', 'appended-order', 'appended-order', 'appended-order'];
    const opened = [...visit, 'profile-created', 'session-opened', 'visit-started'];
    expect(await people()).toEqual(
      Array.from({ length: 3 }, () =>
        expect.objectContaining({
          status: 'active',
          events_count: 4,
          inactive: false,
          visits: 1,
          active: true,
          types: opened,
        }),
      ),
    );
    expect(await api.runtime.db.query('SELECT 1 FROM session_touches')).toEqual([]);

    // A visit the heartbeat ended: the row that continues it goes through collect, which starts a new one.
    const [ended] = await people();
    await api.runtime.db.query(`UPDATE sessions SET status = 'ended', visit_ended_at = now() WHERE id = $1`, [
      ended!.session_id,
    ]);
    await api.runtime.db.query(`UPDATE profiles SET active = false WHERE id = $1`, [ended!.profile_id]);
    const user = (
      await api.runtime.db.query<{ user: string }>(
        `SELECT 'h' || ((properties->>'amount')::int % 3) AS user FROM events WHERE session_id = $1 AND type = 'appended-order' LIMIT 1`,
        [ended!.session_id],
      )
    )[0]!.user;
    writeFileSync(path, `user,amount\n${rows.join('\n')}\n${user},12\n${user},13\nh9,14\n`);
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 15 });
    const after = await people();
    expect(after.find((person) => person.session_id === ended!.session_id)).toMatchObject({
      events_count: 6,
      visits: 2,
      active: true,
      types: [
        ...visit,
        'appended-order',
        'appended-order',
        'profile-created',
        'session-opened',
        'visit-started',
        'visit-started',
      ],
    });
    expect(
      after.filter((person) => person.session_id !== ended!.session_id).map((person) => person.events_count),
    ).toEqual(expect.arrayContaining([4, 4, 1]));
  });

  it("stores each row's mapped context and tags whether collected or appended, and rejects tags /track would refuse by row", async () => {
    const path = join(dir, 'context.csv');
    const many = Array.from({ length: 65 }, (_, at) => `t${at}`).join(',');
    const long = 'x'.repeat(129);
    // Two rows a batch: the first opens c1's and c2's visits (collect), their later rows are appended;
    // c3 is a new person (collect) in the last batch.
    writeFileSync(
      path,
      [
        'n,user,url,source,labels',
        '1,c1,https://shop.example/a,mail,"vip, newsletter"',
        '2,c2,https://shop.example/b,,"[""a, b"", ""c""]"',
        '3,c1,https://shop.example/c,ads,returning',
        `4,c2,https://shop.example/d,,"${many}"`,
        `5,c1,https://shop.example/e,,${long}`,
        '6,c2,https://shop.example/f,news,',
        `7,c3,https://shop.example/g,,"ok,${long}"`,
        '8,c3,https://shop.example/h,,new',
      ].join('\n') + '\n',
    );
    const mapping = {
      profileId: 'user',
      properties: { n: { from: 'n', type: 'number' } },
      context: { 'page.url': 'url', 'utm.source': 'source' },
      tags: 'labels',
    };
    const refused = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: {
        name: 'x',
        eventSourceId: api.sourceId,
        eventType: 'x',
        target: 'profiles',
        source: { kind: 'csv', path },
        mapping,
      },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json<{ details: { field: string }[] }>().details.map(({ field }) => field)).toEqual([
      'mapping.properties',
      'mapping.context',
      'mapping.tags',
    ]);

    const created = await createImport({
      eventType: 'context-order',
      source: { kind: 'csv', path },
      mapping,
      options: { batchSize: 2 },
    });
    const done = await finished(await run(created.id));
    expect(done).toMatchObject({ state: 'done', rowsRead: 8, rowsStored: 5, rowsRejected: 3 });
    const rejections = (await api.admin({ method: 'GET', url: `/jobs/${done.id}/rejections` })).json<
      { ref: string; reason: string }[]
    >();
    expect(rejections).toEqual([
      { ref: 'line 5', reason: expect.stringMatching(/^tags: .*64/) },
      { ref: 'line 6', reason: expect.stringMatching(/^tags\.0: .*128/) },
      { ref: 'line 8', reason: expect.stringMatching(/^tags\.1: .*128/) },
    ]);

    type Item = {
      profile: { id: string };
      properties: { n: number };
      context: Record<string, unknown>;
      tags: string[];
    };
    const page = await api.admin({ method: 'GET', url: '/events?type=context-order&limit=50' });
    expect(page.statusCode, page.body).toBe(200);
    const stored = page.json<{ items: Item[] }>().items.toSorted((a, b) => a.properties.n - b.properties.n);
    const url = (letter: string) => `https://shop.example/${letter}`;
    expect(stored.map(({ properties, context, tags }) => ({ n: properties.n, context, tags }))).toEqual([
      { n: 1, context: { page: { url: url('a') }, utm: { source: 'mail' } }, tags: ['vip', 'newsletter'] },
      { n: 2, context: { page: { url: url('b') } }, tags: ['a, b', 'c'] },
      { n: 3, context: { page: { url: url('c') }, utm: { source: 'ads' } }, tags: ['returning'] },
      { n: 6, context: { page: { url: url('f') }, utm: { source: 'news' } }, tags: [] },
      { n: 8, context: { page: { url: url('h') } }, tags: ['new'] },
    ]);
    // The rows of a person are on one profile, as its timeline shows them.
    const timeline = await api.admin({ method: 'GET', url: `/profiles/${stored[0]!.profile.id}/events` });
    expect(
      timeline
        .json<{ items: Item[] }>()
        .items.filter((item) => item.properties.n !== undefined)
        .map(({ properties, tags }) => ({ n: properties.n, tags }))
        .toSorted((a, b) => a.n - b.n),
    ).toEqual([
      { n: 1, tags: ['vip', 'newsletter'] },
      { n: 3, tags: ['returning'] },
    ]);
  });

  it('stores the time each appended row maps, and rejects a time /track would refuse whether the row is appended or not', async () => {
    const path = join(dir, 'timed.csv');
    // A batch a row: the first opens t1's visit, t1's others are appended to it; t2 is a new person (collect).
    writeFileSync(
      path,
      'user,at\nt1,2024-05-01T10:00:00Z\nt1,2024-05-01T10:05:00+02:00\nt1,0000-01-01T00:00:00Z\nt1,2024-05-01 10:10:00\n' +
        't1,0999-12-31T00:00:00Z\nt2,0999-12-31T00:00:00Z\n',
    );
    const created = await createImport({
      eventType: 'timed-order',
      source: { kind: 'csv', path },
      mapping: { profileId: 'user', time: 'at' },
      options: { batchSize: 1 },
    });
    const done = await finished(await run(created.id));
    expect(done).toMatchObject({ state: 'done', rowsStored: 3, rowsRejected: 3 });
    const rejections = (await api.admin({ method: 'GET', url: `/jobs/${done.id}/rejections` })).json<
      { ref: string; reason: string }[]
    >();
    expect(rejections).toEqual(
      ['line 4', 'line 6', 'line 7'].map((ref) => ({ ref, reason: expect.stringMatching(/^time: expected /) })),
    );
    const stored = await api.runtime.db.query<{ occurred_at: Date }>(
      `SELECT occurred_at FROM events WHERE type = 'timed-order' ORDER BY occurred_at`,
    );
    expect(stored.map((row) => row.occurred_at.toISOString())).toEqual([
      '2024-05-01T08:05:00.000Z',
      '2024-05-01T10:00:00.000Z',
      '2024-05-01T10:10:00.000Z',
    ]);
  });

  it('counts appended rows exactly while /track writes to the same sessions, and a heartbeat settles what a run left', async () => {
    const path = join(dir, 'busy.csv');
    const rows = Array.from({ length: 120 }, (_, at) => `busy${at % 2},${at}`);
    writeFileSync(path, `user,amount\n${rows.join('\n')}\n`);
    const created = await createImport({
      eventType: 'busy-order',
      source: { kind: 'csv', path },
      mapping: { profileId: 'user', properties: { amount: { from: 'amount', type: 'number' } } },
      options: { batchSize: 4, rowsPerSecond: 400 },
    });
    const runId = await run(created.id);
    const sessions = await eventually(
      () =>
        api.runtime.db.query<{ id: string; profile_id: string }>(
          `SELECT DISTINCT s.id, s.profile_id FROM sessions s JOIN events e ON e.session_id = s.id
            WHERE e.type = 'busy-order' ORDER BY s.id`,
        ),
      (found) => found.length === 2,
    );
    const tracked = await Promise.all(
      Array.from({ length: 40 }, (_, at) =>
        api.track({
          source: { id: api.sourceId },
          session: { id: sessions[at % 2]!.id },
          profile: { id: sessions[at % 2]!.profile_id },
          events: [{ type: 'busy-click', properties: { at } }],
        }),
      ),
    );
    for (const answer of tracked) expect(answer.statusCode, answer.body).toBe(200);
    expect(await finished(runId)).toMatchObject({ state: 'done', rowsStored: 120 });
    const counts = () =>
      api.runtime.db.query<{ events_count: number; stored: number }>(
        `SELECT s.events_count, (SELECT count(*)::int FROM events e WHERE e.session_id = s.id AND NOT e.metadata ? 'system') AS stored
           FROM sessions s WHERE s.id = ANY($1::text[])`,
        [sessions.map((session) => session.id)],
      );
    expect((await counts()).map((row) => [row.events_count, row.stored])).toEqual([
      [80, 80],
      [80, 80],
    ]);

    // Touches a killed run left behind: the heartbeat counts them before it judges the sessions.
    await api.runtime.db.query(
      `INSERT INTO session_touches (session_id, events, touched_at) SELECT id, 5, now() FROM sessions WHERE id = ANY($1::text[])`,
      [sessions.map((session) => session.id)],
    );
    await runHeartbeat(
      {
        qualifyBy: 'inactive-session',
        settings: loadHeartbeatConfig({ RANGE: 'now-1h|now', SKIP_SECONDS: '900' }),
        now: new Date(),
        lanes: 1,
      },
      api.runtime.root.heartbeatServices(),
    );
    expect((await counts()).map((row) => row.events_count)).toEqual([85, 85]);
    expect(await api.runtime.db.query('SELECT 1 FROM session_touches')).toEqual([]);
  });

  it("settles a session's touches onto the survivor of a merge its profile went into meanwhile", async () => {
    const opened = async () => {
      const answer = await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] });
      return answer.json<{ profile: { id: string }; session: { id: string } }>();
    };
    const [older, newer] = [await opened(), await opened()];
    const merged = await api.admin({
      method: 'POST',
      url: '/profiles/merge',
      payload: { ids: [older.profile.id, newer.profile.id] },
    });
    expect(merged.statusCode, merged.body).toBe(200);
    // The survivor flagged inactive by a heartbeat; an import had appended to the merged-away profile's session.
    await api.runtime.db.query('UPDATE profiles SET active = false WHERE id = $1', [older.profile.id]);
    await api.runtime.db.query(`INSERT INTO session_touches (session_id, events, touched_at) VALUES ($1, 1, now())`, [
      newer.session.id,
    ]);
    expect(await api.runtime.root.tracking().historyCommit.settle()).toBe(1);
    const [survivor] = await api.runtime.db.query<{ active: boolean }>('SELECT active FROM profiles WHERE id = $1', [
      older.profile.id,
    ]);
    expect(survivor).toEqual({ active: true });
  });

  it('settles the touches of many sessions in slices, side by side on PostgreSQL, each session once', async () => {
    const sessionIds = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const answer = await api.track({ source: { id: api.sourceId }, events: [{ type: 'page-view' }] });
        return answer.json<{ session: { id: string } }>().session.id;
      }),
    );
    const counts = async () =>
      new Map(
        (
          await api.runtime.db.query<{ id: string; events_count: number }>(
            'SELECT id, events_count FROM sessions WHERE id = ANY($1::text[])',
            [sessionIds],
          )
        ).map((row) => [row.id, row.events_count]),
      );
    const before = await counts();
    await api.runtime.db.query(
      `INSERT INTO session_touches (session_id, events, touched_at)
       SELECT id, n, now() FROM unnest($1::text[]) AS id, (VALUES (3), (4)) AS t(n)`,
      [sessionIds],
    );
    // Slices of 4 sessions: each share of the sessions takes several.
    expect(await api.runtime.root.tracking().historyCommit.settle(4)).toBe(30);
    const after = await counts();
    expect(sessionIds.map((id) => after.get(id)! - before.get(id)!)).toEqual(sessionIds.map(() => 7));
    expect(await api.runtime.db.query('SELECT 1 FROM session_touches')).toEqual([]);
  });

  it('applies identification points to appended rows as collect does', async () => {
    const point = await api.admin({
      method: 'POST',
      url: '/identification-points',
      payload: { name: 'signup', eventType: 'signup', fields: [{ event: 'properties.email', profile: 'pii.email' }] },
    });
    expect(point.statusCode, point.body).toBe(201);
    const path = join(dir, 'signups.jsonl');
    // The first batch opens the person's session, the second appends the row that carries the email.
    writeFileSync(path, '{"user": "id1", "page": "/"}\n{"user": "id1", "email": "id1@example.com"}\n');
    const created = await createImport({
      eventType: 'signup',
      source: { kind: 'jsonl', path },
      mapping: { profileId: 'user', properties: { email: 'email', page: 'page' } },
      options: { batchSize: 1 },
    });
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 2 });
    const profiles = await api.runtime.db.query<{ pii: Record<string, unknown> }>(
      `SELECT p.pii FROM profiles p WHERE p.id IN (SELECT profile_id FROM events WHERE type = 'signup')`,
    );
    expect(profiles).toEqual([{ pii: expect.objectContaining({ email: 'id1@example.com' }) }]);
  });

  it("gives each row the event type its column holds, normalised as /track normalises it, the import's own where it holds none", async () => {
    const mapping = await api.admin({
      method: 'POST',
      url: '/mappings',
      payload: {
        name: 'plan chosen',
        kind: 'event-to-profile',
        eventType: 'typed-plan-chosen',
        mapping: [{ event: 'properties.plan', profile: 'traits.plan', op: 'equals' }],
      },
    });
    expect(mapping.statusCode, mapping.body).toBe(201);
    const path = join(dir, 'typed.jsonl');
    const rows = [
      // The first batch opens both people's sessions (collect); the later ones append to them.
      { user: 'typed-1', event: 'Typed Page View' },
      { user: 'typed-2', event: '' },
      { user: 'typed-1', event: 'typed page view' },
      { user: 'typed-1', event: 'typed-order' },
      { user: 'typed-2', event: { not: 'text' } },
      // A type with an event-to-profile mapping goes through collect, which applies it.
      { user: 'typed-1', event: 'typed-plan-chosen', plan: 'pro' },
      { user: 'typed-2' },
      { user: 'typed-2', event: 'x'.repeat(129) },
      // Blanks are no value: no type.
      { user: 'typed-2', event: ' ' },
    ];
    writeFileSync(path, `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
    const created = await createImport({
      eventType: 'typed-default',
      source: { kind: 'jsonl', path },
      mapping: { type: 'event', profileId: 'user', properties: { plan: 'plan' } },
      options: { batchSize: 2 },
    });
    expect(created).toMatchObject({ mapping: { type: 'event' } });
    const view = await finished(await run(created.id));
    expect(view).toMatchObject({ state: 'done', rowsStored: 7, rowsRejected: 2 });
    const rejections = (await api.admin({ method: 'GET', url: `/jobs/${view.id}/rejections` })).json<
      { ref: string; reason: string }[]
    >();
    expect(rejections).toEqual([
      expect.objectContaining({ ref: 'line 5', reason: 'type: expected text' }),
      expect.objectContaining({ ref: 'line 8', reason: expect.stringMatching(/^type: /) }),
    ]);
    const stored = await api.runtime.db.query<{ type: string; n: number }>(
      `SELECT type, count(*)::int AS n FROM events
        WHERE profile_id IN (SELECT profile_id FROM events WHERE type LIKE 'typed-%') AND metadata = '{}'
        GROUP BY type ORDER BY type`,
    );
    expect(stored).toEqual([
      { type: 'typed-default', n: 3 },
      { type: 'typed-order', n: 1 },
      { type: 'typed-page-view', n: 2 },
      { type: 'typed-plan-chosen', n: 1 },
    ]);
    const [person] = await api.runtime.db.query<{ traits: Record<string, unknown>; events_count: number }>(
      `SELECT p.traits, (SELECT sum(events_count)::int FROM sessions s WHERE s.profile_id = p.id) AS events_count
         FROM profiles p WHERE p.id = (SELECT profile_id FROM events WHERE type = 'typed-plan-chosen')`,
    );
    expect(person).toMatchObject({ traits: { plan: 'pro' }, events_count: 4 });
  });

  it('ends a visit where a row of type visit-ended says so, and opens the next for the rows after it, as /track does', async () => {
    const path = join(dir, 'visits-ended.jsonl');
    const rows = [
      // The first batch opens both visits; in the second, the rows after the end go after it, not appended before.
      { user: 've-1', event: 've page' },
      { user: 've-2', event: 've page' },
      { user: 've-1', event: 'Visit Ended' },
      { user: 've-1', event: 've page' },
    ];
    writeFileSync(path, `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
    const created = await createImport({
      eventType: 've-page',
      source: { kind: 'jsonl', path },
      mapping: { type: 'event', profileId: 'user' },
      options: { batchSize: 2 },
    });
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 4 });
    const [person] = await api.runtime.db.query<{ visits: number; types: string[] }>(
      `SELECT p.visits, ARRAY(SELECT e.type FROM events e WHERE e.profile_id = p.id ORDER BY e.seq) AS types
         FROM profiles p WHERE p.id IN (SELECT profile_id FROM events WHERE type = 'visit-ended')`,
    );
    expect(person!.visits).toBe(2);
    expect(person!.types.slice(person!.types.indexOf('visit-ended'))).toEqual([
      'visit-ended',
      'visit-started',
      've-page',
    ]);
  });

  it('refuses an event type by row where rows become no events, or as anything but text', async () => {
    const refused = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: {
        name: 'typed profiles',
        eventSourceId: api.sourceId,
        eventType: 'purchase',
        target: 'profiles',
        source: { kind: 'csv', path: join(dir, 'none.csv') },
        mapping: { type: 'event', profileId: 'user' },
      },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ details: [expect.objectContaining({ field: 'mapping.type' })] });
    const numbered = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: {
        name: 'typed by number',
        eventSourceId: api.sourceId,
        eventType: 'purchase',
        source: { kind: 'csv', path: join(dir, 'none.csv') },
        mapping: { type: { from: 'event', type: 'number' }, profileId: 'user' },
      },
    });
    expect(numbered.statusCode).toBe(400);
    expect(numbered.json()).toMatchObject({ details: [expect.objectContaining({ field: 'mapping.type.type' })] });
  });

  it("reads times without an offset in the import's time zone, or a field's own, across a change of the clocks", async () => {
    const path = join(dir, 'warsaw.csv');
    // 02:30 on 27 October 2024 was shown twice in Warsaw (the first time at 00:30 UTC); 02:30 on 31 March never was.
    writeFileSync(
      path,
      'n,at,paid\n1,2024-10-27 02:30,2024-07-15 12:00\n2,2024-03-31 02:30,2024-07-15 12:00\n3,2024-07-15T12:00:00Z,\n',
    );
    const zoned = {
      eventType: 'zoned',
      source: { kind: 'csv', path },
      mapping: {
        time: 'at',
        properties: { n: 'n', paid: { from: 'paid', type: 'date', timeZone: 'America/New_York' } },
      },
      options: { timeZone: 'Europe/Warsaw' },
    };
    const created = await createImport(zoned);
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 3 });
    const stored = await api.runtime.db.query<{ n: string; occurred_at: Date; paid: string | null }>(
      `SELECT properties->>'n' AS n, occurred_at, properties->>'paid' AS paid FROM events WHERE type = 'zoned' ORDER BY 1`,
    );
    expect(stored.map(({ n, occurred_at, paid }) => [n, occurred_at.toISOString(), paid])).toEqual([
      ['1', '2024-10-27T00:30:00.000Z', '2024-07-15T16:00:00.000Z'],
      ['2', '2024-03-31T01:30:00.000Z', '2024-07-15T16:00:00.000Z'],
      ['3', '2024-07-15T12:00:00.000Z', null],
    ]);

    // A paused run does not take another time zone saved since: its rows would be read in two.
    const paused = await createImportRun(api.runtime.root.repositories.imports, created.id);
    await api.admin({ method: 'POST', url: `/jobs/${paused.id}/pause` });
    const { imports } = api.runtime.root.repositories;
    expect(await imports.adoptImportSettings(paused.id)).toBe(true);
    const replaced = await api.admin({
      method: 'PUT',
      url: `/imports/${created.id}`,
      payload: { name: 'history', eventSourceId: api.sourceId, ...zoned, options: { timeZone: 'Asia/Tokyo' } },
    });
    expect(replaced.statusCode, replaced.body).toBe(200);
    expect(await imports.adoptImportSettings(paused.id)).toBe(false);
    await api.admin({ method: 'POST', url: `/jobs/${paused.id}/cancel` });

    for (const [change, field] of [
      [{ options: { timeZone: 'Europe/Warszawa' } }, 'options.timeZone'],
      [{ mapping: { time: { from: 'at', timeZone: 'CEST' } } }, 'mapping.time.timeZone'],
    ] as const) {
      const refused = await api.admin({
        method: 'POST',
        url: '/imports',
        payload: { name: 'history', eventSourceId: api.sourceId, ...zoned, ...change },
      });
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json<{ details: { field: string; message: string }[] }>().details).toEqual([
        { field, message: expect.stringMatching(/^unknown time zone ".+": expected an IANA name/) },
      ]);
    }
  });

  it('reads JSON Lines, with dot paths into nested objects', async () => {
    const path = join(dir, 'visits.jsonl');
    const rows = Array.from({ length: 25 }, (_, i) => JSON.stringify({ who: { id: `p${i % 3}` }, page: `/p/${i}` }));
    writeFileSync(path, `${rows.slice(0, 10).join('\n')}\n{not json\n[1,2]\n\n${rows.slice(10).join('\n')}`);
    const created = await createImport({
      eventType: 'jsonl-visit',
      source: { kind: 'jsonl', path },
      mapping: { profileId: 'who.id', properties: { url: 'page' } },
      options: { batchSize: 4 },
    });
    const view = await finished(await run(created.id));
    expect(view).toMatchObject({ state: 'done', rowsStored: 25, rowsRejected: 2 });
    const rejections = (await api.admin({ method: 'GET', url: `/jobs/${view.id}/rejections` })).json<
      { ref: string }[]
    >();
    expect(rejections.map((each) => each.ref)).toEqual(['line 11', 'line 12']);
    expect(await events('jsonl-visit')).toBe(25);
  });

  it('lists its runs at GET /jobs among the other background runs, latest first, as GET /jobs/{id} shows them', async () => {
    const path = join(dir, 'listed.csv');
    writeFileSync(path, 'id\nl1\nl2\n');
    const created = await createImport({ eventType: 'listed-row', source: { kind: 'csv', path } });
    const first = await finished(await run(created.id));
    const migration = `listed-migration-${suffix}`;
    await api.runtime.db.query(`INSERT INTO job_runs (id, kind, subject) VALUES ($1, 'data-migration', 'listed')`, [
      migration,
    ]);
    const second = await finished(await run(created.id));
    const jobs = async (query: string) =>
      (await api.admin({ method: 'GET', url: `/jobs?${query}` })).json<{ id: string; kind: string }[]>();

    expect((await jobs('limit=3')).map((each) => each.id)).toEqual([second.id, migration, first.id]);
    expect(await jobs('kind=import&limit=2')).toEqual([await job(second.id), await job(first.id)]);
    expect((await jobs('kind=import')).every((each) => each.kind === 'import')).toBe(true);
    expect((await jobs('kind=data-migration')).map((each) => each.id)).toContain(migration);
    expect((await jobs('kind=data-migration')).some((each) => each.kind === 'import')).toBe(false);
    expect((await jobs('limit=1')).map((each) => each.id)).toEqual([second.id]);
  });

  it('with options.runFlows false stores the events without starting the workflow rules they match', async () => {
    const path = join(dir, 'flows.jsonl');
    // The second batch is appended to the sessions the first opened.
    writeFileSync(path, '{"user": "f1"}\n{"user": "f2"}\n{"user": "f1"}\n{"user": "f2"}\n');
    const runsOf = async (eventType: string) => {
      const flow = await api.admin({
        method: 'POST',
        url: '/flows',
        payload: {
          name: eventType,
          type: 'collection',
          graph: { nodes: [{ id: 'n0', action: 'start', config: {} }], edges: [] },
        },
      });
      expect(flow.statusCode, flow.body).toBe(201);
      const rule = await api.admin({
        method: 'POST',
        url: '/rules',
        payload: { name: eventType, kind: 'event', eventType, flowId: flow.json<{ id: string }>().id },
      });
      expect(rule.statusCode, rule.body).toBe(201);
      return async (status = 'completed') =>
        Number(
          (
            await api.runtime.db.query(`SELECT count(*) AS n FROM workflow_runs WHERE rule_id = $1 AND status = $2`, [
              rule.json<{ id: string }>().id,
              status,
            ])
          )[0]!['n'],
        );
    };
    const historyRuns = await runsOf('history-order');
    const liveRuns = await runsOf('live-order');
    const source = { kind: 'jsonl', path };
    const history = await createImport({
      eventType: 'history-order',
      source,
      mapping: { profileId: 'user' },
      options: { runFlows: false, batchSize: 2 },
    });
    const live = await createImport({
      eventType: 'live-order',
      source,
      mapping: { profileId: 'user' },
      options: { batchSize: 2 },
    });
    expect(await finished(await run(history.id))).toMatchObject({ state: 'done', rowsStored: 4 });
    expect(await finished(await run(live.id))).toMatchObject({ state: 'done', rowsStored: 4 });
    expect(await events('history-order')).toBe(4);
    expect(await historyRuns()).toBe(0);
    expect(await historyRuns('pending')).toBe(0);
    // Every run of the live import executed, those of its appended rows too.
    await eventually(liveRuns, (done) => done === 4);
  });

  it('pauses after a batch, resumes from its checkpoint, and stores every row once', async () => {
    const path = join(dir, 'big.csv');
    writeFileSync(path, `id,n\n${Array.from({ length: 3000 }, (_, i) => `r${i},${i}`).join('\n')}\n`);
    const created = await createImport({
      eventType: 'paused-row',
      source: { kind: 'csv', path },
      // A pause takes effect within about a second's rows: the file holds three seconds' worth.
      options: { batchSize: 100, rowsPerSecond: 1000 },
    });
    const id = await run(created.id);
    await eventually(
      () => job(id),
      (view) => view.rowsRead >= 100,
    );
    const paused = await api.admin({ method: 'POST', url: `/jobs/${id}/pause` });
    expect(paused.json<RunView>().state).toBe('paused');
    const settled = await eventually(
      async () => [await job(id), await job(id)] as const,
      ([a, b]) => a.rowsRead === b.rowsRead,
    );
    expect(settled[0].rowsRead).toBeLessThan(3000);
    expect((await api.admin({ method: 'POST', url: `/jobs/${id}/pause` })).statusCode).toBe(409);
    expect((await api.admin({ method: 'POST', url: `/jobs/${id}/resume` })).statusCode).toBe(200);
    const done = await finished(id);
    expect(done).toMatchObject({ state: 'done', rowsRead: 3000, rowsStored: 3000, rowsRejected: 0 });
    expect(await events('paused-row')).toBe(3000);
  });

  it('cancels a run for good', async () => {
    const path = join(dir, 'cancel.csv');
    writeFileSync(path, `id\n${Array.from({ length: 2000 }, (_, i) => `c${i}`).join('\n')}\n`);
    const created = await createImport({
      source: { kind: 'csv', path },
      options: { batchSize: 50, rowsPerSecond: 500 },
    });
    const id = await run(created.id);
    await eventually(
      () => job(id),
      (view) => view.rowsRead > 0,
    );
    expect((await api.admin({ method: 'POST', url: `/jobs/${id}/cancel` })).json<RunView>().state).toBe('cancelled');
    expect((await api.admin({ method: 'POST', url: `/jobs/${id}/resume` })).statusCode).toBe(409);
  });

  it('stores rows at its rowsPerSecond, not a whole batch at once, and counts each batch as soon as it is stored', async () => {
    const rate = 5;
    const path = join(dir, 'throttled.csv');
    writeFileSync(path, `id\n${Array.from({ length: 40 }, (_, i) => `t${i}`).join('\n')}\n`);
    // The default batch size: the throttle, not the batch, sets how many rows go at once.
    const created = await createImport({
      eventType: 'throttled-row',
      source: { kind: 'csv', path },
      options: { rowsPerSecond: rate },
    });
    const began = Date.now();
    const id = await run(created.id);
    let countedWhileRunning = 0;
    while (Date.now() - began < 2500) {
      const stored = await events('throttled-row');
      // At most one second's rows ahead of the rate.
      expect(stored).toBeLessThanOrEqual(rate * ((Date.now() - began) / 1000 + 1));
      const view = await job(id);
      if (view.state === 'running') countedWhileRunning = Math.max(countedWhileRunning, view.rowsStored);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(countedWhileRunning).toBeGreaterThanOrEqual(rate);
    expect((await api.admin({ method: 'POST', url: `/jobs/${id}/cancel` })).statusCode).toBe(200);
    const stopped = await eventually(
      async () => [await job(id), await events('throttled-row')] as const,
      ([view, stored]) => view.rowsStored === stored,
    );
    expect(stopped[0]).toMatchObject({ state: 'cancelled', rowsStored: stopped[1] });
    expect(stopped[1]).toBeLessThan(40);
  });

  it('runs an import whose throttle was saved as null (an Infinity before saving refused it) at full speed', async () => {
    const path = join(dir, 'null-rate.csv');
    writeFileSync(path, 'id\nn1\nn2\nn3\n');
    const created = await createImport({ eventType: 'null-rate-row', source: { kind: 'csv', path } });
    await api.runtime.db.query(`UPDATE imports SET options = '{"rowsPerSecond": null}' WHERE id = $1`, [created.id]);
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 3 });
    expect(await events('null-rate-row')).toBe(3);
  });

  it('stops a run waiting for a slow throttle within a second of its cancel, without storing the waiting row', async () => {
    const path = join(dir, 'slow.csv');
    writeFileSync(path, 'id\ns1\ns2\ns3\n');
    // One row every four seconds.
    const created = await createImport({
      eventType: 'slow-row',
      source: { kind: 'csv', path },
      options: { rowsPerSecond: 0.25 },
    });
    const { root, queue } = api.runtime;
    // Run here rather than by the worker, to see when the run lets go.
    const runId = (await createImportRun(root.repositories.imports, created.id)).id;
    const running = runImport(
      { imports: root.repositories.imports, importing: root.importServices(), queue, logger: root.logger },
      runId,
    );
    await eventually(
      () => job(runId),
      (view) => view.rowsStored === 1,
    );
    expect((await api.admin({ method: 'POST', url: `/jobs/${runId}/cancel` })).statusCode).toBe(200);
    const cancelled = Date.now();
    await running;
    expect(Date.now() - cancelled).toBeLessThan(1500);
    expect(await job(runId)).toMatchObject({ state: 'cancelled', rowsRead: 1, rowsStored: 1 });
    expect(await events('slow-row')).toBe(1);
  });

  it('runs one run of an import at a time, and keeps an import whose run is going', async () => {
    const path = join(dir, 'one-at-a-time.csv');
    writeFileSync(path, 'id\no1\no2\no3\n');
    const created = await createImport({
      eventType: 'one-at-a-time',
      source: { kind: 'csv', path },
      options: { rowsPerSecond: 0.25 },
    });
    const { root } = api.runtime;
    // Queued, and paused before any worker takes it: a run that is going all the same.
    const first = (await createImportRun(root.repositories.imports, created.id)).id;
    expect((await api.admin({ method: 'POST', url: `/jobs/${first}/pause` })).statusCode).toBe(200);

    const again = await api.admin({ method: 'POST', url: `/imports/${created.id}/run` });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ details: [{ field: 'job', message: `${first} is paused` }] });
    const deleted = await api.admin({ method: 'DELETE', url: `/imports/${created.id}` });
    expect(deleted.statusCode).toBe(409);
    expect(deleted.json<{ message: string }>().message).toContain(first);
    expect((await api.admin({ method: 'GET', url: `/imports/${created.id}/runs` })).json()).toHaveLength(1);

    expect((await api.admin({ method: 'POST', url: `/jobs/${first}/cancel` })).statusCode).toBe(200);
    const second = (await createImportRun(root.repositories.imports, created.id)).id;
    // A cancelled run is never resumed, whatever else goes on.
    const resumed = await api.admin({ method: 'POST', url: `/jobs/${first}/resume` });
    expect(resumed.statusCode).toBe(409);
    expect(resumed.json()).toMatchObject({
      message: 'a cancelled run cannot be asked to resume',
      details: [{ field: 'state', message: 'cancelled; resume takes a run that is paused, failed, running or queued' }],
    });
    // Each action names the state the run is in, and those it takes a run from.
    for (const [action, states] of [
      ['pause', 'queued or running'],
      ['cancel', 'queued, running or paused'],
    ]) {
      const refused = await api.admin({ method: 'POST', url: `/jobs/${first}/${action}` });
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toMatchObject({
        details: [{ field: 'state', message: `cancelled; ${action} takes a run that is ${states}` }],
      });
    }
    // A background run that is not an import's is named by its kind.
    const deploy = `deploy-${suffix}`;
    await api.runtime.db.query(`INSERT INTO job_runs (id, kind, params) VALUES ($1, 'deploy', '{}')`, [deploy]);
    const notImport = await api.admin({ method: 'POST', url: `/jobs/${deploy}/pause` });
    expect(notImport.statusCode).toBe(409);
    expect(notImport.json()).toMatchObject({ details: [{ field: 'kind', message: 'deploy, not import' }] });
    expect((await api.admin({ method: 'POST', url: `/jobs/${second}/cancel` })).statusCode).toBe(200);
    expect((await api.admin({ method: 'DELETE', url: `/imports/${created.id}` })).statusCode).toBe(204);
    expect(await events('one-at-a-time')).toBe(0);
  });

  it('refuses to resume a run of an import disabled since, as it refuses to start one; the run can be cancelled', async () => {
    const path = join(dir, 'disabled-since.csv');
    writeFileSync(path, 'id\no1\n');
    const body = {
      name: 'history',
      eventSourceId: api.sourceId,
      eventType: 'disabled-since',
      source: { kind: 'csv', path },
    };
    const created = await createImport(body);
    const { root } = api.runtime;
    const runId = (await createImportRun(root.repositories.imports, created.id)).id;
    expect((await api.admin({ method: 'POST', url: `/jobs/${runId}/pause` })).statusCode).toBe(200);
    const disabled = await api.admin({
      method: 'PUT',
      url: `/imports/${created.id}`,
      payload: { ...body, enabled: false },
    });
    expect(disabled.statusCode, disabled.body).toBe(200);

    const resumed = await api.admin({ method: 'POST', url: `/jobs/${runId}/resume` });
    expect(resumed.statusCode).toBe(409);
    expect(resumed.json()).toMatchObject({
      error: 'conflict',
      message: expect.stringContaining(`import "${created.id}" is disabled; enable it to resume job ${runId}`),
      details: [{ field: 'import', message: `${created.id} is disabled` }],
    });
    expect(await job(runId)).toMatchObject({ state: 'paused' });
    const started = await api.admin({ method: 'POST', url: `/imports/${created.id}/run` });
    expect(started.statusCode).toBe(409);
    expect(started.json()).toMatchObject({ details: [{ field: 'import', message: `${created.id} is disabled` }] });
    expect((await api.admin({ method: 'POST', url: `/jobs/${runId}/cancel` })).statusCode).toBe(200);
    expect(await job(runId)).toMatchObject({ state: 'cancelled' });
    expect(await events('disabled-since')).toBe(0);
  });

  it('rejects a profile row holding what cannot be stored by its line, and stores the rest of its batch', async () => {
    const path = join(dir, 'nul-people.csv');
    writeFileSync(path, 'id,name\nnul-1,Ada\nnul-2,B\u0000ob\nnul-3,Cy\n');
    const created = await createImport({
      target: 'profiles',
      source: { kind: 'csv', path },
      mapping: { profileId: 'id', pii: { name: 'name' } },
    });
    const view = await finished(await run(created.id));
    expect(view).toMatchObject({ state: 'done', rowsRead: 3, rowsStored: 2, rowsRejected: 1 });
    const rejected = await api.admin({ method: 'GET', url: `/jobs/${view.id}/rejections` });
    expect(rejected.json()).toEqual([{ ref: 'line 3', reason: expect.stringContaining('pii.name: contains a NUL') }]);
    expect(await api.runtime.db.query(`SELECT id FROM profiles WHERE id LIKE 'nul-%' ORDER BY id`)).toEqual([
      { id: 'nul-1' },
      { id: 'nul-3' },
    ]);
  });

  it('sets profiles by id from rows (a merged id sets the profile it was merged into), to the same values however often it runs', async () => {
    await api.runtime.db.query(`INSERT INTO profiles (id, ids, traits) VALUES ('kept', '{alias}', '{"tier": "gold"}')`);
    const path = join(dir, 'people.csv');
    writeFileSync(path, 'id,name,age\nalias,Ada,36\nnew-1,Bob,41\n,Nobody,1\nnew-2,Cy,old\n');
    const created = await createImport({
      target: 'profiles',
      source: { kind: 'csv', path },
      mapping: { profileId: 'id', traits: { age: { from: 'age', type: 'number' } }, pii: { name: 'name' } },
    });
    for (let round = 0; round < 2; round++) {
      const view = await finished(await run(created.id));
      expect(view).toMatchObject({ state: 'done', rowsRead: 4, rowsStored: 2, rowsRejected: 2 });
    }
    const rows = await api.runtime.db.query(
      `SELECT id, traits, pii, version FROM profiles WHERE id IN ('kept', 'new-1', 'new-2', 'alias') ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 'kept', traits: { tier: 'gold', age: 36 }, pii: { name: 'Ada' }, version: 3 },
      { id: 'new-1', traits: { age: 41 }, pii: { name: 'Bob' }, version: 2 },
    ]);
    const refused = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: {
        name: 'x',
        eventSourceId: api.sourceId,
        eventType: 'x',
        target: 'profiles',
        source: { kind: 'csv', path },
      },
    });
    expect(refused.json<{ details: { field: string }[] }>().details[0]!.field).toBe('mapping.profileId');
  });

  it('finds one profile for a person whatever import names them: a profile unknown by the mapped id is created with it', async () => {
    const person = `cust-${suffix}`;
    const orders = join(dir, 'orders-2023.csv');
    // Batches of two: the person's later rows are appended to the session the first batch created.
    writeFileSync(orders, `customer,total\n${person},1\n${person},2\n${person},3\n`);
    const refunds = join(dir, 'refunds-2023.csv');
    writeFileSync(refunds, `customer,total\n${person},4\n`);
    const people = join(dir, 'customers.csv');
    writeFileSync(people, `customer,tier\n${person},gold\n`);
    const imported = [
      { eventType: 'order-2023', source: { kind: 'csv', path: orders }, options: { batchSize: 2 } },
      { eventType: 'refund-2023', source: { kind: 'csv', path: refunds } },
      {
        target: 'profiles',
        source: { kind: 'csv', path: people },
        mapping: { profileId: 'customer', traits: { tier: 'tier' } },
      },
    ];
    for (const body of imported) {
      const created = await createImport({ mapping: { profileId: 'customer' }, ...body });
      expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsRejected: 0 });
    }
    const profiles = await api.runtime.db.query(
      `SELECT p.id, p.traits, count(e.*)::int AS events FROM events e JOIN profiles p ON p.id = e.profile_id
        WHERE e.type IN ('order-2023', 'refund-2023') GROUP BY p.id, p.traits`,
    );
    expect(profiles).toEqual([{ id: person, traits: { tier: 'gold' }, events: 4 }]);
    const read = await api.admin({ method: 'GET', url: `/profiles/${person}` });
    expect(read.statusCode, read.body).toBe(200);
  });

  it('stores its rows on the profile another writer creates with the mapped id while the import creates it', async ({
    skip,
  }) => {
    // PGlite's one connection runs one transaction at a time: the race needs two.
    if (name !== 'postgres') return skip();
    const person = `raced-${suffix}`;
    const path = join(dir, 'raced.csv');
    writeFileSync(path, `customer,total\n${person},1\n${person},2\n`);
    const created = await createImport({
      eventType: 'raced-order',
      source: { kind: 'csv', path },
      mapping: { profileId: 'customer' },
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const holding = new Promise<void>((resolve) => (inserted = resolve));
    // Another writer (a second import, a Segment call) has created the person and not yet committed.
    const writer = api.runtime.db.transaction(async (tx) => {
      await tx.query(`INSERT INTO profiles (id, traits) VALUES ($1, '{"by": "writer"}')`, [person]);
      inserted();
      await released;
    });
    await holding;
    const runId = await run(created.id);
    // The import's insert of the same id waits on the writer's uncommitted row.
    await eventually(
      async () => Number((await api.runtime.db.query(`SELECT count(*) AS n FROM pg_locks WHERE NOT granted`))[0]!['n']),
      (waiting) => waiting > 0,
    );
    release();
    await writer;
    expect(await finished(runId)).toMatchObject({ state: 'done', rowsStored: 2, rowsRejected: 0 });
    const stored = await api.runtime.db.query(
      `SELECT p.id, p.traits, count(e.*)::int AS events FROM profiles p JOIN events e ON e.profile_id = p.id
        WHERE e.type = 'raced-order' GROUP BY p.id, p.traits`,
    );
    expect(stored).toEqual([{ id: person, traits: { by: 'writer' }, events: 2 }]);
  });

  it('lays rows of one profile in one batch over each other, so no row loses what it set', async () => {
    const path = join(dir, 'layered.csv');
    writeFileSync(path, 'id,plan,city\nlayered,pro,\nlayered,,Oslo\n');
    const created = await createImport({
      target: 'profiles',
      source: { kind: 'csv', path },
      mapping: { profileId: 'id', traits: { plan: 'plan', city: 'city' } },
    });
    expect(await finished(await run(created.id))).toMatchObject({ state: 'done', rowsStored: 2 });
    const [profile] = await api.runtime.db.query(`SELECT traits FROM profiles WHERE id = 'layered'`);
    expect(profile).toEqual({ traits: { plan: 'pro', city: 'Oslo' } });
  });

  it('rejects a profile row naming its profile by a value too long to be an id or an identity key, and stores the rest', async () => {
    const [longEmail, longId] = [`${incompressible(3000)}@example.com`, incompressible(3000)];
    const path = join(dir, 'long-people.csv');
    writeFileSync(path, `email,name\n${longEmail},Long\nshort@example.com,Short\n`);
    const byKey = await createImport({
      target: 'profiles',
      source: { kind: 'csv', path },
      mapping: { identityKey: 'pii.email', pii: { email: 'email' }, traits: { name: 'name' } },
    });
    const keyed = await finished(await run(byKey.id));
    expect(keyed).toMatchObject({ state: 'done', rowsRead: 2, rowsStored: 1, rowsRejected: 1 });
    expect((await api.admin({ method: 'GET', url: `/jobs/${keyed.id}/rejections` })).json()).toEqual([
      { ref: 'line 2', reason: 'pii.email: longer than 512 characters, the most an identity key holds' },
    ]);

    // By id: a long id rejects its row; a long email is kept, and identifies nobody (as a placeholder).
    writeFileSync(path, `id,email\n${longId},a@example.com\nlong-email,${longEmail}\nlong-ok,ok@example.com\n`);
    const byId = await createImport({
      target: 'profiles',
      source: { kind: 'csv', path },
      mapping: { profileId: 'id', pii: { email: 'email' } },
    });
    const ided = await finished(await run(byId.id));
    expect(ided).toMatchObject({ state: 'done', rowsRead: 3, rowsStored: 2, rowsRejected: 1 });
    expect((await api.admin({ method: 'GET', url: `/jobs/${ided.id}/rejections` })).json()).toEqual([
      { ref: 'line 2', reason: 'profileId: expected an id of at most 128 characters' },
    ]);
    const stored = await api.runtime.db.query<{ id: string; pii: { email: string } }>(
      `SELECT id, pii FROM profiles WHERE id IN ('long-email', 'long-ok') ORDER BY id`,
    );
    expect(stored.map(({ id, pii }) => [id, pii.email])).toEqual([
      ['long-email', longEmail],
      ['long-ok', 'ok@example.com'],
    ]);
    const claimed = await api.runtime.db.query(`SELECT profile_id FROM identity_keys WHERE profile_id = 'long-email'`);
    expect(claimed).toEqual([]);
  });

  it('saves and runs an import that stores no event without an event source or type, and requires them of events', async () => {
    const path = join(dir, 'unnamed-people.csv');
    writeFileSync(path, 'id,plan\nunnamed-1,pro\n');
    const save = (payload: Record<string, unknown>) =>
      api.admin({ method: 'POST', url: '/imports', payload: { name: 'unnamed', ...payload } });
    const saved = await save({
      target: 'profiles',
      source: { kind: 'csv', path },
      mapping: { profileId: 'id', traits: { plan: 'plan' } },
    });
    expect(saved.statusCode, saved.body).toBe(201);
    const people = saved.json<{ id: string }>();
    expect(people).not.toHaveProperty('eventType');
    expect(people).not.toHaveProperty('eventSourceId');
    expect(await finished(await run(people.id))).toMatchObject({ state: 'done', rowsStored: 1 });
    expect(await api.runtime.db.query(`SELECT traits FROM profiles WHERE id = 'unnamed-1'`)).toEqual([
      { traits: { plan: 'pro' } },
    ]);
    const tracardiProfiles = await save({ source: { kind: 'tracardi', path, index: 'profile' } });
    expect(tracardiProfiles.statusCode, tracardiProfiles.body).toBe(201);

    const refusedFields = async (payload: Record<string, unknown>) => {
      const refused = await save(payload);
      expect(refused.statusCode, refused.body).toBe(400);
      return refused.json<{ details: { field: string }[] }>().details.map(({ field }) => field);
    };
    expect(await refusedFields({ source: { kind: 'csv', path } })).toEqual(['eventSourceId', 'eventType']);
    expect(await refusedFields({ source: { kind: 'csv', path }, eventSourceId: api.sourceId })).toEqual(['eventType']);
    expect(await refusedFields({ source: { kind: 'tracardi', path, index: 'event' } })).toEqual(['eventSourceId']);
  });

  it('sets profiles by an identity key: the profile holding the value, or a new one that claims it', async () => {
    const path = join(dir, 'people.csv');
    writeFileSync(path, 'email,name\n Ann@Example.com ,Ann\nbob@example.com,Bob\nann@example.com,Annie\n,Nobody\n');
    const byEmail = { identityKey: 'pii.email', pii: { email: 'email' } };
    const people = await createImport({
      target: 'profiles',
      source: { kind: 'csv', path },
      mapping: { ...byEmail, traits: { name: 'name' } },
    });
    expect(await finished(await run(people.id))).toMatchObject({ state: 'done', rowsStored: 3, rowsRejected: 1 });
    const holder = async (email: string) =>
      (
        await api.runtime.db.query<{ profile_id: string }>(
          `SELECT profile_id FROM identity_keys WHERE key = 'pii.email' AND value = $1`,
          [email],
        )
      )[0]?.profile_id;
    const ann = await holder('ann@example.com');
    expect(ann).toBeDefined();
    expect(await holder('bob@example.com')).not.toBe(ann);

    // another import finds Ann by her key, however it is written
    const vipPath = join(dir, 'vip.csv');
    writeFileSync(vipPath, 'email\nANN@example.com\n');
    const vips = await createImport({
      target: 'profiles',
      source: { kind: 'csv', path: vipPath },
      mapping: { ...byEmail, traits: { vip: { template: 'yes' } } },
    });
    expect(await finished(await run(vips.id))).toMatchObject({ state: 'done', rowsStored: 1 });
    const [profile] = await api.runtime.db.query<{ traits: Record<string, unknown> }>(
      'SELECT traits FROM profiles WHERE id = $1',
      [ann],
    );
    expect(profile!.traits).toMatchObject({ name: 'Annie', vip: 'yes' });
    const anns = await api.runtime.db.query(`SELECT id FROM profiles WHERE pii->>'email' ILIKE '%ann@example.com%'`);
    expect(anns).toHaveLength(1);
  });

  it('refuses what cannot run, naming the field', async () => {
    const refused = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: {
        name: 'x',
        eventSourceId: api.sourceId,
        eventType: 'x',
        source: { kind: 'mysql', host: 'h', user: 'u', database: 'd', key: 'id' },
      },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json<{ details: { field: string }[] }>().details[0]!.field).toBe('source.table');

    // eventType is the type of the events rows become: rows that become profiles, or a Tracardi export
    // (whose events have their own), need none; rows that become events do.
    const save = (body: Record<string, unknown>) =>
      api.admin({ method: 'POST', url: '/imports', payload: { name: 'x', eventSourceId: api.sourceId, ...body } });
    const path = join(dir, 'untyped.csv');
    writeFileSync(path, 'id\n1\n');
    const profiles = await save({ target: 'profiles', source: { kind: 'csv', path }, mapping: { profileId: 'id' } });
    expect(profiles.statusCode, profiles.body).toBe(201);
    expect(profiles.json()).not.toHaveProperty('eventType');
    const tracardi = await save({ source: { kind: 'tracardi', index: 'profile', path } });
    expect(tracardi.statusCode, tracardi.body).toBe(201);
    const untyped = await save({ source: { kind: 'csv', path }, mapping: { type: 'kind' } });
    expect(untyped.statusCode).toBe(400);
    expect(untyped.json()).toMatchObject({ details: [{ field: 'eventType' }] });
  });

  it('refuses an eventSourceId naming no event source, and needs one only where rows become events', async () => {
    const path = join(dir, 'sourced.csv');
    writeFileSync(path, 'id\n1\n');
    const save = (body: Record<string, unknown>, method: 'POST' | 'PUT' = 'POST', id = '') =>
      api.admin({ method, url: `/imports${id && `/${id}`}`, payload: { name: 'x', ...body } });
    const events = { eventType: 'x', source: { kind: 'csv', path } };
    const unknown = await save({ ...events, eventSourceId: 'no-such-source' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({
      error: 'bad_request',
      details: [{ field: 'eventSourceId', message: 'no event source "no-such-source"' }],
    });
    const saved = await save({ ...events, eventSourceId: api.sourceId });
    expect(saved.statusCode, saved.body).toBe(201);
    const { id } = saved.json<{ id: string }>();
    const moved = await save({ ...events, eventSourceId: 'no-such-source' }, 'PUT', id);
    expect(moved.statusCode).toBe(400);
    expect(moved.json()).toMatchObject({ details: [{ field: 'eventSourceId' }] });
    expect((await api.admin({ method: 'GET', url: `/imports/${id}` })).json()).toMatchObject({
      eventSourceId: api.sourceId,
    });

    // Rows that become profiles, and Tracardi profiles and sessions, come from no event source.
    for (const body of [
      { target: 'profiles', source: { kind: 'csv', path }, mapping: { profileId: 'id' } },
      { source: { kind: 'tracardi', index: 'session', path } },
    ]) {
      const unsourced = await save(body);
      expect(unsourced.statusCode, unsourced.body).toBe(201);
      expect(unsourced.json()).not.toHaveProperty('eventSourceId');
    }
    for (const body of [events, { source: { kind: 'tracardi', index: 'event', path } }]) {
      const unsourced = await save(body);
      expect(unsourced.statusCode).toBe(400);
      expect(unsourced.json()).toMatchObject({ details: [{ field: 'eventSourceId' }] });
    }
  });

  it('refuses an enabled import whose file cannot be read, naming source.path; a run fails on one gone since', async () => {
    const save = (source: Record<string, unknown>, body: Record<string, unknown> = {}) =>
      api.admin({
        method: 'POST',
        url: '/imports',
        payload: { name: 'x', eventSourceId: api.sourceId, eventType: 'x', source, ...body },
      });
    const missing = join(dir, 'not-yet.csv');
    for (const [source, reason] of [
      [{ kind: 'csv', path: missing }, `cannot read ${missing}: no such file`],
      [{ kind: 'jsonl', path: dir }, `cannot read ${dir}: it is a directory`],
      [{ kind: 'tracardi', index: 'event', path: missing }, `cannot read ${missing}: no such file`],
    ] as const) {
      const refused = await save(source);
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json()).toMatchObject({ details: [{ field: 'source.path', message: reason }] });
    }
    // Saved disabled, it waits for its file; enabling it needs the file there.
    const waiting = await save({ kind: 'csv', path: missing }, { enabled: false });
    expect(waiting.statusCode, waiting.body).toBe(201);
    const { id } = waiting.json<{ id: string }>();
    const enable = () =>
      api.admin({
        method: 'PUT',
        url: `/imports/${id}`,
        payload: { name: 'x', eventSourceId: api.sourceId, eventType: 'x', source: { kind: 'csv', path: missing } },
      });
    expect((await enable()).json()).toMatchObject({ details: [{ field: 'source.path' }] });
    writeFileSync(missing, 'id\n1\n');
    expect((await enable()).statusCode).toBe(200);

    // A file removed after saving fails the run in a line naming it.
    rmSync(missing);
    expect(await finished(await run(id))).toMatchObject({
      state: 'failed',
      lastError: `source.path: cannot read ${missing}: no such file`,
    });

    // So does one removed while its run is paused, when the run goes on.
    const going = join(dir, 'going.csv');
    writeFileSync(going, `id\n${Array.from({ length: 3000 }, (_, i) => `g${i}`).join('\n')}\n`);
    const paused = await createImport({
      source: { kind: 'csv', path: going },
      options: { batchSize: 100, rowsPerSecond: 1000 },
    });
    const runId = await run(paused.id);
    await eventually(
      () => job(runId),
      (view) => view.rowsRead > 0,
    );
    expect((await api.admin({ method: 'POST', url: `/jobs/${runId}/pause` })).statusCode).toBe(200);
    await eventually(
      async () => [await job(runId), await job(runId)] as const,
      ([a, b]) => a.rowsRead === b.rowsRead,
    );
    rmSync(going);
    expect((await api.admin({ method: 'POST', url: `/jobs/${runId}/resume` })).statusCode).toBe(200);
    expect(await finished(runId)).toMatchObject({
      state: 'failed',
      lastError: `source.path: cannot read ${going}: no such file`,
    });
  });

  it('keeps credentials encrypted and never returns them', async () => {
    const created = await createImport({
      source: {
        kind: 'postgres',
        host: '127.0.0.1',
        user: 'u',
        database: 'd',
        table: 't',
        key: 'id',
        password: 'hunter2-secret',
      },
    });
    expect(created.hasSecret).toBe(true);
    expect(JSON.stringify(created)).not.toContain('hunter2');
    const read = await api.admin({ method: 'GET', url: `/imports/${created.id}` });
    expect(read.body).not.toContain('hunter2');
    const [row] = await api.runtime.db.query<{ secret: string }>('SELECT secret FROM imports WHERE id = $1', [
      created.id,
    ]);
    expect(row!.secret).not.toContain('hunter2');
    // A PUT without the password keeps it.
    const updated = await api.admin({
      method: 'PUT',
      url: `/imports/${created.id}`,
      payload: {
        name: 'renamed',
        eventSourceId: api.sourceId,
        eventType: 'purchase',
        source: { kind: 'postgres', host: '127.0.0.1', user: 'u', database: 'd', table: 't', key: 'id' },
      },
    });
    expect(updated.json<{ hasSecret: boolean }>().hasSecret).toBe(true);
    // Not for another server, database or user: the stored password would go where it was not given for.
    for (const moved of [{ host: 'attacker.example' }, { port: 15999 }, { database: 'other' }, { user: 'other' }]) {
      const refused = await api.admin({
        method: 'PUT',
        url: `/imports/${created.id}`,
        payload: {
          name: 'moved',
          eventSourceId: api.sourceId,
          eventType: 'purchase',
          source: { kind: 'postgres', host: '127.0.0.1', user: 'u', database: 'd', table: 't', key: 'id', ...moved },
        },
      });
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json<{ details: { field: string }[] }>().details[0]!.field).toBe('source.password');
    }
    const stillThere = await api.admin({ method: 'GET', url: `/imports/${created.id}` });
    expect(stillThere.json<{ name: string; source: { host: string } }>()).toMatchObject({
      name: 'renamed',
      source: { host: '127.0.0.1' },
    });
    // With the password given again, it may move.
    const moved = await api.admin({
      method: 'PUT',
      url: `/imports/${created.id}`,
      payload: {
        name: 'moved',
        eventSourceId: api.sourceId,
        eventType: 'purchase',
        source: { kind: 'postgres', host: '10.0.0.9', user: 'u', database: 'd', table: 't', key: 'id', password: 'p2' },
      },
    });
    expect(moved.statusCode, moved.body).toBe(200);
  });

  describe('MariaDB', () => {
    const table = `meridian_import_${suffix}`;
    let connection: mysql.Connection | undefined;
    beforeAll(async () => {
      if (!(await mariadbAvailable())) return;
      connection = await mysql.createConnection(MARIADB);
      await connection.query(
        `CREATE TABLE ${table} (id INT PRIMARY KEY, email VARCHAR(100), total DECIMAL(10,2), at DATETIME)`,
      );
      const values = Array.from({ length: 1234 }, (_, i) => [
        i * 3 + 1,
        `m${i % 50}@example.com`,
        i / 4,
        new Date(Date.UTC(2023, 0, 1, 0, i)),
      ]);
      await connection.query(`INSERT INTO ${table} VALUES ?`, [values]);
    });
    afterAll(async () => {
      await connection?.query(`DROP TABLE IF EXISTS ${table}`);
      await connection?.end();
    });

    it('imports a table keyset-paged, and a query', async ({ skip }) => {
      if (!connection) return skip();
      const source = { kind: 'mysql', ...MARIADB };
      const byTable = await createImport({
        eventType: 'maria-table',
        source: { ...source, table, key: 'id' },
        mapping: { profileId: 'email', time: 'at', properties: { total: { from: 'total', type: 'number' } } },
        options: { batchSize: 100 },
      });
      const view = await finished(await run(byTable.id));
      expect(view).toMatchObject({ state: 'done', rowsRead: 1234, rowsStored: 1234, total: 1234, percent: 100 });
      expect(await events('maria-table')).toBe(1234);
      const [one] = await api.runtime.db.query<{ properties: unknown; occurred_at: Date }>(
        `SELECT properties, occurred_at FROM events WHERE type = 'maria-table' AND properties->>'total' = '0.25'`,
      );
      expect(one).toEqual({ properties: { total: 0.25 }, occurred_at: new Date(Date.UTC(2023, 0, 1, 0, 1)) });

      const byQuery = await createImport({
        eventType: 'maria-query',
        source: { ...source, query: `SELECT id AS k, email FROM ${table} WHERE id % 2 = 0`, key: 'k' },
        options: { batchSize: 64 },
      });
      const queried = await finished(await run(byQuery.id));
      expect(queried).toMatchObject({ state: 'done', rowsStored: 617 });
      expect(await events('maria-query')).toBe(617);
    });

    it('fails a run whose key is not unique under its collation, or is null, before it stores a row', async ({
      skip,
    }) => {
      if (!connection) return skip();
      const keys = `meridian_keys_${suffix}`;
      // Under utf8mb4_general_ci (PAD SPACE) Bob@x.com is bob@x.com, and c@x.com is c@x.com followed by spaces.
      await connection.query(`CREATE TABLE ${keys} (email VARCHAR(100) COLLATE utf8mb4_general_ci, n INT)`);
      try {
        await connection.query(`INSERT INTO ${keys} VALUES ?`, [
          ['a@x.com', 'Bob@x.com', 'bob@x.com', 'c@x.com', 'c@x.com  ', 'd@x.com', null].map((email, n) => [email, n]),
        ]);
        const byEmail = await createImport({
          eventType: 'maria-key-email',
          source: { kind: 'mysql', ...MARIADB, table: keys, key: 'email' },
          options: { batchSize: 2 },
        });
        const refused = await finished(await run(byEmail.id));
        expect(refused).toMatchObject({ state: 'failed', rowsRead: 0, rowsStored: 0 });
        expect(refused.lastError).toBe(
          'the key column "email" must be unique and never null: 7 rows, 4 distinct non-null keys',
        );
        expect(await events('maria-key-email')).toBe(0);

        const byNumber = await createImport({
          eventType: 'maria-key-n',
          source: { kind: 'mysql', ...MARIADB, table: keys, key: 'n' },
          options: { batchSize: 2 },
        });
        expect(await finished(await run(byNumber.id))).toMatchObject({ state: 'done', rowsStored: 7 });
      } finally {
        await connection.query(`DROP TABLE ${keys}`);
      }
    });
  });

  describe('PostgreSQL', () => {
    const table = `meridian_import_${suffix}`;
    let sql: postgres.Sql | undefined;
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = '/test';
    /** A table of the scratch database `test`, keyed by its `code` column. */
    const tableSource = (name: string) => ({
      kind: 'postgres',
      host: url.hostname,
      port: Number(url.port || 5432),
      user: url.username || 'postgres',
      database: 'test',
      table: name,
      key: 'code',
    });
    beforeAll(async () => {
      if (!(await postgresAvailable())) return;
      sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
      await sql.unsafe(`CREATE TABLE ${table} (code text PRIMARY KEY, who text, paid boolean)`);
      await sql.unsafe(
        `INSERT INTO ${table} SELECT 'c' || lpad(g::text, 5, '0'), 'w' || (g % 10), g % 2 = 0 FROM generate_series(1, 777) g`,
      );
    });
    afterAll(async () => {
      await sql?.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql?.end({ timeout: 1 });
    });

    it('imports a table keyset-paged', async ({ skip }) => {
      if (!sql) return skip();
      const created = await createImport({
        eventType: 'pg-table',
        source: tableSource(table),
        mapping: { profileId: 'who', properties: { paid: { from: 'paid', type: 'boolean' }, code: 'code' } },
        options: { batchSize: 50 },
      });
      const view = await finished(await run(created.id));
      expect(view).toMatchObject({ state: 'done', rowsRead: 777, rowsStored: 777, total: 777 });
      expect(await events('pg-table')).toBe(777);
    });

    it('stores rows whose text keys are kilobytes long, and records the rejection of one under its key cut short', async ({
      skip,
    }) => {
      if (!sql) return skip();
      const longKeys = `meridian_long_keys_${suffix}`;
      // Random, so that PostgreSQL cannot compress them under its index entries' limit (about 2.7 kB).
      const [bad, good] = [incompressible(3000), incompressible(3000)];
      await sql.unsafe(`CREATE TABLE ${longKeys} (code text, who text, amount text)`);
      try {
        await sql.unsafe(
          `INSERT INTO ${longKeys} VALUES ($1, 'w1', 'x'), ($2, 'w1', '2'), ('c1', $3, '3'), ('c2', 'w2', '4')`,
          [bad, good, 'w'.repeat(129)],
        );
        const created = await createImport({
          eventType: 'pg-long-keys',
          source: tableSource(longKeys),
          mapping: { profileId: 'who', properties: { amount: { from: 'amount', type: 'number' } } },
        });
        const view = await finished(await run(created.id));
        expect(view).toMatchObject({ state: 'done', rowsRead: 4, rowsStored: 2, rowsRejected: 2 });
        const rejections = (await api.admin({ method: 'GET', url: `/jobs/${view.id}/rejections` })).json<
          { ref: string; reason: string }[]
        >();
        expect(rejections).toEqual([
          { ref: 'key c1', reason: 'profileId: expected an id of at most 128 characters' },
          {
            ref: expect.stringMatching(/^key .{96}… \(3004 characters, sha256 [0-9a-f]{16}\)$/),
            reason: 'properties.amount: expected a number, got "x"',
          },
        ]);
        expect(rejections[1]!.ref.startsWith(`key ${bad.slice(0, 96)}`)).toBe(true);
        expect(
          await api.runtime.db.query(
            `SELECT properties->>'amount' AS amount FROM events WHERE type = 'pg-long-keys' ORDER BY 1`,
          ),
        ).toEqual([{ amount: '2' }, { amount: '4' }]);
      } finally {
        await sql.unsafe(`DROP TABLE ${longKeys}`);
      }
    });

    it('fails a run whose key is not unique, or is null, before it stores a row', async ({ skip }) => {
      if (!sql) return skip();
      const keys = `meridian_keys_${suffix}`;
      await sql.unsafe(`CREATE TABLE ${keys} AS SELECT * FROM (VALUES ('a'), ('b'), ('b'), ('c'), (NULL)) AS v (code)`);
      try {
        const created = await createImport({
          eventType: 'pg-key',
          source: tableSource(keys),
          options: { batchSize: 2 },
        });
        const view = await finished(await run(created.id));
        expect(view).toMatchObject({ state: 'failed', rowsRead: 0, rowsStored: 0 });
        expect(view.lastError).toBe(
          'the key column "code" must be unique and never null: 5 rows, 3 distinct non-null keys',
        );
        expect(await events('pg-key')).toBe(0);
      } finally {
        await sql.unsafe(`DROP TABLE ${keys}`);
      }
    });
  });
});

describe.each(backends.filter((backend) => backend.up))('Tracardi exports on $name', ({ name }) => {
  let api: TestApi;
  let dir: string;
  beforeAll(async () => {
    api = await startTestApi(name, {}, { workers: ['all'] });
    dir = mkdtempSync(join(tmpdir(), 'meridian-tracardi-'));
  });
  afterAll(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ndjson = (name: string, lines: unknown[]) => {
    const path = join(dir, name);
    writeFileSync(path, lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n'));
    return path;
  };
  const importIndex = async (index: string, path: string) => {
    const created = await api.admin({
      method: 'POST',
      url: '/imports',
      payload: {
        name: `tracardi ${index}`,
        eventSourceId: api.sourceId,
        eventType: 'x',
        source: { kind: 'tracardi', index, path },
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const started = await api.admin({ method: 'POST', url: `/imports/${created.json<{ id: string }>().id}/run` });
    const id = started.json<{ id: string }>().id;
    return eventually(
      async () => (await api.admin({ method: 'GET', url: `/jobs/${id}` })).json<RunView>(),
      (view) => ['done', 'failed'].includes(view.state),
    );
  };

  it('keeps ids, times and merged ids of profiles, sessions and events, readable through the API', async () => {
    // Documents as Tracardi 0.9 stores them (domain/profile.py, session.py, event.py), one as an Elasticsearch hit.
    const profiles = ndjson('profiles.ndjson', [
      {
        id: 'p-1',
        ids: ['p-1', 'old-1', 'old-2'],
        metadata: {
          time: {
            insert: '2022-05-01T10:00:00',
            update: '2022-06-01T10:00:00',
            visit: { last: '2022-05-30T09:00:00', current: '2022-06-01T10:00:00', count: 7 },
          },
        },
        stats: { visits: 7, views: 20 },
        traits: { tier: 'gold' },
        segments: ['vip'],
        active: true,
        data: { pii: { firstname: 'Ada' }, contact: { email: 'ada@example.com' } },
      },
      {
        _index: 'tracardi-profile-2022-5',
        _id: 'p-2',
        _source: {
          ids: ['p-2'],
          metadata: { time: { insert: '2022-05-02T11:00:00' } },
          pii: { name: 'Bob' },
          traits: {},
        },
      },
      { id: 'p-3', metadata: {} },
    ]);
    expect(await importIndex('profile', profiles)).toMatchObject({ state: 'done', rowsStored: 2, rowsRejected: 1 });

    const sessions = ndjson('sessions.ndjson', [
      {
        id: 's-1',
        profile: { id: 'p-1' },
        metadata: { time: { insert: '2022-06-01T10:00:00', duration: 90 }, status: 'ended' },
        device: { name: 'pc' },
      },
      { id: 's-2', profile: { id: 'p-2' }, metadata: { time: { insert: '2022-05-02T11:00:00' } } },
    ]);
    expect(await importIndex('session', sessions)).toMatchObject({ state: 'done', rowsStored: 2 });

    const events = ndjson('events.ndjson', [
      {
        id: 'e-1',
        type: 'page-view',
        metadata: { time: { insert: '2022-06-01T10:00:05', create: '2022-06-01T10:00:04' } },
        profile: { id: 'old-1' },
        session: { id: 's-1' },
        source: { id: 'web' },
        properties: { url: '/a' },
        tags: { values: ['web'], count: 1 },
      },
      {
        id: 'e-2',
        type: 'Purchase Made',
        metadata: { time: { insert: '2022-05-02T11:00:00' } },
        profile: { id: 'p-2' },
        session: { id: 's-2' },
        properties: { total: 10 },
      },
      {
        id: 'e-1',
        type: 'page-view',
        metadata: { time: { insert: '2022-06-01T10:00:05' } },
        profile: { id: 'old-1' },
        session: { id: 's-1' },
      },
    ]);
    expect(await importIndex('event', events)).toMatchObject({ state: 'done', rowsRead: 3, rowsRejected: 0 });
    expect(await importIndex('event', events)).toMatchObject({ state: 'done' });

    // A merged id still finds its profile.
    const profile = await api.admin({ method: 'GET', url: '/profiles/old-2' });
    expect(profile.statusCode, profile.body).toBe(200);
    expect(profile.json()).toMatchObject({ id: 'p-1', traits: { tier: 'gold' } });
    const [stored] = await api.runtime.db.query<Record<string, unknown>>(
      'SELECT ids, visits, created_at, pii FROM profiles WHERE id = $1',
      ['p-1'],
    );
    expect(stored).toEqual({
      ids: ['old-1', 'old-2'],
      visits: 7,
      created_at: new Date('2022-05-01T10:00:00Z'),
      pii: { firstname: 'Ada' },
    });
    expect((await api.runtime.db.query('SELECT pii FROM profiles WHERE id = $1', ['p-2']))[0]).toEqual({
      pii: { name: 'Bob' },
    });

    const session = await api.admin({ method: 'GET', url: '/sessions/s-1' });
    expect(session.statusCode, session.body).toBe(200);
    // Sessions imported before their events count them, once however often the events are imported.
    expect(
      await api.runtime.db.query(
        'SELECT id, events_count, last_event_at FROM sessions WHERE id IN ($1, $2) ORDER BY id',
        ['s-1', 's-2'],
      ),
    ).toEqual([
      { id: 's-1', events_count: 1, last_event_at: new Date('2022-06-01T10:01:30Z') },
      { id: 's-2', events_count: 1, last_event_at: new Date('2022-05-02T11:00:00Z') },
    ]);
    const timeline = await api.admin({ method: 'GET', url: '/profiles/p-1/events' });
    expect(timeline.body).toContain('e-1');
    const rows = await api.runtime.db.query<Record<string, unknown>>(
      'SELECT id, type, profile_id, session_id, occurred_at, tags FROM events ORDER BY id',
    );
    expect(rows).toEqual([
      {
        id: 'e-1',
        type: 'page-view',
        profile_id: 'p-1',
        session_id: 's-1',
        occurred_at: new Date('2022-06-01T10:00:04Z'),
        tags: ['web'],
      },
      {
        id: 'e-2',
        type: 'purchase-made',
        profile_id: 'p-2',
        session_id: 's-2',
        occurred_at: new Date('2022-05-02T11:00:00Z'),
        tags: [],
      },
    ]);
  });

  it('keeps what happened since a dump was imported when it is imported again: merges, visits, open visits', async () => {
    const profiles = ndjson('again-profiles.ndjson', [
      { id: 'again-p1', ids: ['again-p1'], metadata: { time: { insert: '2022-05-01T10:00:00' } }, traits: { a: 1 } },
      { id: 'again-p2', ids: ['again-p2'], metadata: { time: { insert: '2022-05-02T10:00:00' } }, traits: { b: 1 } },
    ]);
    const sessions = ndjson('again-sessions.ndjson', [
      { id: 'again-s1', profile: { id: 'again-p2' }, metadata: { time: { insert: '2022-06-01T10:00:00' } } },
    ]);
    expect(await importIndex('profile', profiles)).toMatchObject({ state: 'done', rowsStored: 2 });
    expect(await importIndex('session', sessions)).toMatchObject({ state: 'done', rowsStored: 1 });
    // The person comes back on their old session, and an operator merges the two profiles.
    const tracked = await api.track({
      source: { id: api.sourceId },
      profile: { id: 'again-p2' },
      session: { id: 'again-s1' },
      events: [{ type: 'page-view' }],
    });
    expect(tracked.statusCode, tracked.body).toBe(200);
    const merged = await api.admin({
      method: 'POST',
      url: '/profiles/merge',
      payload: { ids: ['again-p1', 'again-p2'] },
    });
    expect(merged.statusCode, merged.body).toBe(200);
    const before = await api.runtime.db.query(
      `SELECT id, ids, traits, visits FROM profiles WHERE id LIKE 'again-%' ORDER BY id`,
    );
    const [session] = await api.runtime.db.query<{ status: string; visit_started_at: Date }>(
      `SELECT status, visit_started_at FROM sessions WHERE id = 'again-s1'`,
    );
    expect(before).toEqual([{ id: 'again-p1', ids: ['again-p2'], traits: { a: 1, b: 1 }, visits: 1 }]);

    // Counted as handled, as events are, though nothing is written again.
    expect(await importIndex('profile', profiles)).toMatchObject({ state: 'done', rowsStored: 2 });
    expect(await importIndex('session', sessions)).toMatchObject({ state: 'done', rowsStored: 1 });
    expect(
      await api.runtime.db.query(`SELECT id, ids, traits, visits FROM profiles WHERE id LIKE 'again-%' ORDER BY id`),
    ).toEqual(before);
    expect(await api.runtime.db.query(`SELECT status, visit_started_at FROM sessions WHERE id = 'again-s1'`)).toEqual([
      session,
    ]);
    expect(session!.visit_started_at.getTime()).toBeGreaterThan(Date.parse('2023-01-01T00:00:00Z'));
  });

  it('rejects a document holding what cannot be stored by its line, and stores the rest of its batch', async () => {
    const profiles = ndjson('nul-profiles.ndjson', [
      { id: 'nul-p1', metadata: { time: { insert: '2022-05-01T10:00:00' } }, traits: { note: 'fine' } },
      { id: 'nul-p2', metadata: { time: { insert: '2022-05-01T10:00:00' } }, traits: { note: 'a\u0000b' } },
      { id: 'nul-p3', metadata: { time: { insert: '2022-05-01T10:00:00' } }, pii: { name: 'Cy' } },
    ]);
    const stored = await importIndex('profile', profiles);
    expect(stored).toMatchObject({ state: 'done', rowsRead: 3, rowsStored: 2, rowsRejected: 1 });
    const events = ndjson('nul-events.ndjson', [
      {
        id: 'nul-e1',
        type: 'page-view',
        metadata: { time: { insert: '2022-06-01T10:00:05' } },
        profile: { id: 'nul-p1' },
        session: { id: 'nul-s1' },
      },
      {
        id: 'nul-e2',
        type: 'page-view',
        metadata: { time: { insert: '2022-06-01T10:00:06' } },
        profile: { id: 'nul-p1' },
        session: { id: 'nul-s1' },
        properties: { ['k\u0000']: 1 },
      },
    ]);
    const run = await importIndex('event', events);
    expect(run).toMatchObject({ state: 'done', rowsRead: 2, rowsStored: 1, rowsRejected: 1 });
    const rejected = await api.admin({ method: 'GET', url: `/jobs/${run.id}/rejections` });
    expect(rejected.json()).toEqual([
      { ref: 'line 2', reason: expect.stringContaining('properties.k\\u0000: key contains a NUL') },
    ]);
    expect(await api.runtime.db.query(`SELECT id FROM profiles WHERE id LIKE 'nul-%' ORDER BY id`)).toEqual([
      { id: 'nul-p1' },
      { id: 'nul-p3' },
    ]);
    expect(await api.runtime.db.query(`SELECT id FROM events WHERE id LIKE 'nul-%'`)).toEqual([{ id: 'nul-e1' }]);
  });

  it('rejects a profile whose merged id is too long to be an id, and keeps one whose email is too long to identify', async () => {
    const [longId, longEmail] = [incompressible(3000), `${incompressible(3000)}@example.com`];
    const time = { time: { insert: '2022-05-01T10:00:00' } };
    const profiles = ndjson('long-profiles.ndjson', [
      { id: 'long-p1', ids: ['long-p1', longId], metadata: time },
      { id: 'long-p2', metadata: time, pii: { email: longEmail } },
      { id: 'long-p3', metadata: time, pii: { email: 'long-p3@example.com' } },
    ]);
    const run = await importIndex('profile', profiles);
    expect(run).toMatchObject({ state: 'done', rowsRead: 3, rowsStored: 2, rowsRejected: 1 });
    expect((await api.admin({ method: 'GET', url: `/jobs/${run.id}/rejections` })).json()).toEqual([
      { ref: 'line 1', reason: 'ids.1: expected an id of at most 128 characters' },
    ]);
    expect(await api.runtime.db.query(`SELECT id FROM profiles WHERE id LIKE 'long-%' ORDER BY id`)).toEqual([
      { id: 'long-p2' },
      { id: 'long-p3' },
    ]);
    expect(await api.runtime.db.query(`SELECT profile_id FROM identity_keys WHERE profile_id LIKE 'long-%'`)).toEqual([
      { profile_id: 'long-p3' },
    ]);
  });

  it('keeps events without a profile or session, gives a merged id’s session to its survivor, and counts events on sessions imported after them', async () => {
    const event = (id: string, insert: string, profile: unknown, session: unknown) => ({
      id,
      type: 'page-view',
      metadata: { time: { insert } },
      profile,
      session,
    });
    const profiles = ndjson('cnt-profiles.ndjson', [
      { id: 'cnt-p', ids: ['cnt-p', 'cnt-old'], metadata: { time: { insert: '2022-05-01T10:00:00' } } },
    ]);
    expect(await importIndex('profile', profiles)).toMatchObject({ state: 'done', rowsStored: 1 });
    // Events first: their sessions are not stored yet.
    const early = ndjson('cnt-events-1.ndjson', [
      event('cnt-e1', '2022-06-01T10:00:05', { id: 'cnt-old' }, { id: 'cnt-s1' }),
      event('cnt-e2', '2022-06-01T10:05:00', { id: 'cnt-p' }, { id: 'cnt-s1' }),
      // From a source that tracks no profile, as Tracardi stores them.
      event('cnt-e3', '2022-06-01T10:00:00', null, null),
      event('cnt-e4', '2022-06-01T10:00:00', { id: 'cnt-p' }, { id: null }),
      event('cnt-e5', '2022-06-01T10:00:00', { id: '' }, null),
    ]);
    for (let pass = 0; pass < 2; pass++)
      expect(await importIndex('event', early)).toMatchObject({ state: 'done', rowsStored: 4, rowsRejected: 1 });
    const sessions = ndjson('cnt-sessions.ndjson', [
      { id: 'cnt-s1', profile: { id: 'cnt-old' }, metadata: { time: { insert: '2022-06-01T10:00:00', duration: 60 } } },
      { id: 'cnt-s2', profile: { id: 'cnt-p' }, metadata: { time: { insert: '2022-06-02T10:00:00', duration: 60 } } },
    ]);
    expect(await importIndex('session', sessions)).toMatchObject({ state: 'done', rowsStored: 2 });
    // Then events on sessions now stored, one of them stored already.
    const late = ndjson('cnt-events-2.ndjson', [
      event('cnt-e1', '2022-06-01T10:00:05', { id: 'cnt-old' }, { id: 'cnt-s1' }),
      event('cnt-e6', '2022-06-02T10:03:00', { id: 'cnt-p' }, { id: 'cnt-s2' }),
      event('cnt-e7', '2022-06-02T10:00:30', { id: 'cnt-p' }, { id: 'cnt-s2' }),
    ]);
    for (let pass = 0; pass < 2; pass++) {
      expect(await importIndex('event', late)).toMatchObject({ state: 'done', rowsRejected: 0 });
      expect(await importIndex('session', sessions)).toMatchObject({ state: 'done', rowsStored: 2 });
    }

    expect(
      await api.runtime.db.query(`SELECT id, profile_id, session_id FROM events WHERE id LIKE 'cnt-%' ORDER BY id`),
    ).toEqual([
      { id: 'cnt-e1', profile_id: 'cnt-p', session_id: 'cnt-s1' },
      { id: 'cnt-e2', profile_id: 'cnt-p', session_id: 'cnt-s1' },
      { id: 'cnt-e3', profile_id: null, session_id: null },
      { id: 'cnt-e4', profile_id: 'cnt-p', session_id: null },
      { id: 'cnt-e6', profile_id: 'cnt-p', session_id: 'cnt-s2' },
      { id: 'cnt-e7', profile_id: 'cnt-p', session_id: 'cnt-s2' },
    ]);
    // Each session counts its events once and lasts until the last of them (or its own duration, later).
    expect(
      await api.runtime.db.query(
        `SELECT id, profile_id, events_count, last_event_at, visit_ended_at FROM sessions WHERE id LIKE 'cnt-%' ORDER BY id`,
      ),
    ).toEqual([
      {
        id: 'cnt-s1',
        profile_id: 'cnt-p',
        events_count: 2,
        last_event_at: new Date('2022-06-01T10:05:00Z'),
        visit_ended_at: new Date('2022-06-01T10:05:00Z'),
      },
      {
        id: 'cnt-s2',
        profile_id: 'cnt-p',
        events_count: 2,
        last_event_at: new Date('2022-06-02T10:03:00Z'),
        visit_ended_at: new Date('2022-06-02T10:03:00Z'),
      },
    ]);
  });
});
