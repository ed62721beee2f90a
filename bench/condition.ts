/**
 * Condition evaluation throughput: a compiled three-clause condition against a hand-written closure
 * doing the same three comparisons, measured in the same run so the figure reads as a ratio.
 * Standalone: `node dist/bench/condition.js`.
 */
import { pathToFileURL } from 'node:url';
import { compileCondition, type ConditionContext } from '../src/condition/index.js';

const CONDITION = 'profile@traits.age > 18 AND event@type == "purchase" AND profile@stats.visits >= 3';
const CONTEXT_COUNT = 1024;
const MEASURE_MS = 500;

function makeContexts(): ConditionContext[] {
  return Array.from({ length: CONTEXT_COUNT }, (_, i) => ({
    profile: { traits: { age: 10 + (i % 30) }, stats: { visits: i % 7 } },
    event: { type: i % 3 === 0 ? 'view' : 'purchase' },
  }));
}

/** Runs `evaluate` over the contexts for about MEASURE_MS and returns calls per second. */
function measure(evaluate: (context: ConditionContext) => boolean, contexts: ConditionContext[]): number {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) if (evaluate(contexts[i & (CONTEXT_COUNT - 1)]!)) sink++;
  let calls = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < MEASURE_MS) {
    for (let i = 0; i < 100_000; i++) if (evaluate(contexts[i & (CONTEXT_COUNT - 1)]!)) sink++;
    calls += 100_000;
    elapsed = performance.now() - started;
  }
  if (sink < 0) console.log(sink); // keeps the results observable so the loop is not optimised away
  return (calls / elapsed) * 1000;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function handWritten(context: ConditionContext): boolean {
  const profile = context.profile as Json | undefined;
  const event = context.event as Json | undefined;
  const age = profile?.traits?.age;
  const visits = profile?.stats?.visits;
  return typeof age === 'number' && age > 18 && event?.type === 'purchase' && typeof visits === 'number' && visits >= 3;
}

export async function benchCondition(): Promise<{ evalsPerSecond: number; baselineOpsPerSecond: number }> {
  const contexts = makeContexts();
  const compiled = compileCondition(CONDITION);
  for (const context of contexts) {
    if (compiled.evaluate(context) !== handWritten(context))
      throw new Error('benchmark condition and baseline disagree');
  }
  const evalsPerSecond = measure((context) => compiled.evaluate(context), contexts);
  const baselineOpsPerSecond = measure(handWritten, contexts);
  return { evalsPerSecond, baselineOpsPerSecond };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { evalsPerSecond, baselineOpsPerSecond } = await benchCondition();
  const millions = (n: number) => (n / 1e6).toFixed(1);
  console.log(`condition: ${CONDITION}`);
  console.log(`compiled condition: ${millions(evalsPerSecond)}M evaluations/s`);
  console.log(`hand-written closure: ${millions(baselineOpsPerSecond)}M evaluations/s`);
  console.log(`ratio: ${(evalsPerSecond / baselineOpsPerSecond).toFixed(2)} of hand-written speed`);
}
