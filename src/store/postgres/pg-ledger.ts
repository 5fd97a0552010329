import type pg from 'pg';
import type { LedgerReader, LedgerWriter, ModelRow, PriceRow, QueryTableRow, RateLimitTableRow } from '../ledger/ledger-tables.js';
import { RECORD_COLUMNS, pricedInsertSql } from '../sql/insert-query-sql.js';
import { LEDGER_SQL, toCounts } from '../sql/ledger-sql.js';
import { copyPriceSql } from '../sql/shared-statements.js';
import { LOCK_MODELS_EXCLUSIVE, LOCK_MODELS_SHARED } from './advisory-locks.js';
import { RECORD_COLUMN_TYPES } from './column-types.js';
import { createPool } from './pg-pool.js';
import { addToRollupSql, recomputeWholeModelRollup } from './pg-rollup.js';
import { runNamed } from './statements.js';

/** A batch of rows as one INSERT: one array parameter per column, unnested and priced in the statement, and added to the rollup. */
const INSERT_QUERIES = `WITH inserted AS (${pricedInsertSql(
  (column) => `u.${column}`,
  `unnest(${RECORD_COLUMNS.map((c) => `@${c}::${RECORD_COLUMN_TYPES[c]}[]`).join(', ')}) AS u(${RECORD_COLUMNS.join(', ')})`,
)} RETURNING *) ${addToRollupSql('inserted')}`;

/**
 * The ledger tables of a PostgreSQL database whose schema is current (open it
 * with openPostgresStore first), on one connection. Reading happens in one
 * REPEATABLE READ transaction, so a ledger that live proxies keep writing is
 * copied as of one moment.
 */
export async function openPostgresLedger(url: string): Promise<LedgerReader & LedgerWriter> {
  const pool = createPool({ url, max: 1 });
  const client = await pool.connect();
  let snapshot = false;
  const read = async <R extends pg.QueryResultRow>(text: string, params: Record<string, unknown> = {}) => {
    if (!snapshot) {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      snapshot = true;
    }
    return (await runNamed<R>(client, text, params)).rows;
  };

  return {
    counts: async () => toCounts((await runNamed(client, LEDGER_SQL.counts)).rows[0]),
    models: () => read<ModelRow>(LEDGER_SQL.models),
    prices: () => read<PriceRow>(LEDGER_SQL.prices),
    rateLimits: () => read<RateLimitTableRow>(LEDGER_SQL.rateLimits),
    async *queries(batchSize: number) {
      let after = -1;
      for (;;) {
        const rows = await read<QueryTableRow>(LEDGER_SQL.queriesAfter, { after, size: batchSize });
        if (rows.length === 0) return;
        after = rows[rows.length - 1].id;
        yield rows;
      }
    },

    begin: async () => void (await client.query('BEGIN')),
    async addModels(rows) {
      let added = 0;
      for (const r of rows) added += (await runNamed(client, LEDGER_SQL.insertModel, { ...r })).rowCount ?? 0;
      return added;
    },
    async addPrices(rows) {
      // Live proxies may be inserting these models' queries: hold their pricing locks until commit, as a price POST does.
      await runNamed(client, LOCK_MODELS_EXCLUSIVE, { models: [...new Set(rows.map((r) => r.model))] });
      let added = 0;
      const models = new Set<string>();
      for (const r of rows) {
        if (((await runNamed(client, copyPriceSql(r), { ...r })).rowCount ?? 0) === 0) continue;
        added++;
        models.add(r.model);
      }
      for (const model of models) {
        await runNamed(client, LEDGER_SQL.repriceModel, { model });
        await recomputeWholeModelRollup(client, model);
      }
      return added;
    },
    async addRateLimits(rows) {
      for (const r of rows) await runNamed(client, LEDGER_SQL.upsertRateLimit, { ...r });
    },
    async addQueries(rows) {
      // As each call's insert does: a concurrent price change of these models waits for this copy to commit, then re-prices it.
      await runNamed(client, LOCK_MODELS_SHARED, { models: [...new Set(rows.flatMap((r) => [r.model, r.base_model, r.ft_base_model]))] });
      const columns: Record<string, unknown[]> = {};
      for (const c of RECORD_COLUMNS) columns[c] = rows.map((r) => r[c]);
      await runNamed(client, INSERT_QUERIES, columns);
    },
    commit: async () => void (await client.query('COMMIT')),
    rollback: async () => void (await client.query('ROLLBACK')),
    async close() {
      if (snapshot) await client.query('COMMIT').catch(() => undefined);
      client.release();
      await pool.end();
    },
  };
}
