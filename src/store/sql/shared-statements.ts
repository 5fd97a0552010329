import type { Price, PriceSource } from '../../accounting/price.js';

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

export const INSERT_MODEL = 'INSERT INTO models (name, first_seen) VALUES (@name, @first_seen) ON CONFLICT (name) DO NOTHING';

const PRICE_COLUMNS = 'model, source, valid_from, per1k_query, per1k_answer, per1k_cached_query';
const PRICE_VALUES = 'VALUES (@model, @source, @valid_from, @per1k_query, @per1k_answer, @per1k_cached_query)';

/** An admin price posted again for the same instant replaces the earlier one. */
export const UPSERT_PRICE = `INSERT INTO prices (${PRICE_COLUMNS}) ${PRICE_VALUES}
  ON CONFLICT (model, source, valid_from) DO UPDATE SET per1k_query = excluded.per1k_query,
    per1k_answer = excluded.per1k_answer, per1k_cached_query = excluded.per1k_cached_query`;

/** Copying a ledger: a price already in the target is kept. */
export const INSERT_PRICE_IF_ABSENT = `INSERT INTO prices (${PRICE_COLUMNS}) ${PRICE_VALUES}
  ON CONFLICT (model, source, valid_from) DO NOTHING`;

/** Many prices at once, from a `SELECT` producing the columns in order. */
export const insertPricesFrom = (rowsSql: string) => `INSERT INTO prices (${PRICE_COLUMNS}) ${rowsSql}`;

export const INSERT_PRICE = `INSERT INTO prices (${PRICE_COLUMNS}) ${PRICE_VALUES}`;

export const priceParams = (model: string, source: PriceSource, p: Price) => ({
  model,
  source,
  valid_from: p.validFrom,
  per1k_query: p.per1KQueryTokens,
  per1k_answer: p.per1KAnswerTokens,
  per1k_cached_query: p.per1KCachedQueryTokens,
});

/** The first price of the same model and source after `@valid_from`: where a new price's interval ends. */
export const NEXT_PRICE_FROM = 'SELECT MIN(valid_from) AS v FROM prices WHERE model = @model AND source = @source AND valid_from > @valid_from';

export const ALL_PRICES = 'SELECT * FROM prices ORDER BY model, valid_from';
export const PRICES_OF_MODEL = 'SELECT * FROM prices WHERE model = @model ORDER BY valid_from';
