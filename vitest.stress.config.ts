import { defineConfig } from 'vitest/config';

// npm run test:stress: the long scenarios, one file at a time.
export default defineConfig({
  test: {
    include: ['test/stress/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});
