import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { USAGE_COLUMNS, filterWhere } from '../src/store/sql/query-filter-sql.js';
import { toUsage } from '../src/store/sql/rows.js';
import { toPositional, bindPositional } from '../src/store/sql/named-params.js';
import { DAY_MS, MONTH_MS } from '../src/store/sql/usage-rollup-sql.js';
import { POSTGRES_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import type { QueryFilter, QueryRecord, Store, UsageSummary } from '../src/store/types.js';
import { describePostgres } from './support/each-store.js';
import { aQuery as aRecordedQuery } from './support/query-records.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const aQuery = ({ at, ...overrides }: Partial<QueryRecord> & { at: string }): QueryRecord => aRecordedQuery({ ...overrides, timestamp: Date.parse(at) });

/** A small deterministic PRNG, so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}

const START = Date.parse('2024-01-01T00:00:00Z');
const SPAN = 200 * DAY_MS;
const USERS = ['adam', 'eve', 'cain', 'abel'];
const MODELS = ['gpt-4o', 'gpt-4o-2024-08-06', 'gpt-4o-mini', 'o3-mini'];
const ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings'];
const STATUSES = [200, 200, 200, 200, 201, 399, 400, 429, 500, 504];

const price = (validFrom: string, q: number, a: number, cached: number | null = null) => ({
  validFrom: Date.parse(validFrom),
  per1KQueryTokens: q,
  per1KAnswerTokens: a,
  per1KCachedQueryTokens: cached,
});

function randomBound(r: ReturnType<typeof random>): number | undefined {
  const kind = r.int(4);
  if (kind === 0) return undefined;
  const t = START - 5 * DAY_MS + r.int(SPAN + 10 * DAY_MS);
  if (kind === 1) return t;
  const edge = Math.floor(t / (kind === 2 ? DAY_MS : MONTH_MS)) * (kind === 2 ? DAY_MS : MONTH_MS);
  return edge + r.pick([-1, 0, 1]);
}

function randomFilter(r: ReturnType<typeof random>): QueryFilter {
  const a = randomBound(r);
  const b = randomBound(r);
  const [after, before] = a !== undefined && b !== undefined && a > b ? [b, a] : [a, b];
  const filter: QueryFilter = { status: r.pick(['ok', 'error', 'all'] as const), after, before };
  if (r.int(3) === 0) filter.user = r.pick(USERS);
  if (r.int(4) === 0) filter.model = r.pick(MODELS);
  if (r.int(4) === 0) filter.endpoint = r.pick(ENDPOINTS);
  return filter;
}

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

  async function recordRandomQueries(target: Store, r: ReturnType<typeof random>, n: number): Promise<void> {
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

  async function expectUsageToMatchBruteForce(r: ReturnType<typeof random>, filters: number): Promise<void> {
    const checked: QueryFilter[] = [{ status: 'ok' }, { status: 'all' }, ...Array.from({ length: filters }, () => randomFilter(r))];
    for (const filter of checked) {
      const { cost, ...counts } = await store.usage(filter);
      const { cost: expectedCost, ...expectedCounts } = await bruteForceUsage(filter);
      expect(counts, JSON.stringify(filter)).toEqual(expectedCounts);
      expect(Math.abs(cost - expectedCost), JSON.stringify(filter)).toBeLessThanOrEqual(1e-9 * Math.max(1, expectedCost));
    }
  }

  it('answer /usage exactly as a SUM over every row would, across random filters', async () => {
    const r = random(1);
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
    const r = random(5);
    await store.putPrice('gpt-4o', price('2024-02-01T00:00:00Z', 0.005, 0.015), 'admin');
    await Promise.all([recordRandomQueries(store, random(6), 1200), recordRandomQueries(second, random(7), 1200)]);
    expect((await bruteForceUsage({ status: 'all' })).numQueries).toBe(2400);
    await expectUsageToMatchBruteForce(r, 150);
  });

  it('stay exact when prices are added, replaced, put before older queries, re-priced in windows, and come from a catalog', async () => {
    const r = random(2);
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
    const r = random(4);
    await recordRandomQueries(store, r, 800);
    await store.close();
    // Back to the schema before the rollup, with the rows kept: the migration must count them all.
    await raw.query('DROP TABLE usage_rollup');
    await raw.query('UPDATE proxy_schema SET version = $1', [POSTGRES_MIGRATIONS.length - 1]);
    store = await openPostgresStore({ url: db.url, poolSize: 4 });
    await expectUsageToMatchBruteForce(r, 80);
  });
});
