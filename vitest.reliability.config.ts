import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/** `npm run test:reliability`: the process-level checks of test/reliability (see README, Testing). */
export default defineConfig({
  test: {
    ...base.test,
    include: ['test/reliability/**/*.test.ts'],
    exclude: configDefaults.exclude,
    // Hang guards, not performance bounds: these tests start PGlite and several processes, and a
    // machine shared with other work can make that slow.
    testTimeout: 300_000,
    hookTimeout: 180_000,
  },
});
