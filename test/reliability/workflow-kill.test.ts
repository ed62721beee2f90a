import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createDeployment, createEventSource, deploymentModes, type Deployment } from '../support/deployment.js';
import { eventually } from '../support/eventually.js';

/**
 * kill -9 of the process executing a workflow run, then a restart on the same store: the recorded run
 * is executed again once its claim expires, its profile effect is stored once, and the outside call it
 * makes is repeated (at least once). The first call to the hook never answers, so the kill is certain
 * to fall between the run's commit-time record and its end.
 */
const CLAIM_SECONDS = '2';

interface RunView {
  id: string;
  status: string;
  attempts: number;
}

async function hookServer(): Promise<{ server: Server; url: string; calls: () => number }> {
  let calls = 0;
  const server = createServer((request, response) => {
    calls++;
    request.resume();
    // The first call hangs until its process is killed; the retry is answered.
    if (calls === 1) return;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, calls: () => calls };
}

for (const { mode, available } of await deploymentModes()) {
  describe.skipIf(!available)(`a workflow run killed mid-run (${mode})`, () => {
    let deployment: Deployment | undefined;
    let hook: Awaited<ReturnType<typeof hookServer>> | undefined;
    afterAll(async () => {
      await deployment?.dispose();
      hook?.server.closeAllConnections();
      hook?.server.close();
    });

    it('is executed again after a restart: the HTTP call repeats, the profile effect is stored once', async () => {
      hook = await hookServer();
      deployment = await createDeployment(mode, { WORKFLOW_CLAIM_S: CLAIM_SECONDS, LOG_LEVEL: 'warn' });
      await deployment.start();
      const sourceId = await createEventSource(deployment, 'workflow kill');
      const flow = await deployment.admin('POST', '/flows', {
        name: 'call then count',
        type: 'collection',
        graph: {
          nodes: [
            { id: 'start', action: 'start', config: {} },
            { id: 'call', action: 'http-request', config: { method: 'POST', url: hook.url, timeoutMs: 60_000 } },
            { id: 'count', action: 'increment', config: { target: 'profile@traits.calls', by: 1 } },
          ],
          edges: [
            { from: { node: 'start', port: 'payload' }, to: { node: 'call' } },
            { from: { node: 'call', port: 'ok' }, to: { node: 'count' } },
          ],
        },
      });
      expect(flow.status).toBe(201);
      const flowId = (flow.body as { id: string }).id;
      const rule = await deployment.admin('POST', '/rules', {
        name: 'on order',
        kind: 'event',
        eventType: 'order',
        flowId,
      });
      expect(rule.status).toBe(201);

      const tracked = await fetch(`${deployment.url}/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: { id: sourceId }, events: [{ type: 'order' }] }),
      });
      expect(tracked.status).toBe(200);
      const profileId = ((await tracked.json()) as { profile: { id: string } }).profile.id;
      await eventually(
        async () => hook!.calls(),
        (calls) => calls === 1,
      );

      await deployment.kill('SIGKILL');
      await deployment.start();

      const runsOf = async () =>
        ((await deployment!.admin('GET', `/flows/${flowId}/runs`)).body as { items: RunView[] }).items;
      const runs = await eventually(runsOf, (items) => items[0]?.status === 'completed', 60_000);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ status: 'completed', attempts: 2 });
      expect(hook.calls()).toBe(2);
      const profile = await deployment.admin('GET', `/profiles/${profileId}`);
      expect((profile.body as { traits: Record<string, unknown> }).traits).toEqual({ calls: 1 });
    });
  });
}
