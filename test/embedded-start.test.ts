import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, runMeridian, waitForHealthy } from './support/processes.js';

/** `npm start` runs `meridian start`: the embedded default, with data kept across restarts. */
describe('meridian start (embedded)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meridian-start-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function start() {
    const port = await freePort();
    const process = runMeridian(['start'], { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' });
    const url = `http://127.0.0.1:${port}`;
    await waitForHealthy(url, process, 90_000);
    // The banner is written after the server listens; give it a moment to arrive.
    for (let i = 0; i < 50 && !process.output().includes('admin token'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const sourceId = /event source:\s+(\S+)/.exec(process.output())?.[1];
    const token = /admin token:\s+(\S+)/.exec(process.output())?.[1];
    expect(process.output()).toContain(`Meridian is running at http://127.0.0.1:${port}`);
    return { process, url, sourceId: sourceId!, token: token! };
  }

  it(
    'prints a ready source and token, and keeps data, source and token across a restart',
    { timeout: 240_000 },
    async () => {
      const first = await start();
      expect(first.sourceId).toBeTruthy();
      expect(first.token).toBeTruthy();
      const tracked = await fetch(`${first.url}/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: { id: first.sourceId }, events: [{ type: 'page-view' }] }),
      });
      expect(tracked.status).toBe(200);
      const { profile } = (await tracked.json()) as { profile: { id: string } };
      expect(await first.process.stop()).toBe(0);

      const second = await start();
      try {
        expect(second.sourceId).toBe(first.sourceId);
        expect(second.token).toBe(first.token);
        const read = await fetch(`${second.url}/profiles/${profile.id}`, {
          headers: { authorization: `Bearer ${second.token}` },
        });
        expect(read.status).toBe(200);
      } finally {
        await second.process.stop();
      }
    },
  );

  it(
    'refuses a second process on the same data folder in one line, naming the holder',
    { timeout: 180_000 },
    async () => {
      const first = await start();
      try {
        const second = runMeridian(['start'], { DATA_DIR: dataDir, PORT: String(await freePort()), HOST: '127.0.0.1' });
        expect(await second.exited).toBe(1);
        expect(second.output()).toMatch(
          new RegExp(
            `^meridian: the embedded store \\S+ is in use by process ${first.process.child.pid}; stop it first[^\\n]*\\n$`,
          ),
        );
      } finally {
        await first.process.stop();
      }
    },
  );
});
