import { OPTIONAL_RATES } from '../../accounting/price-rates.js';

/**
 * The schema step that lets a query carry everything OpenAI bills by (issue
 * 14), written once for both stores. Every column is added with a default,
 * so an older binary sharing the database keeps inserting rows that mean
 * what they meant (default tier, text tokens only); non-default tier prices
 * live in a table of their own, so such a binary still prices default-tier
 * calls by the prices it knows.
 */
type ColumnType = 'text' | 'count' | 'amount' | 'flags';

const TYPES: Record<ColumnType, { sqlite: string; postgres: string }> = {
  text: { sqlite: 'TEXT', postgres: 'TEXT' },
  count: { sqlite: 'INTEGER', postgres: 'BIGINT' },
  amount: { sqlite: 'REAL', postgres: 'DOUBLE PRECISION' },
  flags: { sqlite: 'INTEGER', postgres: 'SMALLINT' },
};

/** Usage facts of a query besides the original four token counts. */
const BILLED_USAGE_COLUMNS = [
  { name: 'cache_write_tokens', type: 'count' },
  { name: 'audio_prompt_tokens', type: 'count' },
  { name: 'audio_completion_tokens', type: 'count' },
  { name: 'image_prompt_tokens', type: 'count' },
  { name: 'image_completion_tokens', type: 'count' },
  { name: 'accepted_prediction_tokens', type: 'count' },
  { name: 'rejected_prediction_tokens', type: 'count' },
  { name: 'audio_seconds', type: 'amount' },
  { name: 'input_characters', type: 'count' },
  { name: 'web_search_calls', type: 'count' },
  { name: 'file_search_calls', type: 'count' },
  { name: 'code_interpreter_containers', type: 'count' },
] as const;

const PRICE_RATE_COLUMNS = OPTIONAL_RATES.map((r) => ({ name: r.column, type: r.column === 'long_context_above' ? 'count' : 'amount' }) as const);

/** The DDL of the step, for `store`; PostgreSQL runs it as one string, SQLite statement by statement. */
export function billingSchemaSql(store: 'sqlite' | 'postgres'): string[] {
  const t = (type: ColumnType) => TYPES[type][store];
  const priceColumns = PRICE_RATE_COLUMNS.map((c) => `${c.name} ${t(c.type)}`).join(',\n       ');
  return [
    // The tier OpenAI's answer named (NULL: it named none); for a fine-tuned model, the base model it falls back to.
    'ALTER TABLE queries ADD COLUMN service_tier TEXT',
    // Set on the rows of a Batch API job's results (proxy/batch-poller.ts).
    'ALTER TABLE queries ADD COLUMN batch_id TEXT',
    "ALTER TABLE queries ADD COLUMN ft_base_model TEXT NOT NULL DEFAULT ''",
    ...BILLED_USAGE_COLUMNS.map((c) => `ALTER TABLE queries ADD COLUMN ${c.name} ${t(c.type)} NOT NULL DEFAULT 0`),
    // Set with cost and priced: bit 1, a tier priced at default rates; bit 2, a fine-tuned model at its base's.
    `ALTER TABLE queries ADD COLUMN price_fallback ${t('flags')} NOT NULL DEFAULT 0`,
    "CREATE INDEX queries_ft_base_model_ts ON queries (ft_base_model, ts) WHERE ft_base_model <> ''",
    ...PRICE_RATE_COLUMNS.map((c) => `ALTER TABLE prices ADD COLUMN ${c.name} ${t(c.type)}`),
    `CREATE TABLE tier_prices (
       model TEXT NOT NULL,
       source TEXT NOT NULL,
       tier TEXT NOT NULL,
       valid_from ${t('count')} NOT NULL,
       per1k_query ${t('amount')} NOT NULL,
       per1k_answer ${t('amount')} NOT NULL,
       per1k_cached_query ${t('amount')},
       ${priceColumns},
       PRIMARY KEY (model, source, tier, valid_from)
     )`,
    // Batch API jobs created through the proxy, followed until their results are counted (proxy/batch-poller.ts).
    `CREATE TABLE batches (
       id TEXT PRIMARY KEY,
       user_name TEXT NOT NULL,
       key_id TEXT,
       endpoint TEXT NOT NULL,
       created_at ${t('count')} NOT NULL,
       next_poll_at ${t('count')} NOT NULL,
       attempts INTEGER NOT NULL DEFAULT 0,
       lease_until ${t('count')} NOT NULL DEFAULT 0,
       final_status TEXT,
       finished_at ${t('count')}
     )`,
    'CREATE INDEX batches_due ON batches (next_poll_at) WHERE final_status IS NULL',
  ];
}

/**
 * Rows of fine-tuned models recorded before this step kept their whole name
 * as base_model; they get the names fine-tuned pricing looks up. The SQL
 * mirrors fineTunedPriceNames (accounting/fine-tuned-names.ts) for
 * PostgreSQL; SQLite calls that function itself.
 */
export const POSTGRES_FINE_TUNED_NAMES = `UPDATE queries
  SET ft_base_model = u.base, base_model = 'ft:' || u.base
  FROM (SELECT id, regexp_replace(split_part(substr(model, 4), ':', 1), '-(\\d{4}-\\d{2}-\\d{2}|\\d{4})$', '') AS base
        FROM queries WHERE model LIKE 'ft:%') u
  WHERE queries.id = u.id AND u.base <> ''`;
