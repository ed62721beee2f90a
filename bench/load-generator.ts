/**
 * The /track load, generated outside the orchestrator's process so that it never caps what it
 * measures, with the CPU it costs reported beside the server's: wrk for the max-rate runs, autocannon
 * in a process of its own for the fixed-rate ones (or for all, when wrk is not on PATH).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from './load.js';
import type { TrackMix } from './track-mix.js';
import { runWrk, writeWrkScript } from './wrk.js';

export interface LoadPlan {
  url: string;
  connections: number;
  durationS: number;
  /** Requests per second over all connections; unset: as fast as the server answers. */
  overallRate?: number;
  mix: TrackMix;
}

export interface GeneratedLoad {
  result: LoadResult;
  /** CPU seconds the load generator's process spent. */
  cpuSeconds: number;
  /** Which generator ran: `wrk` or `autocannon`. */
  generator: string;
}

/** What autocannon-process.js prints before its JSON result. */
export const RESULT_MARK = 'AUTOCANNON_RESULT ';

const AUTOCANNON_PROCESS = fileURLToPath(new URL('./autocannon-process.js', import.meta.url));

export function wrkOnPath(): boolean {
  return spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error === undefined;
}

export class LoadGenerator {
  private readonly scripts = new WeakMap<TrackMix, string>();

  /** `dir`: a folder for the plans and the wrk scripts, removed by the caller. */
  constructor(
    private readonly dir: string,
    readonly wrk: boolean = wrkOnPath(),
  ) {}

  /** One line for the report: which generator drives which runs. */
  describe(): string {
    return this.wrk
      ? 'wrk (1 thread, own process) for max-rate runs, autocannon in its own process for fixed-rate runs'
      : 'autocannon in its own process (wrk is not on PATH: max-rate figures may be capped by autocannon)';
  }

  run(plan: LoadPlan): Promise<GeneratedLoad> {
    if (plan.overallRate === undefined && this.wrk) {
      return runWrk({ ...plan, script: this.script(plan.mix) }).then((run) => ({ ...run, generator: 'wrk' }));
    }
    return this.autocannon(plan);
  }

  private script(mix: TrackMix): string {
    let script = this.scripts.get(mix);
    if (!script) {
      script = writeWrkScript(mkdtempSync(join(this.dir, 'wrk-')), mix);
      this.scripts.set(mix, script);
    }
    return script;
  }

  private autocannon(plan: LoadPlan): Promise<GeneratedLoad> {
    const file = join(mkdtempSync(join(this.dir, 'autocannon-')), 'plan.json');
    writeFileSync(file, JSON.stringify(plan));
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [AUTOCANNON_PROCESS, file], { maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
        const line = stdout.split('\n').find((each) => each.startsWith(RESULT_MARK));
        if (error || !line) return reject(new Error(`autocannon process failed: ${error?.message ?? ''}\n${stderr}`));
        const { result, cpuSeconds } = JSON.parse(line.slice(RESULT_MARK.length)) as {
          result: LoadResult;
          cpuSeconds: number;
        };
        resolve({ result, cpuSeconds, generator: 'autocannon' });
      });
    });
  }
}
