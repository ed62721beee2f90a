/**
 * autocannon in a process of its own, for the fixed-rate cases wrk cannot drive (and for every case
 * when wrk is not installed): run by bench/load-generator.ts with the path of a JSON plan; prints one
 * JSON line with the result and the CPU seconds this process spent during the load.
 */
import { readFileSync } from 'node:fs';
import { runLoad } from './load.js';
import { RESULT_MARK, type LoadPlan } from './load-generator.js';
import { mixedBodies } from './track-mix.js';

const plan = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadPlan;
const before = process.cpuUsage();
const result = await runLoad({
  url: plan.url,
  path: '/track',
  connections: plan.connections,
  durationS: plan.durationS,
  overallRate: plan.overallRate,
  body: mixedBodies(plan.mix),
});
const used = process.cpuUsage(before);
process.stdout.write(`${RESULT_MARK}${JSON.stringify({ result, cpuSeconds: (used.user + used.system) / 1e6 })}\n`);
