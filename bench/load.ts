/** A thin, typed wrapper around autocannon (which ships no types). */
import { createRequire } from 'node:module';

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest;
}

interface Histogram {
  average: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p97_5: number;
  p99: number;
  total: number;
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  latency: Histogram;
  requests: Histogram & { sent: number };
}

interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  overallRate?: number;
  timeout?: number;
  headers?: Record<string, string>;
  method?: string;
  requests?: AutocannonRequest[];
}

type Autocannon = (
  options: AutocannonOptions,
  callback: (error: Error | null, result: AutocannonResult) => void,
) => { stop(): void };

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:1234 */
  url: string;
  path: string;
  connections: number;
  durationS: number;
  /** Requests per second over all connections; unset means as fast as the server answers. */
  overallRate?: number;
  /** Called once per request: the JSON body to send. */
  body: () => string;
}

export interface LoadResult {
  /** Completed requests per second, averaged over the run's 1-second samples. */
  reqPerSec: number;
  completed: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationS: number;
}

/** Runs autocannon; any error, timeout or non-2xx answer is counted, never thrown. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationS,
        overallRate: options.overallRate,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: options.path,
            headers: { 'content-type': 'application/json' },
            setupRequest: (request) => ({ ...request, body: options.body() }),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const statusCodes: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count;
        resolve({
          reqPerSec: result.requests.average,
          completed: result.requests.total,
          latencyMs: {
            p50: result.latency.p50,
            p90: result.latency.p90,
            p99: result.latency.p99,
            max: result.latency.max,
            mean: result.latency.mean,
          },
          ok2xx: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes,
          durationS: result.duration,
        });
      },
    );
  });
}

/**
 * Requests that failed: no answer (autocannon counts timeouts among errors) or an answer other than
 * 200 (a 226 means events were rejected, so it fails the benchmark too).
 */
export const failures = (result: LoadResult) =>
  result.errors +
  Object.entries(result.statusCodes).reduce((sum, [code, count]) => (code === '200' ? sum : sum + count), 0);
