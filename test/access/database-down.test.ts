import type OpenAI from 'openai';
import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { accessAdmin, ADMIN_TOKEN, sayHi, sdkWithKey } from '../support/access-admin.js';
import { describePostgres } from '../support/each-store.js';
import { startHarness, type Harness } from '../support/proxy-harness.js';
import { POSTGRES_ADMIN_URL } from '../support/test-database.js';

/** The test's own database stops taking connections and its sessions are ended (the server stays up for others). */
async function setDatabaseOnline(name: string, online: boolean): Promise<void> {
  if (!/^oap_test_[0-9a-f]+$/.test(name)) throw new Error(`not a test database: ${name}`);
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${online ? 'true' : 'false'}`);
    if (!online) await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  } finally {
    await admin.end();
  }
}

describePostgres('keys and budgets while the database is down', () => {
  let h: Harness;
  let database: string;
  beforeEach(async () => {
    h = await startHarness([`--admin.token=${ADMIN_TOKEN}`, '--auth.callers=keys'], { store: 'postgres' });
    database = new URL(h.databaseUrl).pathname.slice(1);
  });
  afterEach(async () => {
    await setDatabaseOnline(database, true);
    await h.close();
  });

  it('keeps serving keys it has checked (into the journal), and refuses what it cannot check', async () => {
    const admin = accessAdmin(() => h.url);
    const known = await admin.createKey({ user: 'adam' });
    const budgeted = await admin.createKey({ user: 'eve', budget: { usd: 5, period: 'month' } });
    const never = await admin.createKey({ user: 'tom' });
    await sayHi(sdkWithKey(h.url, known.key));
    await sayHi(sdkWithKey(h.url, budgeted.key));
    await setDatabaseOnline(database, false);

    // No revocation can be made meanwhile (the admin API needs the database), so the key read before still holds.
    await sayHi(sdkWithKey(h.url, known.key));
    for (const key of [never.key, budgeted.key]) {
      const err = await sayHi(sdkWithKey(h.url, key)).then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
      expect(err?.status, 'a key never read, or a budget that cannot be reserved against, is refused').toBe(503);
      expect(err?.code).toBe('access_unavailable');
    }

    await setDatabaseOnline(database, true);
    await expect.poll(async () => (await admin.call('GET', '/health')).body.status, { timeout: 15_000 }).toBe('ok');
    expect((await admin.ok('GET', `/queries?key=${known.id}`)).length).toBe(2);
  });
});
