import { describe, expect, it } from 'vitest';
import { contextOf, flowOf, NO_HTTP, runAction } from '../../../test/support/flows.js';
import { runFlow } from '../engine.js';
import { ACTIONS } from './index.js';

describe('data actions', () => {
  it('set-value copies a value by dot path into the profile and records the change', async () => {
    const { result } = await runAction('set-value', {
      target: 'profile@traits.last_order',
      value: 'event@properties.id',
    });
    expect(result.effects).toEqual([
      { kind: 'profile', change: { op: 'set', path: 'traits.last_order', value: 'order-7' } },
    ]);
  });

  it('set-value renders string and object templates and keeps literals', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        [
          'a',
          'set-value',
          { target: 'memory@text', value: 'Order {{event@properties.id}} of {{event@properties.total}}' },
        ],
        [
          'b',
          'set-value',
          { target: 'memory@object', value: { id: 'event@properties.id', fixed: 'plain text', n: 2 } },
        ],
        ['c', 'set-value', { target: 'payload@extra', value: true }],
      ],
      ['s.payload -> a', 'a.payload -> b', 'b.payload -> c'],
    );
    const result = await runFlow(flow, contextOf(), { actions: ACTIONS, http: NO_HTTP });
    expect(result.memory).toEqual({
      text: 'Order order-7 of 30',
      object: { id: 'order-7', fixed: 'plain text', n: 2 },
    });
    expect(result.trace[3]!.outputs).toEqual({ payload: { from: 'test', extra: true } });
    expect(result.trace[3]!.input).toEqual({ from: 'test' });
    expect(result.effects).toEqual([]);
  });

  it('set-value fails on a missing source path', async () => {
    const { result } = await runAction('set-value', { target: 'profile@traits.x', value: 'event@properties.none' });
    expect(result).toMatchObject({ status: 'failed', error: { node: 'x' } });
    expect(result.error!.message).toMatch(/does not exist/);
  });

  it('a flow cannot write the profile’s id', async () => {
    const { result } = await runAction('set-value', { target: 'profile@id', value: 'other' });
    expect(result.status).toBe('failed');
  });

  it('increment and decrement change numbers, a missing one counting as zero', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['up', 'increment', { target: 'profile@stats.orders', by: 5 }],
        ['down', 'decrement', { target: 'profile@stats.orders' }],
        ['check', 'if', { condition: 'profile@stats.orders == 4' }],
      ],
      ['s.payload -> up', 'up.payload -> down', 'down.payload -> check'],
    );
    const result = await runFlow(flow, contextOf(), { actions: ACTIONS, http: NO_HTTP });
    expect(result.trace[3]!.outputs).toHaveProperty('true');
    expect(result.effects.map((effect) => effect.kind === 'profile' && effect.change)).toEqual([
      { op: 'increment', path: 'stats.orders', by: 5 },
      { op: 'increment', path: 'stats.orders', by: -1 },
    ]);
  });

  it('append-value, remove-value and delete-value change lists and fields', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['add', 'append-value', { target: 'profile@traits.orders', value: 'event@properties.id', unique: true }],
        ['again', 'append-value', { target: 'profile@traits.orders', value: ['order-7', 'order-8'], unique: true }],
        ['rm', 'remove-value', { target: 'profile@traits.orders', value: 'order-7' }],
        ['del', 'delete-value', { target: 'profile@traits.gone' }],
        [
          'check',
          'if',
          {
            condition:
              'profile@traits.orders CONTAINS "order-8" AND profile@traits.orders NOT CONTAINS "order-7" AND profile@traits.gone NOT EXISTS',
          },
        ],
      ],
      ['s.payload -> add', 'add.payload -> again', 'again.payload -> rm', 'rm.payload -> del', 'del.payload -> check'],
    );
    const result = await runFlow(flow, contextOf({ profile: { id: 'p', traits: { gone: 1 } } }), {
      actions: ACTIONS,
      http: NO_HTTP,
    });
    expect(result.trace.at(-1)!.outputs).toHaveProperty('true');
    expect(result.effects.map((effect) => effect.kind === 'profile' && effect.change)).toEqual([
      { op: 'append', path: 'traits.orders', values: ['order-7'], unique: true },
      { op: 'append', path: 'traits.orders', values: ['order-7', 'order-8'], unique: true },
      { op: 'remove', path: 'traits.orders', values: ['order-7'] },
      { op: 'delete', path: 'traits.gone' },
    ]);
  });

  it('reshape-payload builds the payload from an object template', async () => {
    const { outputs } = await runAction('reshape-payload', {
      template: { order: 'event@properties.id', 'coupon?': 'event@properties.coupon', source: 'web' },
    });
    expect(outputs).toEqual({ payload: { order: 'order-7', source: 'web' } });
  });

  it('add-event-tags tags the event for later nodes and records the tags', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['t', 'add-event-tags', { tags: ['vip', 'web'] }],
        ['check', 'if', { condition: 'event@tags CONTAINS "vip" AND event@tags CONTAINS "web"' }],
      ],
      ['s.payload -> t', 't.payload -> check'],
    );
    const result = await runFlow(flow, contextOf(), { actions: ACTIONS, http: NO_HTTP });
    expect(result.effects).toEqual([{ kind: 'event-tags', tags: ['vip', 'web'] }]);
    expect(result.trace[2]!.outputs).toHaveProperty('true');
  });

  it('write-memory keeps a value that read-memory passes on; a missing key takes `missing`', async () => {
    const flow = flowOf(
      [
        ['s', 'start'],
        ['w', 'write-memory', { key: 'order', value: 'event@properties.id' }],
        ['r', 'read-memory', { key: 'order' }],
        ['none', 'read-memory', { key: 'nothing' }],
      ],
      ['s.payload -> w', 'w.payload -> r', 'w.payload -> none'],
    );
    const result = await runFlow(flow, contextOf(), { actions: ACTIONS, http: NO_HTTP });
    expect(result.memory).toEqual({ order: 'order-7' });
    expect(result.trace.find((step) => step.node === 'r')!.outputs).toEqual({ payload: 'order-7' });
    expect(result.trace.find((step) => step.node === 'none')!.outputs).toEqual({ missing: { from: 'test' } });
  });
});
