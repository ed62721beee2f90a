import { describe, expect, it } from 'vitest';
import { copiedColumns, DEPLOYED_TABLES, planTable, summarize } from './plan.js';

const segments = DEPLOYED_TABLES.find((spec) => spec.table === 'segments')!;
const columns = ['id', 'name', 'condition', 'event_types', 'last_run_at', 'resegment_requested', 'updated_at'];

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
    expect(summarize(items)).toEqual({ create: 1, change: 1, unchanged: 0, kept: 1 });
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
    expect(copiedColumns(segments, columns)).toEqual(['id', 'name', 'condition', 'event_types']);
  });

  it('writes a flow before the rules that name it', () => {
    const order = DEPLOYED_TABLES.map((spec) => spec.table);
    expect(order.indexOf('flows')).toBeLessThan(order.indexOf('rules'));
  });
});
