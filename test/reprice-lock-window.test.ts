import { afterEach, beforeEach, expect, it } from 'vitest';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import type { Store } from '../src/store/types.js';
import { describePostgres } from './support/each-store.js';
import { DatabaseSession, waitUntil } from './support/postgres-sessions.js';
import { aQuery, costOf } from './support/query-records.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const price = { validFrom: Date.UTC(2020, 0, 1), per1KQueryTokens: 2, per1KAnswerTokens: 4, per1KCachedQueryTokens: null };

/**
 * A re-price of a long history runs while calls of that model keep being
 * recorded: a call must never wait for the re-pricing of old rows, only for
 * the moment the price itself is stored.
 */
describePostgres('calls of a model during its re-price', () => {
  let db: TestDatabase;
  let session: DatabaseSession;
  let store: Store;
  beforeEach(async () => {
    db = await createTestDatabase();
    store = await openPostgresStore({ url: db.url });
    session = await DatabaseSession.open(db.url);
  });
  afterEach(async () => {
    await session.close().catch(() => undefined);
    await store.close();
    await db.drop();
  });

  it('are recorded at the new price while the re-price of old rows is held up', async () => {
    const t = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 30; i++) await store.recordQuery(aQuery({ user: `old-${i}`, model: 'house-model', requestedModel: 'house-model', timestamp: t + i }));
    // An old row locked elsewhere: the re-price waits for it.
    await session.query('BEGIN');
    await session.query("SELECT id FROM queries WHERE user_name = 'old-0' FOR UPDATE");
    let repriced = false;
    const repricing = store.putPrice('house-model', price, 'admin').then(() => (repriced = true));
    await waitUntil(
      async () => (await session.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'transactionid'")).length > 0,
      'the re-price waits for the locked row',
    );

    const call = store.recordQuery(aQuery({ user: 'new', model: 'house-model', requestedModel: 'house-model', timestamp: Date.now() }));
    const recorded = await Promise.race([call, new Promise<'waited'>((r) => setTimeout(() => r('waited'), 3_000))]);
    expect(recorded, 'the call waited for the re-price of old rows').not.toBe('waited');
    expect(recorded).toMatchObject({ priced: true, cost: costOf(aQuery(), 2, 4) });
    expect(repriced).toBe(false);

    await session.query('ROLLBACK');
    await repricing;
    const usage = await store.usage({ status: 'ok' });
    expect(usage.numQueries).toBe(31);
    expect(usage.unpricedQueries).toBe(0);
    expect(usage.cost).toBeCloseTo(31 * costOf(aQuery(), 2, 4), 9);
  });
});
