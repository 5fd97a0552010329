import type { Price, PriceSource } from '../../accounting/price.js';
import { OPTIONAL_RATES } from '../../accounting/price-rates.js';

/**
 * Statements both stores run as they are (named `@params`; PostgreSQL's go
 * through named-params.ts), so a change to a table is made in one place.
 */

/** Latest wins: an older answer arriving late never overwrites a newer observation, whichever instance wrote it. */
const LATEST_RATE_LIMIT_WINS = `ON CONFLICT (kind) DO UPDATE SET maximum = excluded.maximum, remaining = excluded.remaining,
    reset = excluded.reset, observed_at = excluded.observed_at
  WHERE excluded.observed_at >= rate_limits.observed_at`;

const RATE_LIMIT_COLUMNS = 'kind, maximum, remaining, reset, observed_at';

export const UPSERT_RATE_LIMIT = `INSERT INTO rate_limits (${RATE_LIMIT_COLUMNS})
  VALUES (@kind, @maximum, @remaining, @reset, @observed_at) ${LATEST_RATE_LIMIT_WINS}`;

/** The same upsert for many rows at once, from a `SELECT` producing the columns in order. */
export const upsertRateLimitsFrom = (rowsSql: string) => `INSERT INTO rate_limits (${RATE_LIMIT_COLUMNS}) ${rowsSql} ${LATEST_RATE_LIMIT_WINS}`;

/** Per model, as each model has limits of its own upstream: the same latest-wins upsert, keyed by (model, kind). */
const MODEL_RATE_LIMIT_COLUMNS = 'model, kind, maximum, remaining, reset, observed_at';
const LATEST_MODEL_RATE_LIMIT_WINS = `ON CONFLICT (model, kind) DO UPDATE SET maximum = excluded.maximum, remaining = excluded.remaining,
    reset = excluded.reset, observed_at = excluded.observed_at
  WHERE excluded.observed_at >= model_rate_limits.observed_at`;

export const UPSERT_MODEL_RATE_LIMIT = `INSERT INTO model_rate_limits (${MODEL_RATE_LIMIT_COLUMNS})
  VALUES (@model, @kind, @maximum, @remaining, @reset, @observed_at) ${LATEST_MODEL_RATE_LIMIT_WINS}`;

export const upsertModelRateLimitsFrom = (rowsSql: string) =>
  `INSERT INTO model_rate_limits (${MODEL_RATE_LIMIT_COLUMNS}) ${rowsSql} ${LATEST_MODEL_RATE_LIMIT_WINS}`;

export const MODEL_RATE_LIMITS = 'SELECT model, kind, maximum, remaining, reset FROM model_rate_limits ORDER BY model, kind';

export const INSERT_MODEL = 'INSERT INTO models (name, first_seen) VALUES (@name, @first_seen) ON CONFLICT (name) DO NOTHING';

/**
 * Prices: a default-tier price is a row of `prices`, any other tier's a row
 * of `tier_prices` (see billing-schema-sql.ts), so that an older binary
 * sharing the database still reads only default prices. Reads see both, with
 * `tier` NULL for the default tier.
 */
const RATE_COLUMNS = ['per1k_query', 'per1k_answer', 'per1k_cached_query', ...OPTIONAL_RATES.map((r) => r.column)];
const KEY = { prices: ['model', 'source', 'valid_from'], tier_prices: ['model', 'source', 'tier', 'valid_from'] };
type PriceTable = keyof typeof KEY;
const tableOf = (p: Price): PriceTable => (p.serviceTier === undefined ? 'prices' : 'tier_prices');

const insertPrice = (table: PriceTable, onConflict: string) => {
  const columns = [...KEY[table], ...RATE_COLUMNS];
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})${onConflict && ` ON CONFLICT (${KEY[table].join(', ')}) ${onConflict}`}`;
};
const forEachTable = (build: (table: PriceTable) => string) => ({ prices: build('prices'), tier_prices: build('tier_prices') });

/** An admin price posted again for the same instant (and tier) replaces the earlier one. */
const UPSERT_PRICE = forEachTable((t) => insertPrice(t, `DO UPDATE SET ${RATE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`));
/** Copying a ledger: a price already in the target is kept. */
const INSERT_PRICE_IF_ABSENT = forEachTable((t) => insertPrice(t, 'DO NOTHING'));
const INSERT_PRICE = forEachTable((t) => insertPrice(t, ''));
/** The first price of the same model, source (and tier) after `@valid_from`: where a new price's interval ends. */
const NEXT_PRICE_FROM = forEachTable(
  (t) =>
    `SELECT MIN(valid_from) AS v FROM ${t} WHERE model = @model AND source = @source AND valid_from > @valid_from${t === 'tier_prices' ? ' AND tier = @tier' : ''}`,
);

/** The statements for one price, by the table its tier lives in; their parameters are priceParams'. */
export const priceStatements = (p: Price) => {
  const table = tableOf(p);
  return { upsert: UPSERT_PRICE[table], insert: INSERT_PRICE[table], insertIfAbsent: INSERT_PRICE_IF_ABSENT[table], nextFrom: NEXT_PRICE_FROM[table] };
};

export const priceParams = (model: string, source: PriceSource | string, p: Price) => {
  const params: Record<string, unknown> = {
    model,
    source,
    tier: p.serviceTier ?? null,
    valid_from: p.validFrom,
    per1k_query: p.per1KQueryTokens,
    per1k_answer: p.per1KAnswerTokens,
    per1k_cached_query: p.per1KCachedQueryTokens,
  };
  for (const r of OPTIONAL_RATES) params[r.column] = p[r.field] ?? null;
  return params;
};

const PRICE_ROWS = `(SELECT model, source, CAST(NULL AS TEXT) AS tier, valid_from, ${RATE_COLUMNS.join(', ')} FROM prices
  UNION ALL SELECT model, source, tier, valid_from, ${RATE_COLUMNS.join(', ')} FROM tier_prices) price_rows`;
// The default tier first at each instant, on both stores (PostgreSQL sorts NULL last).
const PRICE_ORDER = "valid_from, COALESCE(tier, '')";

export const ALL_PRICES = `SELECT * FROM ${PRICE_ROWS} ORDER BY model, ${PRICE_ORDER}`;
export const PRICES_OF_MODEL = `SELECT * FROM ${PRICE_ROWS} WHERE model = @model ORDER BY ${PRICE_ORDER}`;
export const CATALOG_PRICES = `SELECT * FROM ${PRICE_ROWS} WHERE source = 'catalog'`;
/** Every price row, for copying a ledger, and the insert that copies one (a price the target has is kept). */
export const PRICES_TO_COPY = `SELECT * FROM ${PRICE_ROWS} ORDER BY model, source, ${PRICE_ORDER}`;
export const copyPriceSql = (row: { tier: string | null }) => INSERT_PRICE_IF_ABSENT[row.tier === null ? 'prices' : 'tier_prices'];
export const PRICE_COUNTS = `SELECT COUNT(CASE WHEN source = 'admin' THEN 1 END) AS admin_prices, COUNT(CASE WHEN source <> 'admin' THEN 1 END) AS catalog_prices
  FROM ${PRICE_ROWS}`;
/** Removes a model's catalog prices: both statements, parameter @model. */
export const DELETE_CATALOG_PRICES = [
  "DELETE FROM prices WHERE source = 'catalog' AND model = @model",
  "DELETE FROM tier_prices WHERE source = 'catalog' AND model = @model",
];
/** Every model the store knows: named by a call or by a price. */
export const MODEL_NAMES = 'SELECT name FROM models UNION SELECT model FROM prices UNION SELECT model FROM tier_prices';
