/**
 * The baseline: Fastify with nothing but one JSON POST route, the ceiling /track is compared to.
 * Same framework defaults as Meridian (JSON body parsing, no request logging); run as a child process
 * by bench/run.ts with PORT set.
 */
import Fastify from 'fastify';

const port = Number(process.env['PORT'] ?? 0);
const app = Fastify({ logger: false });

app.get('/healthcheck', async () => ({ status: 'ok' }));
app.post('/track', async (request) => {
  const body = request.body as { events?: unknown[] } | undefined;
  return { ok: true, events: Array.isArray(body?.events) ? body.events.length : 0 };
});

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await app.listen({ host: '127.0.0.1', port });
