import { baseModelName } from '../../accounting/model-names.js';
import type { QueryRecord } from '../types.js';
import { unitCostSql } from './pricing-sql.js';

/** Columns of the queries table that come from a QueryRecord; id, priced and cost are the store's. */
export const RECORD_COLUMNS = [
  'ts', 'user_name', 'endpoint', 'requested_model', 'model', 'base_model', 'status', 'outcome', 'duration_ms',
  'prompt_tokens', 'completion_tokens', 'cached_tokens', 'reasoning_tokens', 'streamed', 'estimated',
] as const;

export type RecordColumn = (typeof RECORD_COLUMNS)[number];

/**
 * INSERT of query rows priced inside the statement with the shared cost
 * subquery, so a row is never written at a price other than the one the
 * database holds when the statement runs. `value` gives the SQL expression for
 * each column (a parameter, or a column of `from`); `from` is an optional row
 * source such as `unnest(...) AS u(...)`.
 */
export function pricedInsertSql(value: (column: RecordColumn) => string, from = ''): string {
  const cost = unitCostSql({
    model: value('model'),
    baseModel: value('base_model'),
    timestamp: value('ts'),
    promptTokens: value('prompt_tokens'),
    cachedTokens: value('cached_tokens'),
    completionTokens: value('completion_tokens'),
  });
  return `INSERT INTO queries (${RECORD_COLUMNS.join(', ')}, priced, cost)
  SELECT ${RECORD_COLUMNS.join(', ')}, CASE WHEN r.v IS NULL THEN 0 ELSE 1 END, COALESCE(r.v, 0)
  FROM (SELECT ${RECORD_COLUMNS.map((c) => `${value(c)} AS ${c}`).join(', ')}, ${cost} AS v ${from ? `FROM ${from}` : ''}) r`;
}

/** Named parameters (@ts, @user_name, ...) for one QueryRecord-shaped row of the queries table. */
export const namedParameter = (column: RecordColumn) => `@${column}`;

/** The values of RECORD_COLUMNS for one query; flags are stored as 0/1 in every store. */
export function recordValues(q: QueryRecord): Record<RecordColumn, string | number | null> {
  return {
    ts: q.timestamp,
    user_name: q.user,
    endpoint: q.endpoint,
    requested_model: q.requestedModel,
    model: q.model,
    base_model: baseModelName(q.model),
    status: q.status,
    outcome: q.outcome,
    duration_ms: q.durationMs,
    prompt_tokens: q.promptTokens,
    completion_tokens: q.completionTokens,
    cached_tokens: q.cachedTokens,
    reasoning_tokens: q.reasoningTokens,
    streamed: q.streamed ? 1 : 0,
    estimated: q.estimated ? 1 : 0,
  };
}
