import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files share one PostgreSQL server and one Redis; files run in parallel but
    // each uses its own schema / key prefix.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2 } },
  },
});
