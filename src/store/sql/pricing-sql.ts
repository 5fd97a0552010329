import { dollarsRoundedToNanosSql } from '../../accounting/money.js';
import { OPTIONAL_RATES } from '../../accounting/price-rates.js';

/**
 * SQL shared by every store for pricing a query where it is stored. Written
 * once so that inserting a row and re-pricing rows can never disagree.
 *
 * Which price: the candidates are the prices of the query's service tier
 * (tier_prices), then the default prices (prices), each valid strictly before
 * the query's timestamp; within each, admin before catalog, then the model's
 * own price, its undated base name's, and for a fine-tuned model its base
 * model's, newest first. A query priced by a default price although
 * it ran at another tier, or by a fine-tuned model's base model, says so in
 * its price_fallback bits.
 *
 * What it costs: every token kind at its own rate, a rate a price leaves out
 * falling back to the text rate (see accounting/price-rates.ts); the whole
 * call at the long-context rates when its prompt is above the price's
 * threshold; per-call tool fees, per-minute audio and per-character speech.
 */

/** The queries-table columns the cost depends on. */
const COST_COLUMNS = [
  'model',
  'base_model',
  'ft_base_model',
  'service_tier',
  'ts',
  'prompt_tokens',
  'cached_tokens',
  'cache_write_tokens',
  'audio_prompt_tokens',
  'image_prompt_tokens',
  'completion_tokens',
  'audio_completion_tokens',
  'image_completion_tokens',
  'audio_seconds',
  'input_characters',
  'web_search_calls',
  'file_search_calls',
  'code_interpreter_containers',
] as const;
export type CostColumn = (typeof COST_COLUMNS)[number];

/** The SQL expression for each cost input: a parameter, or a column of a stored row. */
export type CostInputs = (column: CostColumn) => string;

/** price_fallback bits. */
export const TIER_FALLBACK = 1;
export const BASE_MODEL_FALLBACK = 2;
/** 1 for a row priced at default rates though it ran at another tier, else 0: for sums. */
export const TIER_FALLBACK_COUNT = 'CASE WHEN price_fallback IN (1, 3) THEN 1 ELSE 0 END';

/** Price columns both price tables share, in one order, for the UNION of candidates. */
const PRICE_COLUMNS = ['model', 'source', 'valid_from', 'per1k_query', 'per1k_answer', 'per1k_cached_query', ...OPTIONAL_RATES.map((r) => r.column)];

/**
 * How a store finds the best price; both choose the same row.
 *  - 'sorted': every candidate in one UNION, sorted by preference (any SQL database).
 *  - 'indexed' (SQLite): each candidate class looked up in preference order by the price table's primary key,
 *    the first one found wins. No sort, which in SQLite cost more than the rest of the insert's pricing.
 */
export type PriceLookup = 'sorted' | 'indexed';

/** The best price for a query, as a derived table `chosen` with tier_rank (0: the query's tier, 1: default prices). */
function chosenPrice(q: CostInputs, lookup: PriceLookup): string {
  return lookup === 'indexed' ? indexedChosenPrice(q) : sortedChosenPrice(q);
}

function sortedChosenPrice(q: CostInputs): string {
  const candidates = (table: string, rank: number, tierCondition: string) =>
    `SELECT ${PRICE_COLUMNS.map((c) => `price_row.${c}`).join(', ')}, ${rank} AS tier_rank FROM ${table} price_row
     WHERE ${tierCondition}price_row.model IN (${q('model')}, ${q('base_model')}, ${q('ft_base_model')}) AND price_row.valid_from < ${q('ts')}`;
  return `(SELECT * FROM (${candidates('tier_prices', 0, `price_row.tier = ${q('service_tier')} AND `)}
            UNION ALL ${candidates('prices', 1, '')}) candidate
           ORDER BY candidate.tier_rank, CASE candidate.source WHEN 'admin' THEN 0 ELSE 1 END,
                    CASE WHEN candidate.model = ${q('model')} THEN 0 WHEN candidate.model = ${q('base_model')} THEN 1 ELSE 2 END,
                    candidate.valid_from DESC
           LIMIT 1) chosen`;
}

/**
 * The sorted order as a sequence of lookups: per table, admin then catalog (the only sources a price is stored
 * with, see PriceSource), each for the model, its base name, then its fine-tuned base; the newest before ts
 * of each is one descent of the primary key (model, source[, tier], valid_from). COALESCE stops at the first
 * found, so a call priced by its admin price reads one or two index entries.
 */
function indexedChosenPrice(q: CostInputs): string {
  const newest = (table: string, tierCondition: string) =>
    `COALESCE(${['admin', 'catalog']
      .flatMap((source) =>
        (['model', 'base_model', 'ft_base_model'] as const).map(
          (name) =>
            `(SELECT rowid FROM ${table} WHERE model = ${q(name)} AND source = '${source}'${tierCondition} AND valid_from < ${q('ts')} ORDER BY valid_from DESC LIMIT 1)`,
        ),
      )
      .join(', ')})`;
  const tierRow = newest('tier_prices', ` AND tier = ${q('service_tier')}`);
  return `(SELECT ${PRICE_COLUMNS.join(', ')}, 0 AS tier_rank FROM tier_prices WHERE rowid = ${tierRow}
           UNION ALL SELECT ${PRICE_COLUMNS.join(', ')}, 1 AS tier_rank FROM prices WHERE rowid = ${newest('prices', '')} AND ${tierRow} IS NULL) chosen`;
}

/** The rates a query is charged at, long-context ones where its prompt is above the price's threshold. */
function effectiveRates(q: CostInputs, lookup: PriceLookup): string {
  const long = `chosen.long_context_above IS NOT NULL AND ${q('prompt_tokens')} > chosen.long_context_above`;
  const inLong = (longRate: string, rate: string) => `CASE WHEN ${long} THEN ${longRate} ELSE ${rate} END`;
  const query = inLong('COALESCE(chosen.long_per1k_query, chosen.per1k_query)', 'chosen.per1k_query');
  return `SELECT ${query} AS query,
      ${inLong('COALESCE(chosen.long_per1k_answer, chosen.per1k_answer)', 'chosen.per1k_answer')} AS answer,
      ${inLong(`COALESCE(chosen.long_per1k_cached_query, chosen.per1k_cached_query, ${query})`, 'COALESCE(chosen.per1k_cached_query, chosen.per1k_query)')} AS cached,
      ${inLong(`COALESCE(chosen.long_per1k_cache_write, chosen.per1k_cache_write, ${query})`, 'COALESCE(chosen.per1k_cache_write, chosen.per1k_query)')} AS cache_write,
      chosen.per1k_audio_query, chosen.per1k_audio_answer, chosen.per1k_image_query, chosen.per1k_image_answer, chosen.per_minute_audio,
      chosen.per1k_characters, chosen.per1k_web_search_calls, chosen.per1k_file_search_calls, chosen.per1k_code_interpreter
    FROM ${chosenPrice(q, lookup)}`;
}

/**
 * The cost of one query in dollars, rounded to whole nano-dollars
 * (accounting/money.ts), or NULL when no price covers it. Token
 * details are parts of prompt_tokens and completion_tokens (the proxy clamps
 * them so), so the text tokens are what is left.
 */
export function unitCostSql(q: CostInputs, lookup: PriceLookup = 'sorted'): string {
  const textPrompt = `(${q('prompt_tokens')} - ${q('cached_tokens')} - ${q('cache_write_tokens')} - ${q('audio_prompt_tokens')} - ${q('image_prompt_tokens')})`;
  const textAnswer = `(${q('completion_tokens')} - ${q('audio_completion_tokens')} - ${q('image_completion_tokens')})`;
  const dollars = `(${textPrompt} * rates.query
                  + ${q('cached_tokens')} * rates.cached
                  + ${q('cache_write_tokens')} * rates.cache_write
                  + ${q('audio_prompt_tokens')} * COALESCE(rates.per1k_audio_query, rates.query)
                  + ${q('image_prompt_tokens')} * COALESCE(rates.per1k_image_query, rates.query)
                  + ${textAnswer} * rates.answer
                  + ${q('audio_completion_tokens')} * COALESCE(rates.per1k_audio_answer, rates.answer)
                  + ${q('image_completion_tokens')} * COALESCE(rates.per1k_image_answer, rates.answer)
                  + ${q('input_characters')} * COALESCE(rates.per1k_characters, 0)
                  + ${q('web_search_calls')} * COALESCE(rates.per1k_web_search_calls, 0)
                  + ${q('file_search_calls')} * COALESCE(rates.per1k_file_search_calls, 0)
                  + ${q('code_interpreter_containers')} * COALESCE(rates.per1k_code_interpreter, 0)) / 1000.0
                 + ${q('audio_seconds')} * COALESCE(rates.per_minute_audio, 0) / 60.0`;
  return `(SELECT ${dollarsRoundedToNanosSql(dollars)}
           FROM (${effectiveRates(q, lookup)}) rates)`;
}

/**
 * The price_fallback bits of the price unitCostSql chose; NULL when none. Hot
 * path: a default-tier call of a model that is not fine-tuned (nearly every
 * call) can fall back to nothing, so it skips the second price lookup.
 */
export function priceFallbackSql(q: CostInputs, lookup: PriceLookup = 'sorted'): string {
  const otherTier = `${q('service_tier')} IS NOT NULL AND ${q('service_tier')} <> 'default'`;
  return `CASE WHEN ${otherTier} OR ${q('ft_base_model')} <> '' THEN
           (SELECT CASE WHEN chosen.tier_rank = 1 AND ${otherTier} THEN ${TIER_FALLBACK} ELSE 0 END
                 + CASE WHEN chosen.model = ${q('ft_base_model')} AND chosen.model <> ${q('base_model')} THEN ${BASE_MODEL_FALLBACK} ELSE 0 END
            FROM ${chosenPrice(q, lookup)})
         ELSE 0 END`;
}

/** Columns of the queries table as cost inputs, for re-pricing stored rows. */
const STORED_ROW: CostInputs = (column) => `queries.${column}`;

/** `SET (cost, priced, price_fallback) = ...` for an UPDATE of stored rows, priced as the store's insert prices them. */
export const repriceAssignment = (
  lookup: PriceLookup,
): string => `(cost, priced, price_fallback) = (SELECT COALESCE(repriced.v, 0), CASE WHEN repriced.v IS NULL THEN 0 ELSE 1 END,
    COALESCE(repriced.f, 0)
  FROM (SELECT ${unitCostSql(STORED_ROW, lookup)} AS v, ${priceFallbackSql(STORED_ROW, lookup)} AS f) repriced)`;

/** The assignment of stores whose insert uses the 'sorted' lookup (PostgreSQL). */
export const REPRICE_ASSIGNMENT = repriceAssignment('sorted');

/**
 * Rows whose cost a price of @model can change: those of the model itself, of
 * its snapshots and of the fine-tuned models built on it. Re-pricing narrows
 * them to the price's interval, (validFrom, next validFrom of the same model,
 * source and tier].
 */
export const MODEL_ROWS = '(queries.model = @model OR queries.base_model = @model OR queries.ft_base_model = @model)';

export const SUCCESS_CONDITION = 'status >= 200 AND status < 400';
