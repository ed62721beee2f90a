import { describe, expect, it } from 'vitest';
import { SourceCache } from './source-cache.js';
import type { EventSource, EventSourceRepository } from './ports.js';

const source = { id: 'web', enabled: true } as EventSource;

/** A repository that counts its reads and answers each when told to. */
function repository(fail = false) {
  const pending: (() => void)[] = [];
  const repo = {
    reads: 0,
    get: (id: string) => {
      repo.reads++;
      return new Promise<EventSource | undefined>((resolve, reject) =>
        pending.push(() => (fail ? reject(new Error('down')) : resolve(id === 'web' ? source : undefined))),
      );
    },
    answer: () => pending.splice(0).forEach((settle) => settle()),
  };
  return repo;
}

describe('SourceCache', () => {
  it('answers requests that miss together with one read', async () => {
    const repo = repository();
    const cache = new SourceCache(repo as unknown as EventSourceRepository);
    const answers = Promise.all([cache.get('web'), cache.get('web'), cache.get('web')]);
    repo.answer();
    expect(await answers).toEqual([source, source, source]);
    expect(await cache.get('web')).toBe(source);
    expect(repo.reads).toBe(1);
  });

  it('reads again after its ttl and after forget', async () => {
    let now = 0;
    const repo = repository();
    const cache = new SourceCache(repo as unknown as EventSourceRepository, 2000, () => now);
    const first = cache.get('web');
    repo.answer();
    await first;
    now = 2001;
    const second = cache.get('web');
    repo.answer();
    await second;
    cache.forget('web');
    const third = cache.get('web');
    repo.answer();
    await third;
    expect(repo.reads).toBe(3);
  });

  it('does not keep a failed read', async () => {
    const repo = repository(true);
    const cache = new SourceCache(repo as unknown as EventSourceRepository);
    const failed = cache.get('web');
    repo.answer();
    await expect(failed).rejects.toThrow('down');
    const again = cache.get('web');
    repo.answer();
    await expect(again).rejects.toThrow('down');
    expect(repo.reads).toBe(2);
  });
});
