import { describe, expect, it } from 'vitest';
import { copiedColumns, DEPLOYED_TABLES, planTable, refuseConflicts, summarize } from './plan.js';

const segments = DEPLOYED_TABLES.find((spec) => spec.table === 'segments')!;
const columns = [
  'id',
  'name',
  'machine_name',
  'condition',
  'event_types',
  'last_run_at',
  'resegment_requested',
  'updated_at',
];

describe('planTable', () => {
  it('creates what production lacks, changes what differs, keeps what only production has', () => {
    const items = planTable(
      segments,
      columns,
      [
        { id: 'new', name: 'New', condition: 'a', event_types: [] },
        { id: 'edited', name: 'Edited', condition: 'b', event_types: ['x'] },
      ],
      [
        { id: 'edited', name: 'Edited', condition: 'old', event_types: ['x'] },
        { id: 'mine', name: 'Mine', condition: 'c', event_types: [] },
      ],
    );
    expect(items).toEqual([
      { table: 'segments', id: 'new', name: 'New', action: 'create' },
      { table: 'segments', id: 'edited', name: 'Edited', action: 'change', fields: ['condition'] },
      { table: 'segments', id: 'mine', name: 'Mine', action: 'kept' },
    ]);
    expect(summarize(items)).toEqual({ create: 1, change: 1, unchanged: 0, kept: 1, conflict: 0 });
  });

  it('ignores stamps, what the running system writes, and the order of JSON keys', () => {
    const items = planTable(
      segments,
      columns,
      [
        {
          id: 's',
          name: 'S',
          condition: { b: 1, a: [1, { d: 2, c: 3 }] },
          last_run_at: null,
          updated_at: '2026-01-01',
        },
      ],
      [{ id: 's', name: 'S', condition: { a: [1, { c: 3, d: 2 }], b: 1 }, last_run_at: '2026-02-02', updated_at: 'x' }],
    );
    expect(items).toEqual([{ table: 'segments', id: 's', name: 'S', action: 'unchanged' }]);
    expect(copiedColumns(segments, columns)).toEqual(['id', 'name', 'machine_name', 'condition', 'event_types']);
  });

  it("marks a row that would take a kept row's unique value as a conflict naming both, and refuses to deploy it", () => {
    const items = planTable(
      segments,
      columns,
      [
        { id: 'test-vip', name: 'VIP', machine_name: 'vip', condition: 'a' },
        { id: 'gold', name: 'Gold', machine_name: 'gold', condition: 'b' },
      ],
      [
        { id: 'prod-vip', name: 'VIP', machine_name: 'vip', condition: 'a' },
        { id: 'gold', name: 'Gold', machine_name: 'gold', condition: 'old' },
      ],
      [['machine_name']],
    );
    expect(items).toEqual([
      {
        table: 'segments',
        id: 'test-vip',
        name: 'VIP',
        action: 'conflict',
        fields: ['machine_name'],
        conflictsWith: { id: 'prod-vip', name: 'VIP' },
      },
      { table: 'segments', id: 'gold', name: 'Gold', action: 'change', fields: ['condition'] },
      { table: 'segments', id: 'prod-vip', name: 'VIP', action: 'kept' },
    ]);
    expect(summarize(items)).toMatchObject({ conflict: 1, change: 1, kept: 1 });
    expect(() => refuseConflicts(items)).toThrow(
      expect.objectContaining({
        code: 'conflict',
        details: [{ field: 'segments.machine_name', message: expect.stringMatching(/"test-vip".*"prod-vip"/) }],
      }),
    );
  });

  it('lets rows both contexts have trade unique values, and lets nulls repeat', () => {
    const items = planTable(
      segments,
      columns,
      [
        { id: 'a', name: 'A', machine_name: 'vip', condition: 'a' },
        { id: 'b', name: 'B', machine_name: 'gold', condition: 'b' },
        { id: 'c', name: 'C', machine_name: null, condition: 'c' },
      ],
      [
        { id: 'a', name: 'A', machine_name: 'gold', condition: 'a' },
        { id: 'b', name: 'B', machine_name: 'vip', condition: 'b' },
        { id: 'kept', name: 'K', machine_name: null, condition: 'k' },
      ],
      [['machine_name']],
    );
    expect(items.map((item) => item.action)).toEqual(['change', 'change', 'create', 'kept']);
    expect(() => refuseConflicts(items)).not.toThrow();
  });

  it('writes a flow before the rules that name it', () => {
    const order = DEPLOYED_TABLES.map((spec) => spec.table);
    expect(order.indexOf('flows')).toBeLessThan(order.indexOf('rules'));
  });
});
