import type pg from 'pg';
import { nanosSql } from '../../accounting/money.js';
import { MODEL_ROWS, SUCCESS_CONDITION, TIER_FALLBACK_COUNT } from '../sql/pricing-sql.js';
import {
  DAY_MS,
  MONTH_MS,
  ROLLUP_KEY,
  SUM_COLUMNS,
  bucketOf,
  recomputeFromQueriesSql,
  recomputeMonthsFromDaysSql,
  rebuildRollupSteps,
  type RollupSum,
} from '../sql/usage-rollup-sql.js';
import { runNamed } from './statements.js';

/**
 * The usage rollup on PostgreSQL: the same table and the same shared SQL as
 * SQLite's (sql/usage-rollup-sql.ts), kept in the transaction of the rows it
 * counts. Two transactions adding to the same rollup rows lock them in key
 * order (the rows to add are sorted by key before the upsert), so instances
 * inserting at once wait for each other but cannot deadlock. A re-price
 * recomputes the rows it touched while it holds the model's pricing lock
 * exclusively, so no insert of that model adds to them meanwhile.
 */
export const CREATE_ROLLUP_TABLE = `CREATE TABLE usage_rollup (
  per_user SMALLINT NOT NULL,
  user_name TEXT NOT NULL,
  span BIGINT NOT NULL,
  bucket BIGINT NOT NULL,
  model TEXT NOT NULL,
  base_model TEXT NOT NULL,
  ft_base_model TEXT NOT NULL DEFAULT '',
  endpoint TEXT NOT NULL,
  success SMALLINT NOT NULL,
  num_queries BIGINT NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  cached_tokens BIGINT NOT NULL,
  reasoning_tokens BIGINT NOT NULL,
  cost DOUBLE PRECISION NOT NULL,
  unpriced BIGINT NOT NULL,
  estimated BIGINT NOT NULL DEFAULT 0,
  cost_nanos BIGINT NOT NULL DEFAULT 0,
  tier_fallback BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (per_user, user_name, span, bucket, model, endpoint, success)
)`;

/** Builds the rollup of every row already in the table (the migration that adds it, bulk loads). */
export async function rebuildRollup(client: pg.ClientBase): Promise<void> {
  for (const step of rebuildRollupSteps()) await runNamed(client, step.sql, step.params);
}

const bucket = (span: number) => `(r.ts - (((r.ts % ${span}) + ${span}) % ${span}))`;

/** What one row of the queries table adds to each sum of its rollup rows. */
const ROW_ADDS: Record<RollupSum, string> = {
  num_queries: '1',
  prompt_tokens: 'r.prompt_tokens',
  completion_tokens: 'r.completion_tokens',
  cached_tokens: 'r.cached_tokens',
  reasoning_tokens: 'r.reasoning_tokens',
  cost: 'r.cost',
  unpriced: 'CASE WHEN r.priced = 0 THEN 1 ELSE 0 END',
  estimated: 'CASE WHEN r.estimated = 1 THEN 1 ELSE 0 END',
  cost_nanos: nanosSql('r.cost'),
  tier_fallback: TIER_FALLBACK_COUNT.replace(/price_fallback/g, 'r.price_fallback'),
};

/**
 * Adds the rows of `source` (a relation with the queries table's columns,
 * such as the RETURNING of an insert) to the all-users day and 30-day rows and
 * to each user's 30-day rows, summed per rollup row and in key order. The
 * columns are the shared rollup's (sql/usage-rollup-sql.ts), so the two
 * stores' rollups cannot drift apart.
 */
export function addToRollupSql(source: string): string {
  const level = (perUser: boolean, span: number) => `SELECT ${perUser ? 1 : 0} AS per_user, ${perUser ? 'r.user_name' : "''"} AS user_name,
      ${span}::bigint AS span, ${bucket(span)} AS bucket, r.model, r.base_model, r.ft_base_model, r.endpoint,
      CASE WHEN ${SUCCESS_CONDITION.replace(/status/g, 'r.status')} THEN 1 ELSE 0 END AS success,
      ${SUM_COLUMNS.map((c) => `${ROW_ADDS[c]} AS ${c}`).join(', ')}
    FROM ${source} r`;
  const key = ROLLUP_KEY.join(', ');
  return `INSERT INTO usage_rollup (${key}, base_model, ft_base_model, ${SUM_COLUMNS.join(', ')})
    SELECT ${key}, MAX(base_model), MAX(ft_base_model), ${SUM_COLUMNS.map((c) => `SUM(${c})`).join(', ')}
    FROM (${level(false, DAY_MS)} UNION ALL ${level(false, MONTH_MS)} UNION ALL ${level(true, MONTH_MS)}) x
    GROUP BY ${key} ORDER BY ${key}
    ON CONFLICT (${key}) DO UPDATE SET ${SUM_COLUMNS.map((c) => `${c} = usage_rollup.${c} + excluded.${c}`).join(', ')}`;
}

const RECOMPUTE = {
  days: recomputeFromQueriesSql(false, 'model'),
  months: recomputeMonthsFromDaysSql('model'),
  userMonths: recomputeFromQueriesSql(true, 'model'),
};

/**
 * Recomputes the rollup rows of `model` (and its snapshots) for the 30-day
 * buckets that hold [fromTs, toTs] from its rows, inside the caller's
 * transaction, which holds the model's pricing lock exclusively.
 */
export async function recomputeModelRollup(client: pg.ClientBase, model: string, fromTs: number, toTs: number): Promise<void> {
  const lo = bucketOf(fromTs, MONTH_MS);
  const hi = bucketOf(toTs, MONTH_MS) + MONTH_MS;
  const run = async ({ remove, insert }: { remove: string; insert: string }, params: Record<string, unknown>) => {
    await runNamed(client, remove, params);
    await runNamed(client, insert, params);
  };
  await run(RECOMPUTE.days, { span: DAY_MS, model, lo, hi });
  await run(RECOMPUTE.months, { span: MONTH_MS, day: DAY_MS, model, lo, hi });
  await run(RECOMPUTE.userMonths, { span: MONTH_MS, model, lo, hi });
}

/** Recomputes every rollup row of `model` (a catalog change re-prices the whole model). */
export async function recomputeWholeModelRollup(client: pg.ClientBase, model: string): Promise<void> {
  const { rows } = await runNamed<{ lo: number | null; hi: number | null }>(
    client,
    `SELECT MIN(ts) AS lo, MAX(ts) AS hi FROM queries WHERE ${MODEL_ROWS.replace(/queries\./g, '')}`,
    { model },
  );
  if (rows[0].lo !== null && rows[0].hi !== null) await recomputeModelRollup(client, model, rows[0].lo, rows[0].hi);
}
