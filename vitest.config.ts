import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The reliability suite kills and restarts processes under load: `npm run test:reliability`.
    exclude: [...configDefaults.exclude, 'test/reliability/**'],
    // Hang guards, not performance bounds: a first embedded start (PGlite boot, then every file of the
    // new store fsynced) can take most of a minute on a loaded 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration files share one PostgreSQL server and one Redis; files run in parallel but
    // each uses its own schema / key prefix.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2 } },
  },
});
