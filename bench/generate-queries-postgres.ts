import pg from 'pg';
import { loadPriceCatalog } from '../src/accounting/price-catalog/load-price-catalog.js';
import { DAY_MS } from '../src/store/sql/usage-rollup-sql.js';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import { rebuildRollup } from '../src/store/postgres/pg-rollup.js';
import { runNamed } from '../src/store/postgres/statements.js';
import { generatedInsertSql, SEED_MODELS, seedPrices, type GeneratedHistory } from './generate-queries.js';

/**
 * The same history generate-queries.ts writes into SQLite, written straight
 * into a PostgreSQL database: the same rows, priced by the same shared SQL,
 * in one INSERT ... SELECT over generate_series, then the usage rollup built
 * from them by the store's own SQL; the tables are vacuumed and analysed, as
 * autovacuum would leave long-lived ones.
 */
export async function generatePostgresQueries(url: string, opts: { rows: number; users: number; days: number; endAt: number }): Promise<GeneratedHistory> {
  const started = process.hrtime.bigint();
  // The store creates the schema, exactly as the proxy will find it, with the bundled catalog's prices a running
  // proxy's database holds: without them the proxy's first start would re-price the whole history before answering.
  const store = await openPostgresStore({ url });
  await store.replaceCatalogPrices((await loadPriceCatalog({ catalog: true })).prices);
  await store.close();

  const span = opts.days * DAY_MS;
  const start = opts.endAt - span;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SET jit = off');
    for (const p of seedPrices(start, span)) {
      await runNamed(
        client,
        `INSERT INTO prices (model, source, valid_from, per1k_query, per1k_answer, per1k_cached_query)
        VALUES (@model, 'admin', @validFrom, @perQuery, @perAnswer, @perCached)`,
        { ...p },
      );
    }
    for (const model of SEED_MODELS) {
      await runNamed(client, 'INSERT INTO models (name, first_seen) VALUES (@model, @start) ON CONFLICT (name) DO NOTHING', { model, start });
    }

    // Indexes are built once at the end: far faster than keeping them up to date row by row.
    const { rows: indexes } = await client.query<{ name: string; sql: string }>(
      `SELECT i.indexname AS name, i.indexdef AS sql FROM pg_indexes i
       WHERE i.tablename = 'queries' AND i.schemaname = current_schema()
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    );
    // Names come from the catalogue, not from input; identifiers cannot be bound as parameters.
    for (const index of indexes) await client.query(`DROP INDEX "${index.name}"`);
    await runNamed(
      client,
      generatedInsertSql(`WITH p AS (SELECT @rows::bigint AS rows, @start::bigint AS start, @span::bigint AS span,
        @users::bigint AS users),
      seq(i) AS (SELECT generate_series(0::bigint, (SELECT rows FROM p) - 1))`),
      { rows: opts.rows, start, span, users: opts.users },
    );
    for (const index of indexes) await client.query(index.sql);
    await rebuildRollup(client);
    await client.query('VACUUM ANALYZE queries');
    await client.query('VACUUM ANALYZE usage_rollup');
    const { rows: size } = await client.query<{ bytes: string }>("SELECT pg_total_relation_size('queries')::text AS bytes");
    return {
      rows: opts.rows,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
      fileMb: Number(size[0].bytes) / 1024 ** 2,
      start,
      endAt: opts.endAt,
      users: { busiest: 'user-0', middle: `user-${Math.floor(opts.users / 4)}` },
    };
  } finally {
    await client.end();
  }
}
