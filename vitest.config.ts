import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests start real servers; forks keep them isolated and make timings of one file not disturb another's.
    pool: 'forks',
    // Probes PostgreSQL once, so the PostgreSQL variants of tests run, skip with one line, or fail (OAP_REQUIRE_POSTGRES=1).
    globalSetup: ['test/support/postgres-global-setup.ts', 'test/support/dashboard-vendor-setup.ts'],
  },
});
