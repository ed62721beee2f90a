import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The reliability suite kills and restarts processes under load: `npm run test:reliability`.
    exclude: [...configDefaults.exclude, 'test/reliability/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files share one PostgreSQL server and one Redis; files run in parallel but
    // each uses its own schema / key prefix.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2 } },
  },
});
