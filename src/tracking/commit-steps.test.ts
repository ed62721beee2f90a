import { describe, expect, it } from 'vitest';
import { runCommitSteps, type CommitStep, type CommittedChanges } from './commit-steps.js';

const changes: CommittedChanges = {
  writer: 'track',
  events: [{ id: 'e1', type: 'purchase', profileId: 'p1', sessionId: 's1', sourceId: 'web', occurredAt: new Date(0) }],
  profiles: [{ id: 'p1', eventTypes: ['purchase'] }],
};

describe('runCommitSteps', () => {
  const recorder = (calls: string[], name: string): CommitStep<string> => ({
    name,
    run: async (tx, seen) => void calls.push(`${name}:${tx}:${seen.writer}`),
  });

  it('runs every step in order, in the writer transaction, one after the other', async () => {
    const calls: string[] = [];
    const slow: CommitStep<string> = {
      name: 'slow',
      run: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        calls.push('slow');
      },
    };
    await runCommitSteps([slow, recorder(calls, 'b')], 'tx', changes);
    expect(calls).toEqual(['slow', 'b:tx:track']);
  });

  it('sends independent steps next to each other together, and waits for them before the next step', async () => {
    const calls: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const first: CommitStep<string> = {
      name: 'first',
      independent: true,
      run: async () => {
        calls.push('first started');
        await held;
        calls.push('first done');
      },
    };
    const second: CommitStep<string> = { ...recorder(calls, 'second'), independent: true };
    const done = runCommitSteps([first, second, recorder(calls, 'after')], 'tx', changes);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls).toEqual(['first started', 'second:tx:track']);
    release();
    await done;
    expect(calls).toEqual(['first started', 'second:tx:track', 'first done', 'after:tx:track']);
  });

  it('runs no step when the transaction stored no event and changed no profile', async () => {
    const calls: string[] = [];
    await runCommitSteps([recorder(calls, 'a')], 'tx', { writer: 'heartbeat', events: [], profiles: [] });
    expect(calls).toEqual([]);
  });

  it('lets a failing step fail the commit, and runs no later step', async () => {
    const calls: string[] = [];
    const failing: CommitStep<string> = {
      name: 'failing',
      run: () => Promise.reject(new Error('no')),
    };
    await expect(runCommitSteps([failing, recorder(calls, 'after')], 'tx', changes)).rejects.toThrow('no');
    expect(calls).toEqual([]);
  });

  it('shows the steps after a merging step the survivors, and answers the merges, chains followed', async () => {
    const two: CommittedChanges = {
      ...changes,
      profiles: [
        { id: 'p1', eventTypes: ['purchase'] },
        { id: 'p2', eventTypes: ['login'] },
      ],
    };
    const seen: CommittedChanges[] = [];
    const merging = (from: string, to: string): CommitStep<string> => ({
      name: `merge ${from}`,
      run: async () => ({ mergedInto: new Map([[from, to]]) }),
    });
    const watcher: CommitStep<string> = { name: 'watch', run: async (_tx, current) => void seen.push(current) };
    const merged = await runCommitSteps([merging('p1', 'p2'), merging('p2', 'p0'), watcher], 'tx', two);
    expect(merged).toEqual(
      new Map([
        ['p1', 'p0'],
        ['p2', 'p0'],
      ]),
    );
    expect(seen[0]!.profiles).toEqual([{ id: 'p0', eventTypes: ['purchase', 'login'] }]);
    expect(seen[0]!.events[0]!.profileId).toBe('p0');
  });
});
