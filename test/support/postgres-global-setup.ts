import type { TestProject } from 'vitest/node';
import { probePostgres, type PostgresProbe } from './test-database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresProbe;
  }
}

/** Probes PostgreSQL once per run; describeEachStore reads the answer to run or skip the PostgreSQL variants. */
export default async function setup(project: TestProject): Promise<void> {
  const probe = await probePostgres();
  project.provide('postgres', probe);
  if (probe.reachable) return;
  if (process.env.OAP_REQUIRE_POSTGRES === '1') {
    console.log(`\n${probe.reason}: the PostgreSQL tests will FAIL (OAP_REQUIRE_POSTGRES=1).\n`);
  } else {
    console.log(
      `\n${probe.reason}: SKIPPING the PostgreSQL tests. Start PostgreSQL on 127.0.0.1:5432 (or point OAP_TEST_POSTGRES_URL at a server); set OAP_REQUIRE_POSTGRES=1 to make this a failure.\n`,
    );
  }
}
