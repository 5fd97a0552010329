/**
 * Run a behaviour test against every store: SQLite and PostgreSQL.
 *
 *   import { describeEachStore } from './support/each-store.js';
 *   import { startHarness, type Harness } from './support/proxy-harness.js';
 *
 *   describeEachStore('usage reports', (store) => {
 *     let h: Harness;
 *     beforeEach(async () => { h = await startHarness([], { store }); });
 *     afterEach(() => h.close());
 *     it('sums tokens per user', async () => { ... h.url ... });
 *   });
 *
 * That registers `usage reports [sqlite]` and `usage reports [postgres]`.
 * Each harness gets its own database: a temporary SQLite file, or a fresh
 * PostgreSQL database (CREATE DATABASE oap_test_<random>, dropped by
 * h.close()). A second proxy on the same database:
 * `startHarness([], { store, databaseUrl: h.databaseUrl })`.
 *
 * PostgreSQL is the server on 127.0.0.1:5432 as user postgres (or
 * OAP_TEST_POSTGRES_URL). When it is unreachable the [postgres] variants are
 * skipped and the run prints one line saying so; with OAP_REQUIRE_POSTGRES=1
 * (CI) they fail instead. Tests that only make sense on PostgreSQL use
 * describePostgres(name, body) the same way. Keep tests store-agnostic: talk
 * to the proxy over HTTP (or to h.proxy.store), not to the SQLite file.
 */
import { beforeAll, describe, inject } from 'vitest';

export type StoreKind = 'sqlite' | 'postgres';
const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];

export function describeEachStore(name: string, body: (store: StoreKind) => void): void {
  for (const store of STORE_KINDS) describeForStore(store, `${name} [${store}]`, () => body(store));
}

export function describePostgres(name: string, body: () => void): void {
  describeForStore('postgres', name, body);
}

function describeForStore(store: StoreKind, name: string, body: () => void): void {
  if (store === 'sqlite') {
    describe(name, body);
    return;
  }
  const probe = inject('postgres');
  if (!probe) {
    throw new Error('PostgreSQL was not probed: vitest.config.ts must list test/support/postgres-global-setup.ts in globalSetup');
  }
  if (probe.reachable) {
    describe(name, body);
  } else if (process.env.OAP_REQUIRE_POSTGRES === '1') {
    describe(name, () => {
      beforeAll(() => {
        throw new Error(`OAP_REQUIRE_POSTGRES=1 but ${probe.reason}`);
      });
      body();
    });
  } else {
    describe.skip(`${name} (skipped: ${probe.reason})`, body);
  }
}
