import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import type { QueryRecord, Store } from '../src/store/types.js';
import { describePostgres } from './support/each-store.js';
import { aQuery as aRecordedQuery } from './support/query-records.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const aQuery = ({ at, ...overrides }: Partial<QueryRecord> & { at: string }): QueryRecord => aRecordedQuery({ ...overrides, timestamp: Date.parse(at) });

describePostgres('PostgreSQL group commit', () => {
  let db: TestDatabase;
  let store: Store;
  let reader: pg.Pool;
  const committedUsers = async () => (await reader.query<{ user_name: string }>('SELECT user_name FROM queries ORDER BY id')).rows.map((r) => r.user_name);

  beforeEach(async () => {
    db = await createTestDatabase();
    store = await openPostgresStore({ url: db.url, poolSize: 4 });
    reader = new pg.Pool({ connectionString: db.url, max: 4 });
    // pool.end() resolves before its sockets have closed; the database's drop may end one of them (57P01) after.
    reader.on('error', () => undefined);
  });
  afterEach(async () => {
    await store.close().catch(() => undefined);
    await reader.end();
    await db.drop();
  });

  it('records many concurrent calls in a few transactions, each resolved only once its own row is committed', async () => {
    const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    const missingAtResolve: string[] = [];
    await Promise.all(
      users.map((user) =>
        store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user })).then(async () => {
          // Another connection sees the row as soon as its call is released.
          const { rowCount } = await reader.query('SELECT 1 FROM queries WHERE user_name = $1', [user]);
          if (!rowCount) missingAtResolve.push(user);
        }),
      ),
    );
    expect(missingAtResolve).toEqual([]);
    expect((await committedUsers()).sort()).toEqual([...users].sort());
    // Rows written by one transaction share its id (xmin): 60 calls took far fewer transactions than calls.
    const { rows } = await reader.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM queries');
    expect(Number(rows[0].n)).toBeLessThanOrEqual(10);
  });

  it('prices every row of a batch, and returns each call its own cost', async () => {
    await store.putPrice(
      'gpt-4o',
      { validFrom: Date.parse('2024-01-01T00:00:00Z'), per1KQueryTokens: 1, per1KAnswerTokens: 2, per1KCachedQueryTokens: null },
      'admin',
    );
    const calls = Array.from({ length: 20 }, (_, i) => ({ promptTokens: 1000 * (i + 1), completionTokens: 500 * i }));
    const recorded = await Promise.all(
      calls.map((c, i) => store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: `u${i}`, model: 'gpt-4o', cachedTokens: 0, ...c }))),
    );
    expect(recorded).toEqual(calls.map((c) => ({ cost: (c.promptTokens * 1 + c.completionTokens * 2) / 1000, priced: true })));
  });

  it('does not fail the other calls of a batch when one row cannot be recorded', async () => {
    const results = await Promise.allSettled([
      store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'adam', model: 'model-a' })),
      // PostgreSQL text cannot hold a NUL byte: this row alone is refused.
      store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'bad\u0000user' })),
      store.recordQuery(aQuery({ at: '2024-05-01T00:00:01Z', user: 'eve', model: 'model-b' })),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/0x00/);
    expect(await committedUsers()).toEqual(['adam', 'eve']);
    expect((await store.listModels()).map((m) => m.name)).toEqual(expect.arrayContaining(['model-a', 'model-b']));
  });

  it('writes the newest rate-limit reading of a batch in the same transaction as its rows', async () => {
    const reading = (observedAt: number, remaining: number) => ({
      observedAt,
      requests: { maximum: 100, remaining, reset: 1 },
      tokens: { maximum: 1000, remaining: 10 * remaining, reset: 2 },
    });
    await Promise.all([
      store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'a' }), reading(3_000, 97)),
      store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'b' }), reading(1_000, 99)),
      store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'c' }), reading(2_000, 98)),
    ]);
    expect(await store.rateLimits()).toEqual({ requests: { maximum: 100, remaining: 97, reset: 1 }, tokens: { maximum: 1000, remaining: 970, reset: 2 } });
    const { rows } = await reader.query<{ same: boolean }>(
      "SELECT (SELECT xmin::text FROM rate_limits WHERE kind = 'requests') = (SELECT xmin::text FROM queries WHERE user_name = 'a') AS same",
    );
    expect(rows[0].same).toBe(true);
  });

  it('skips a journal entry replayed twice, in a batch with new calls', async () => {
    const entry = aQuery({ at: '2024-05-01T00:00:00Z', user: 'replayed', journalId: 'j-1' });
    await store.recordQuery(entry);
    const [again, fresh] = await Promise.all([store.recordQuery(entry), store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'fresh' }))]);
    expect(again).toEqual({ cost: 0, priced: false });
    expect(fresh.priced).toBe(false);
    expect((await committedUsers()).sort()).toEqual(['fresh', 'replayed']);
  });

  it('commits what is still waiting when the store closes', async () => {
    const recording = store.recordQuery(aQuery({ at: '2024-05-01T00:00:00Z', user: 'late' }));
    await store.close();
    await expect(recording).resolves.toMatchObject({ priced: false });
    expect(await committedUsers()).toEqual(['late']);
  });
});
