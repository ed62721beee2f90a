// `npm start`: builds if a source changed, then runs `meridian start` in this very process. The script
// `exec`s node, so npm's only child is the server and the SIGTERM or SIGINT npm forwards reaches it.
import { buildIfStale } from './build.js';

buildIfStale();

// Should npm itself be killed (it cannot forward SIGKILL), the server is orphaned: stop it the same way.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
}, 1000).unref();

process.argv.splice(2, 0, 'start');
// Imported by URL: the compiled CLI, not a module the type check should follow.
await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
