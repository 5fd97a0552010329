import { baseModelName } from '../../accounting/model-names.js';
import type { QueryRecord } from '../types.js';
import { unitCostSql } from './pricing-sql.js';

/** Columns of the queries table that come from a QueryRecord; id, priced and cost are the store's. */
export const RECORD_COLUMNS = [
  'ts',
  'user_name',
  'endpoint',
  'requested_model',
  'model',
  'base_model',
  'status',
  'outcome',
  'duration_ms',
  'prompt_tokens',
  'completion_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'streamed',
  'estimated',
] as const;

export type RecordColumn = (typeof RECORD_COLUMNS)[number];

/**
 * INSERT of query rows priced inside the statement with the shared cost
 * subquery, so a row is never written at a price other than the one the
 * database holds when the statement runs. `value` gives the SQL expression for
 * each column (a parameter, or a column of `from`); `from` is an optional row
 * source such as `unnest(...) AS u(...)`. With `journalId` (the SQL for a
 * journal entry's id) a row replayed from the journal before is skipped, not
 * inserted twice: it then returns no row.
 */
export function pricedInsertSql(value: (column: RecordColumn) => string, from = '', journalId?: string): string {
  const cost = unitCostSql({
    model: value('model'),
    baseModel: value('base_model'),
    timestamp: value('ts'),
    promptTokens: value('prompt_tokens'),
    cachedTokens: value('cached_tokens'),
    completionTokens: value('completion_tokens'),
  });
  const journal = journalId ? { column: ', journal_id', value: `, ${journalId} AS journal_id` } : { column: '', value: '' };
  // `WHERE true` lets SQLite's parser tell ON CONFLICT from a join constraint after INSERT ... SELECT.
  const skipReplayed = journalId ? ' WHERE true ON CONFLICT (journal_id) WHERE journal_id IS NOT NULL DO NOTHING' : '';
  return `INSERT INTO queries (${RECORD_COLUMNS.join(', ')}, priced, cost${journal.column})
  SELECT ${RECORD_COLUMNS.join(', ')}, CASE WHEN r.v IS NULL THEN 0 ELSE 1 END, COALESCE(r.v, 0)${journal.column}
  FROM (SELECT ${RECORD_COLUMNS.map((c) => `${value(c)} AS ${c}`).join(', ')}, ${cost} AS v${journal.value} ${from ? `FROM ${from}` : ''}) r${skipReplayed}`;
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
