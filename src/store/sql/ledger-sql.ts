import { RECORD_COLUMNS } from './insert-query-sql.js';
import { REPRICE_ASSIGNMENT } from './pricing-sql.js';
import { INSERT_MODEL, INSERT_PRICE_IF_ABSENT, UPSERT_RATE_LIMIT } from './shared-statements.js';

/** SQL for copying the ledger table by table (src/store/ledger), the same on every store. */
export const LEDGER_SQL = {
  counts: `SELECT (SELECT COUNT(*) FROM queries) AS queries,
    (SELECT COUNT(*) FROM prices WHERE source = 'admin') AS admin_prices,
    (SELECT COUNT(*) FROM prices WHERE source <> 'admin') AS catalog_prices,
    (SELECT COUNT(*) FROM models) AS models`,
  models: 'SELECT name, first_seen FROM models ORDER BY name',
  prices: 'SELECT model, source, valid_from, per1k_query, per1k_answer, per1k_cached_query FROM prices ORDER BY model, source, valid_from',
  rateLimits: 'SELECT kind, maximum, remaining, reset, observed_at FROM rate_limits ORDER BY kind',
  queriesAfter: `SELECT id, ${RECORD_COLUMNS.join(', ')} FROM queries WHERE id > @after ORDER BY id LIMIT @size`,

  insertModel: INSERT_MODEL,
  insertPrice: INSERT_PRICE_IF_ABSENT,
  upsertRateLimit: UPSERT_RATE_LIMIT,
  /** Every stored query a price of @model can apply to, re-priced. */
  repriceModel: `UPDATE queries SET ${REPRICE_ASSIGNMENT} WHERE model = @model OR base_model = @model`,
};

export function toCounts(row: Record<string, unknown>) {
  return {
    queries: Number(row.queries),
    adminPrices: Number(row.admin_prices),
    catalogPrices: Number(row.catalog_prices),
    models: Number(row.models),
  };
}
