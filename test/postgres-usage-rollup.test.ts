import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { USAGE_COLUMNS, filterWhere } from '../src/store/sql/query-filter-sql.js';
import { toUsage } from '../src/store/sql/rows.js';
import { toPositional, bindPositional } from '../src/store/sql/named-params.js';
import { DAY_MS, MONTH_MS } from '../src/store/sql/usage-rollup-sql.js';
import { POSTGRES_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import type { QueryFilter, Store, UsageSummary } from '../src/store/types.js';
import { describePostgres } from './support/each-store.js';
import { aQuery, ENDPOINTS, MODELS, randomFilter, SPAN, START, STATUSES, USERS } from './support/random-usage-history.js';
import { seededRandom, type SeededRandom } from './support/seeded-random.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const price = (validFrom: string, q: number, a: number, cached: number | null = null) => ({
  validFrom: Date.parse(validFrom),
  per1KQueryTokens: q,
  per1KAnswerTokens: a,
  per1KCachedQueryTokens: cached,
});

describePostgres('usage rollups on PostgreSQL', () => {
  let db: TestDatabase;
  let store: Store;
  let second: Store | undefined;
  let raw: pg.Pool;

  beforeEach(async () => {
    db = await createTestDatabase();
    store = await openPostgresStore({ url: db.url, poolSize: 4, reprice: { window: 400 } });
    raw = new pg.Pool({ connectionString: db.url, max: 2 });
    // pool.end() resolves before its sockets have closed; the database's drop may end one of them (57P01) after.
    raw.on('error', () => undefined);
  });
  afterEach(async () => {
    await store.close().catch(() => undefined);
    await second?.close().catch(() => undefined);
    second = undefined;
    await raw.end();
    await db.drop();
  });

  /** The plain SUM over every matching row: what the rollup must always agree with. */
  async function bruteForceUsage(filter: QueryFilter): Promise<UsageSummary> {
    const { where, params } = filterWhere(filter);
    const sql = toPositional(`SELECT ${USAGE_COLUMNS} FROM queries ${where}`);
    return toUsage((await raw.query(sql.text, bindPositional(sql, params))).rows[0]);
  }

  async function recordRandomQueries(target: Store, r: SeededRandom, n: number): Promise<void> {
    const recordings: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const status = r.pick(STATUSES);
      recordings.push(
        target.recordQuery(
          aQuery({
            at: new Date(START + r.int(SPAN)).toISOString(),
            user: r.pick(USERS),
            model: r.pick(MODELS),
            endpoint: r.pick(ENDPOINTS),
            status,
            outcome: status < 400 ? 'ok' : 'upstream_error',
            promptTokens: r.int(5000),
            completionTokens: r.int(2000),
            cachedTokens: r.int(100),
            reasoningTokens: r.int(300),
          }),
        ),
      );
      // Batches of many sizes: some calls alone, some a few dozen together.
      if (r.int(20) === 0) await Promise.all(recordings.splice(0));
    }
    await Promise.all(recordings);
  }

  async function expectUsageToMatchBruteForce(r: SeededRandom, filters: number): Promise<void> {
    const checked: QueryFilter[] = [{ status: 'ok' }, { status: 'all' }, ...Array.from({ length: filters }, () => randomFilter(r))];
    for (const filter of checked) {
      const { cost, ...counts } = await store.usage(filter);
      const { cost: expectedCost, ...expectedCounts } = await bruteForceUsage(filter);
      expect(counts, JSON.stringify(filter)).toEqual(expectedCounts);
      expect(Math.abs(cost - expectedCost), JSON.stringify(filter)).toBeLessThanOrEqual(1e-9 * Math.max(1, expectedCost));
    }
  }

  it('answer /usage exactly as a SUM over every row would, across random filters', async () => {
    const r = seededRandom(1);
    await store.putPrice('gpt-4o', price('2023-06-01T00:00:00Z', 0.005, 0.015), 'admin');
    await store.putPrice('gpt-4o-mini', price('2024-03-10T12:00:00Z', 0.00015, 0.0006), 'admin');
    await recordRandomQueries(store, r, 2000);
    const all = await bruteForceUsage({ status: 'all' });
    expect(all.numQueries).toBe(2000);
    expect(all.cost).toBeGreaterThan(0);
    expect(all.unpricedQueries).toBeGreaterThan(0);
    // Every query is counted once at each level of the rollup, in the transaction that inserted it.
    const { rows } = await raw.query('SELECT per_user, span::float8 AS span, SUM(num_queries)::int AS n FROM usage_rollup GROUP BY 1, 2 ORDER BY 1, 2');
    expect(rows).toEqual([
      { per_user: 0, span: DAY_MS, n: 2000 },
      { per_user: 0, span: MONTH_MS, n: 2000 },
      { per_user: 1, span: MONTH_MS, n: 2000 },
    ]);
    await expectUsageToMatchBruteForce(r, 300);
  });

  it('stay exact when two instances insert into the same rollup rows at once, without deadlocks', async () => {
    second = await openPostgresStore({ url: db.url, poolSize: 4 });
    const r = seededRandom(5);
    await store.putPrice('gpt-4o', price('2024-02-01T00:00:00Z', 0.005, 0.015), 'admin');
    await Promise.all([recordRandomQueries(store, seededRandom(6), 1200), recordRandomQueries(second, seededRandom(7), 1200)]);
    expect((await bruteForceUsage({ status: 'all' })).numQueries).toBe(2400);
    await expectUsageToMatchBruteForce(r, 150);
  });

  it('stay exact when prices are added, replaced, put before older queries, re-priced in windows, and come from a catalog', async () => {
    const r = seededRandom(2);
    await recordRandomQueries(store, r, 2000);
    await store.putPrice('gpt-4o', price('2024-02-15T08:30:00Z', 0.005, 0.015), 'admin');
    await expectUsageToMatchBruteForce(r, 60);
    await store.putPrice('gpt-4o', price('2024-01-10T00:00:00.001Z', 0.01, 0.03, 0.002), 'admin');
    await store.putPrice('gpt-4o-2024-08-06', price('2024-04-01T00:00:00Z', 0.02, 0.06), 'admin');
    await expectUsageToMatchBruteForce(r, 60);
    await store.putPrice('gpt-4o', price('2024-02-15T08:30:00Z', 1, 2), 'admin');
    await store.replaceCatalogPrices(new Map([['o3-mini', [price('2023-01-01T00:00:00Z', 0.0011, 0.0044)]]]));
    await expectUsageToMatchBruteForce(r, 60);
    await store.replaceCatalogPrices(new Map());
    await expectUsageToMatchBruteForce(r, 60);
  });

  it('are built for the rows a database already holds when the migration that adds them runs', async () => {
    const r = seededRandom(4);
    await recordRandomQueries(store, r, 800);
    await store.close();
    // Back to the schema before the rollup, with the rows kept: the migration must count them all.
    await raw.query('DROP TABLE usage_rollup');
    await raw.query('UPDATE proxy_schema SET version = $1', [POSTGRES_MIGRATIONS.length - 1]);
    store = await openPostgresStore({ url: db.url, poolSize: 4 });
    await expectUsageToMatchBruteForce(r, 80);
  });
});
