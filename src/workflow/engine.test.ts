import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { contextOf, flowOf, NO_HTTP } from '../../test/support/flows.js';
import { ACTIONS } from './actions/index.js';
import { runFlow } from './engine.js';
import type { ActionSpec } from './model.js';
import { actionRegistry, defineAction } from './registry.js';

/** Actions that exist only to drive the engine into each of its branches. */
const fail = defineAction<{ message: string }>({
  id: 'fail',
  name: 'Fail',
  description: 'Throws.',
  group: 'flow',
  configSchema: Type.Object({ message: Type.String({ default: 'boom' }) }),
  outputs: ['payload'],
  run: (_input, config) => {
    throw new Error(config.message);
  },
});
const tag = defineAction<{ as: string }>({
  id: 'tag',
  name: 'Tag',
  description: 'Passes on its input labelled.',
  group: 'flow',
  configSchema: Type.Object({ as: Type.String() }),
  outputs: ['payload'],
  run: (input, config) => ({ ports: { payload: { [config.as]: input } } }),
});
const halt = defineAction({
  id: 'halt',
  name: 'Halt',
  description: 'Stops the run.',
  group: 'flow',
  configSchema: Type.Object({}),
  outputs: ['payload'],
  run: (input, _config, context) => {
    context.stop();
    return { ports: { payload: input } };
  },
});
const wait = defineAction({
  id: 'wait',
  name: 'Wait',
  description: 'Pauses the branch.',
  group: 'time',
  configSchema: Type.Object({}),
  outputs: ['payload'],
  run: (_input, _config, context) => {
    context.pause({ port: 'payload', at: '2026-01-01T00:15:00.000Z' });
    return { ports: {} };
  },
});
const forever = defineAction({
  id: 'forever',
  name: 'Forever',
  description: 'Never answers until aborted.',
  group: 'flow',
  configSchema: Type.Object({}),
  outputs: ['payload'],
  run: () => new Promise<never>(() => undefined),
});

const broken = defineAction({
  id: 'broken',
  name: 'Broken',
  description: 'Answers nothing at all.',
  group: 'flow',
  configSchema: Type.Object({}),
  outputs: ['payload'],
  run: () => undefined as unknown as { ports: Record<string, unknown> },
});

const actions = actionRegistry([...ACTIONS.list(), fail, tag, halt, wait, forever, broken] as ActionSpec[]);
const run = (flow: ReturnType<typeof flowOf>, extra: Partial<Parameters<typeof runFlow>[2]> = {}) =>
  runFlow(flow, contextOf(), { actions, http: NO_HTTP, ...extra });

describe('runFlow', () => {
  it('follows only the branch an if takes, and later nodes see earlier changes', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['big', 'if', { condition: 'event@properties.total > 20' }],
        ['set', 'set-value', { target: 'profile@traits.last_order', value: 'event@properties.id' }],
        ['small', 'add-segment', { segment: 'small' }],
        ['check', 'if', { condition: 'profile@traits.last_order == "order-7"' }],
        ['inc', 'increment', { target: 'profile@stats.orders' }],
        ['seg', 'add-segment', { segment: 'buyers' }],
        ['e', 'end'],
      ],
      [
        's.payload -> big',
        'big.true -> set',
        'big.false -> small',
        'set.payload -> check',
        'check.true -> inc',
        'inc.payload -> seg',
        'seg.payload -> e',
      ],
    );
    const result = await run(flow);
    expect(result.status).toBe('completed');
    expect(result.trace.map((step) => step.node)).toEqual(['s', 'big', 'set', 'check', 'inc', 'seg', 'e']);
    expect(result.effects).toEqual([
      { kind: 'profile', change: { op: 'set', path: 'traits.last_order', value: 'order-7' } },
      { kind: 'profile', change: { op: 'increment', path: 'stats.orders', by: 1 } },
      { kind: 'profile', change: { op: 'add-segment', segment: 'buyers' } },
    ]);
    expect(result.trace[1]).toMatchObject({ input: { from: 'test' }, outputs: { true: { from: 'test' } } });
  });

  it('leaves the caller’s context untouched', async () => {
    const context = contextOf();
    await runFlow(
      flowOf(
        [
          ['s', 'start'],
          ['set', 'set-value', { target: 'profile@traits.x', value: 1 }],
        ],
        ['s.payload -> set'],
      ),
      context,
      { actions, http: NO_HTTP },
    );
    expect(context.profile?.['traits']).toEqual({});
  });

  it('runs a join once, after every input that can still arrive, with what each branch passed', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['a', 'tag', { as: 'a' }],
        ['b', 'tag', { as: 'b' }],
        ['c', 'tag', { as: 'c' }],
        ['gate', 'if', { condition: 'event@type == "other"' }],
        ['join', 'tag', { as: 'joined' }],
      ],
      [
        's.payload -> a',
        's.payload -> b',
        'b.payload -> c',
        'a.payload -> join',
        'c.payload -> join',
        's.payload -> gate',
        'gate.true -> join',
      ],
    );
    const result = await run(flow);
    const joins = result.trace.filter((step) => step.node === 'join');
    expect(joins).toHaveLength(1);
    expect(joins[0]!.input).toEqual({ a: { a: { from: 'test' } }, c: { c: { b: { from: 'test' } } } });
    expect(result.trace.at(-1)!.node).toBe('join');
  });

  it('does not run a node none of whose inputs fired, nor what follows it', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['gate', 'if', { condition: 'event@type == "other"' }],
        ['x', 'tag', { as: 'x' }],
        ['y', 'tag', { as: 'y' }],
      ],
      ['s.payload -> gate', 'gate.true -> x', 'x.payload -> y'],
    );
    expect((await run(flow)).trace.map((step) => step.node)).toEqual(['s', 'gate']);
  });

  it('takes the error port of a failing node when it is connected', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['f', 'fail', { message: 'no stock' }],
        ['handle', 'tag', { as: 'handled' }],
        ['never', 'tag', { as: 'never' }],
      ],
      ['s.payload -> f', 'f.error -> handle', 'f.payload -> never'],
    );
    const result = await run(flow);
    expect(result.status).toBe('completed');
    expect(result.trace.map((step) => step.node)).toEqual(['s', 'f', 'handle']);
    expect(result.trace[1]!.error).toBe('no stock');
    expect(result.trace[2]!.input).toEqual({ message: 'no stock', input: { from: 'test' } });
  });

  it('fails the run at the node when the error port is not connected', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['f', 'fail', { message: 'no stock' }],
        ['after', 'tag', { as: 'x' }],
      ],
      ['s.payload -> f', 'f.payload -> after'],
    );
    const result = await run(flow);
    expect(result).toMatchObject({ status: 'failed', error: { node: 'f', message: 'no stock' } });
    expect(result.trace.map((step) => step.node)).toEqual(['s', 'f']);
  });

  it('ends successfully at a stop, running nothing after it', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['h', 'halt'],
        ['after', 'add-segment', { segment: 'x' }],
      ],
      ['s.payload -> h', 'h.payload -> after'],
    );
    const result = await run(flow);
    expect(result.status).toBe('completed');
    expect(result.trace.map((step) => step.node)).toEqual(['s', 'h']);
    expect(result.effects).toEqual([]);
  });

  it('pauses a branch, lets the others finish, and resumes after the paused node', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['w', 'wait'],
        ['later', 'add-segment', { segment: 'later' }],
        ['now', 'add-segment', { segment: 'now' }],
        ['join', 'tag', { as: 'j' }],
      ],
      ['s.payload -> w', 'w.payload -> later', 's.payload -> now', 'later.payload -> join', 'now.payload -> join'],
    );
    const first = await run(flow);
    expect(first.status).toBe('paused');
    expect(first.pause).toEqual({
      node: 'w',
      port: 'payload',
      input: first.trace[1]!.input,
      at: '2026-01-01T00:15:00.000Z',
    });
    expect(first.trace.map((step) => step.node)).toEqual(['s', 'w', 'now']);

    const resumed = await run(flow, { resume: { node: 'w', port: 'payload', input: { back: true } } });
    expect(resumed.status).toBe('completed');
    expect(resumed.trace.map((step) => step.node)).toEqual(['later', 'join']);
    expect(resumed.trace[1]!.input).toEqual({ back: true });
    expect(resumed.effects).toEqual([{ kind: 'profile', change: { op: 'add-segment', segment: 'later' } }]);
  });

  it('a stop ends a run that another branch paused as completed, with nothing to resume', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['w', 'wait'],
        ['h', 'halt'],
      ],
      ['s.payload -> w', 's.payload -> h'],
    );
    const result = await run(flow);
    expect(result.status).toBe('completed');
    expect(result.pause).toBeUndefined();
  });

  it('fails with a clear message beyond its step limit', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['a', 'tag', { as: 'a' }],
        ['b', 'tag', { as: 'b' }],
      ],
      ['s.payload -> a', 'a.payload -> b'],
    );
    const result = await run(flow, { limits: { maxSteps: 2 } });
    expect(result).toMatchObject({
      status: 'failed',
      error: { node: 'b', message: 'the run exceeded its limit of 2 steps' },
    });
  });

  it('fails with a clear message beyond its time limit, by the run’s clock', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const now = () => new Date((clock += 1000));
    const flow = flowOf(
      [
        ['s', 'start'],
        ['a', 'tag', { as: 'a' }],
        ['b', 'tag', { as: 'b' }],
      ],
      ['s.payload -> a', 'a.payload -> b'],
    );
    const result = await run(flow, { now, limits: { maxDurationMs: 2500 } });
    expect(result.status).toBe('failed');
    expect(result.error?.message).toBe('the run took longer than its limit of 2500 ms');
  });

  it('aborts an action that outlives the time limit', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['f', 'forever'],
      ],
      ['s.payload -> f'],
    );
    const result = await run(flow, { limits: { maxDurationMs: 50 } });
    expect(result).toMatchObject({ status: 'failed', error: { node: 'f' } });
    expect(result.error?.message).toMatch(/limit of 50 ms/);
  });

  it('records a trace per node: input, outputs, start time, duration', async () => {
    const flow = flowOf([['s', 'start']], []);
    const result = await run(flow, { now: () => new Date('2026-01-01T00:00:00Z') });
    expect(result.trace).toEqual([
      {
        node: 's',
        action: 'start',
        input: { from: 'test' },
        outputs: { payload: { from: 'test' } },
        startedAt: '2026-01-01T00:00:00.000Z',
        durationMs: 0,
      },
    ]);
  });

  it('fails the run at an action that answers without ports', async () => {
    const result = await run(
      flowOf(
        [
          ['s', 'start'],
          ['b', 'broken'],
        ],
        ['s.payload -> b'],
      ),
    );
    expect(result).toMatchObject({ status: 'failed', error: { node: 'b', message: 'broken answered without ports' } });
  });

  it('fails a run of a flow without a start node or with an unknown action', async () => {
    expect((await run(flowOf([['x', 'tag', { as: 'x' }]], []))).status).toBe('failed');
    const unknown = await run(
      flowOf(
        [
          ['s', 'start'],
          ['u', 'nope'],
        ],
        ['s.payload -> u'],
      ),
    );
    expect(unknown).toMatchObject({ status: 'failed', error: { node: 'u', message: 'unknown action nope' } });
  });
});
