import { describe, expect, it } from 'vitest';
import { flowOf } from '../../test/support/flows.js';
import { DomainError } from '../shared/errors.js';
import { ACTIONS } from './actions/index.js';
import type { FlowGraph } from './model.js';
import { answersClient, validateFlow } from './validate.js';

function problems(graph: FlowGraph): { field: string; message: string }[] {
  try {
    validateFlow(graph, ACTIONS);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('validation_failed');
    return (error as DomainError).details;
  }
  return [];
}

const fields = (graph: FlowGraph) => problems(graph).map((problem) => problem.field);

describe('validateFlow', () => {
  it('accepts a well-formed flow', () => {
    const { graph } = flowOf(
      [
        ['s', 'start'],
        ['c', 'if', { condition: 'profile@traits.age > 18' }],
        ['e', 'end'],
      ],
      ['s.payload -> c', 'c.true -> e', 'c.error -> e'],
    );
    expect(problems(graph)).toEqual([]);
  });

  it('wants exactly one start node', () => {
    expect(fields(flowOf([['e', 'end']], []).graph)).toEqual(['graph.nodes']);
    expect(
      fields(
        flowOf(
          [
            ['a', 'start'],
            ['b', 'start'],
          ],
          [],
        ).graph,
      ),
    ).toEqual(['graph.nodes[1]']);
  });

  it('names unknown actions and duplicate ids', () => {
    const { graph } = flowOf(
      [
        ['s', 'start'],
        ['x', 'teleport'],
        ['s', 'end'],
      ],
      [],
    );
    expect(problems(graph)).toEqual([
      { field: 'graph.nodes[1].action', message: 'unknown action "teleport"' },
      { field: 'graph.nodes[2].id', message: 'the node id s is used twice' },
    ]);
  });

  it('names the config field that does not fit the action’s schema', () => {
    const { graph } = flowOf(
      [
        ['s', 'start'],
        ['inc', 'increment', { target: 'profile@stats.n', by: 'two' }],
        ['seg', 'add-segment', {}],
      ],
      [],
    );
    const found = problems(graph);
    expect(found.map((problem) => problem.field)).toEqual([
      'graph.nodes[1].config.by',
      'graph.nodes[2].config.segment',
    ]);
    expect(found[0]!.message).toMatch(/number/i);
  });

  it('checks what a schema cannot: a condition’s syntax and where a value may be written', () => {
    const { graph } = flowOf(
      [
        ['s', 'start'],
        ['c', 'if', { condition: 'profile@traits.age >' }],
        ['set', 'set-value', { target: 'event@properties.x', value: 1 }],
        ['set2', 'set-value', { target: 'not a path', value: 1 }],
      ],
      [],
    );
    expect(fields(graph)).toEqual([
      'graph.nodes[1].config.condition',
      'graph.nodes[2].config.target',
      'graph.nodes[3].config.target',
    ]);
  });

  it('refuses edges from missing nodes or ports, to missing nodes, and into the start', () => {
    const { graph } = flowOf(
      [
        ['s', 'start'],
        ['c', 'if', { condition: 'profile@traits.age > 18' }],
      ],
      ['ghost.payload -> c', 'c.maybe -> s', 's.payload -> nowhere'],
    );
    expect(fields(graph)).toEqual([
      'graph.edges[0].from.node',
      'graph.edges[1].from.port',
      'graph.edges[1].to.node',
      'graph.edges[2].to.node',
    ]);
  });

  it('knows the ports a config gives a node', () => {
    const { graph } = flowOf(
      [
        ['s', 'start'],
        ['sw', 'switch-event-type', { types: ['purchase'] }],
        ['e', 'end'],
      ],
      ['s.payload -> sw', 'sw.purchase -> e', 'sw.other -> e', 'sw.refund -> e'],
    );
    expect(problems(graph)).toEqual([
      {
        field: 'graph.edges[3].from.port',
        message: 'switch-event-type has no port "refund" (it has purchase, other, error)',
      },
    ]);
  });

  it('refuses cycles', () => {
    const { graph } = flowOf(
      [
        ['s', 'start'],
        ['a', 'increment', { target: 'memory@n' }],
        ['b', 'increment', { target: 'memory@n' }],
      ],
      ['s.payload -> a', 'a.payload -> b', 'b.payload -> a'],
    );
    expect(problems(graph)).toEqual([{ field: 'graph.edges', message: 'the flow loops: a → b → a' }]);
  });
});

describe('answersClient', () => {
  it('is false for a flow without response actions', () => {
    expect(answersClient(flowOf([['s', 'start']], []).graph, ACTIONS)).toBe(false);
  });
});
