import { RECORD_COLUMNS } from './insert-query-sql.js';
import { MODEL_ROWS, REPRICE_ASSIGNMENT } from './pricing-sql.js';
import { INSERT_MODEL, PRICES_TO_COPY, PRICE_COUNTS, UPSERT_RATE_LIMIT } from './shared-statements.js';

/** SQL for copying the ledger table by table (src/store/ledger), the same on every store. */
export const LEDGER_SQL = {
  counts: `SELECT (SELECT COUNT(*) FROM queries) AS queries,
    (SELECT admin_prices FROM (${PRICE_COUNTS}) a) AS admin_prices,
    (SELECT catalog_prices FROM (${PRICE_COUNTS}) c) AS catalog_prices,
    (SELECT COUNT(*) FROM models) AS models`,
  models: 'SELECT name, first_seen FROM models ORDER BY name',
  prices: PRICES_TO_COPY,
  rateLimits: 'SELECT kind, maximum, remaining, reset, observed_at FROM rate_limits ORDER BY kind',
  queriesAfter: `SELECT id, ${RECORD_COLUMNS.join(', ')} FROM queries WHERE id > @after ORDER BY id LIMIT @size`,

  insertModel: INSERT_MODEL,
  upsertRateLimit: UPSERT_RATE_LIMIT,
  /** Every stored query a price of @model can apply to, re-priced. */
  repriceModel: `UPDATE queries SET ${REPRICE_ASSIGNMENT} WHERE ${MODEL_ROWS}`,
};

export function toCounts(row: Record<string, unknown>) {
  return {
    queries: Number(row.queries),
    adminPrices: Number(row.admin_prices),
    catalogPrices: Number(row.catalog_prices),
    models: Number(row.models),
  };
}
