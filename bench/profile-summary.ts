/**
 * Summarises a V8 .cpuprofile (from `BENCH_CPU_PROF=dir npm run bench`): self time by area
 * (Meridian module, npm package, Node internals, GC, idle) and the hottest functions.
 * Usage: node dist/bench/profile-summary.js <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native/V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm:${pkg[1]}`;
  const own = /dist\/(src\/[^/]+|bench)\//.exec(url);
  if (own) return `meridian:${own[1]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return url;
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-summary <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, index) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));

const total = [...selfUs.values()].reduce((sum, us) => sum + us, 0);
const idle = [...selfUs.entries()]
  .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
  .reduce((sum, [, us]) => sum + us, 0);
const busy = total - idle;
const areas = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = byId.get(id)?.callFrame;
  if (!frame || frame.functionName === '(idle)') continue;
  const where = area(frame.url, frame.functionName);
  areas.set(where, (areas.get(where) ?? 0) + us);
  const key = `${frame.functionName || '(anonymous)'}  ${frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${frame.lineNumber + 1}`;
  functions.set(key, (functions.get(key) ?? 0) + us);
}
const line = (name: string, us: number) =>
  `${((us / busy) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`;
const sorted = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1]);
process.stdout.write(
  [
    `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((busy / total) * 100).toFixed(0)} %), ${(idle / 1e6).toFixed(1)} s idle`,
    '',
    'self time by area (% of busy):',
    ...sorted(areas)
      .slice(0, top)
      .map(([name, us]) => line(name, us)),
    '',
    'hottest functions (self time, % of busy):',
    ...sorted(functions)
      .slice(0, top)
      .map(([name, us]) => line(name, us)),
    '',
  ].join('\n'),
);
