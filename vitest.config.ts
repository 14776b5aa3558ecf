import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/stress/**', 'node_modules/**'],
    // Native addon + worker threads: each test file in its own child process.
    pool: 'forks',
    // The tests start real servers with several threads on a 2-core machine:
    // two files at a time keeps timing-sensitive tests honest.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
