import pg from 'pg';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openStore } from '../src/server/open-store.js';
import { POSTGRES_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { createPool } from '../src/store/postgres/pg-pool.js';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import type { Store } from '../src/store/types.js';
import { describePostgres } from './support/each-store.js';
import { aQuery, costOf, inParallel } from './support/query-records.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const silent = pino({ level: 'silent' });

describePostgres('the PostgreSQL store', () => {
  let db: TestDatabase;
  const open: Store[] = [];
  const openOn = async (url = db.url, extra: Partial<Parameters<typeof openPostgresStore>[0]> = {}) => {
    const store = await openPostgresStore({ url, ...extra });
    open.push(store);
    return store;
  };
  async function sql<R extends pg.QueryResultRow = Record<string, any>>(text: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close().catch(() => undefined)));
    await db.drop();
  });

  it('creates the schema on first start and records its version', async () => {
    await openOn();
    expect(await sql('SELECT version FROM proxy_schema')).toEqual([{ version: POSTGRES_MIGRATIONS.length }]);
    const columns = await sql<{ column_name: string; data_type: string }>(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'queries' AND column_name IN ('ts', 'cost')",
    );
    expect(Object.fromEntries(columns.map((c) => [c.column_name, c.data_type]))).toEqual({ ts: 'bigint', cost: 'double precision' });
  });

  it('lets instances that start at the same moment migrate once, without racing', async () => {
    const stores = await Promise.all([1, 2, 3, 4].map(() => openOn()));
    expect(stores).toHaveLength(4);
    expect(await sql('SELECT version FROM proxy_schema')).toEqual([{ version: POSTGRES_MIGRATIONS.length }]);
    await stores[0].recordQuery(aQuery());
    expect((await stores[3].usage({ status: 'ok' })).numQueries).toBe(1);
  });

  it('refuses to start on a schema newer than it knows, naming both versions', async () => {
    await (await openOn()).close();
    await sql('UPDATE proxy_schema SET version = $1', [POSTGRES_MIGRATIONS.length + 1]);
    await expect(openOn()).rejects.toThrow(
      `the database schema is version ${POSTGRES_MIGRATIONS.length + 1}, newer than this proxy knows (${POSTGRES_MIGRATIONS.length}); upgrade the proxy`,
    );
  });

  it('accepts postgresql://, a password and libpq options in database.url', async () => {
    const url = new URL(db.url);
    url.protocol = 'postgresql:';
    // The test server trusts loopback connections, so any password is accepted; the point is that the form parses.
    url.password = 'not-checked';
    url.searchParams.set('application_name', 'oap-url-forms');
    url.searchParams.set('options', '-c statement_timeout=4321');
    const store = await openStore(url.toString(), silent);
    open.push(store);
    expect(store.kind).toBe('postgres');
    const seen = await sql("SELECT datname FROM pg_stat_activity WHERE application_name = 'oap-url-forms'");
    expect(seen.map((r) => r.datname)).toContain(db.name);
    const pool = createPool({ url: url.toString(), max: 1 });
    try {
      expect((await pool.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('4321ms');
    } finally {
      await pool.end();
    }
  });

  it('says which server it could not reach when asked to fail at once (migrate-data), never showing the password', async () => {
    const attempt = openPostgresStore({ url: 'postgres://proxy:hunter2-secret@127.0.0.1:1/ledger' });
    await expect(attempt).rejects.toThrow(/could not connect to PostgreSQL at postgres:\/\/proxy:\*\*\*@127\.0\.0\.1:1\/ledger/);
    await expect(attempt).rejects.not.toThrow(/hunter2/);
  });

  it('re-prices a large history window by window, in bounded transactions', async () => {
    const store = await openOn(db.url, { reprice: { window: 7 } });
    const t = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 40; i++) {
      await store.recordQuery(aQuery({ timestamp: t + i, model: i % 3 === 0 ? 'gpt-4o-mini' : 'gpt-4o-2024-08-06', promptTokens: i }));
    }
    await store.putPrice('gpt-4o', { validFrom: t + 9, per1KQueryTokens: 2, per1KAnswerTokens: 4, per1KCachedQueryTokens: null }, 'admin');
    // ::float8 and ::int: this raw client reads BIGINT as strings.
    const rows = await sql<{ ts: number; model: string; prompt_tokens: number; completion_tokens: number; cost: number; priced: number }>(
      'SELECT ts::float8 AS ts, model, prompt_tokens::int AS prompt_tokens, completion_tokens::int AS completion_tokens, cost, priced::int AS priced FROM queries ORDER BY id',
    );
    for (const r of rows) {
      const covered = r.model === 'gpt-4o-2024-08-06' && r.ts > t + 9;
      expect(r.cost, `row at ${r.ts - t}`).toBe(covered ? costOf({ promptTokens: r.prompt_tokens, completionTokens: r.completion_tokens }, 2, 4) : 0);
      expect(r.priced).toBe(covered ? 1 : 0);
    }
    expect(rows.filter((r) => r.priced === 1).length).toBe(20);
  });

  it('never leaves a row at an old price when prices change on one instance while two instances insert', async () => {
    const [a, b] = await Promise.all([openOn(), openOn()]);
    const t0 = Date.UTC(2024, 0, 1);
    let inserted = 0;
    let priceChanges = 0;
    const insertions = inParallel(600, 12, async (i) => {
      await (i % 2 === 0 ? a : b).recordQuery(aQuery({ timestamp: t0 + i, user: `u${i}` }));
      inserted++;
    });
    const repricing = (async () => {
      // Keep changing the one price that covers every row until all inserts are in.
      while (inserted < 600) {
        priceChanges++;
        await (priceChanges % 2 ? a : b).putPrice(
          'gpt-4o',
          { validFrom: 0, per1KQueryTokens: priceChanges, per1KAnswerTokens: 0, per1KCachedQueryTokens: null },
          'admin',
        );
      }
    })();
    await Promise.all([insertions, repricing]);
    const final = priceChanges;
    const rows = await sql<{ n: string; wrong: string }>(
      'SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE cost <> prompt_tokens * $1::float8 / 1000) AS wrong FROM queries',
      [final],
    );
    expect(priceChanges).toBeGreaterThan(3);
    expect(rows[0]).toEqual({ n: '600', wrong: '0' });
  });
});
