import { fineTunedPriceNames } from '../../accounting/fine-tuned-names.js';
import { baseModelName } from '../../accounting/model-names.js';
import type { QueryRecord } from '../types.js';
import { type PriceLookup, priceFallbackSql, unitCostSql } from './pricing-sql.js';

/** Columns of the queries table that come from a QueryRecord; id, priced, cost and price_fallback are the store's. */
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
  'service_tier',
  'batch_id',
  'ft_base_model',
  'cache_write_tokens',
  'audio_prompt_tokens',
  'audio_completion_tokens',
  'image_prompt_tokens',
  'image_completion_tokens',
  'accepted_prediction_tokens',
  'rejected_prediction_tokens',
  'audio_seconds',
  'input_characters',
  'web_search_calls',
  'file_search_calls',
  'code_interpreter_containers',
  'key_id',
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
export function pricedInsertSql(value: (column: RecordColumn) => string, from = '', journalId?: string, lookup: PriceLookup = 'sorted'): string {
  const journal = journalId ? { column: ', journal_id', value: `, ${journalId} AS journal_id` } : { column: '', value: '' };
  // `WHERE true` lets SQLite's parser tell ON CONFLICT from a join constraint after INSERT ... SELECT.
  const skipReplayed = journalId ? ' WHERE true ON CONFLICT (journal_id) WHERE journal_id IS NOT NULL DO NOTHING' : '';
  return `INSERT INTO queries (${RECORD_COLUMNS.join(', ')}, priced, cost, price_fallback${journal.column})
  SELECT ${RECORD_COLUMNS.join(', ')}, CASE WHEN r.v IS NULL THEN 0 ELSE 1 END, COALESCE(r.v, 0), COALESCE(r.f, 0)${journal.column}
  FROM (SELECT ${RECORD_COLUMNS.map((c) => `${value(c)} AS ${c}`).join(', ')}, ${unitCostSql(value, lookup)} AS v, ${priceFallbackSql(value, lookup)} AS f${journal.value}
        ${from ? `FROM ${from}` : ''}) r${skipReplayed}`;
}

/** Named parameters (@ts, @user_name, ...) for one QueryRecord-shaped row of the queries table. */
export const namedParameter = (column: RecordColumn) => `@${column}`;

/** The values of RECORD_COLUMNS for one query; flags are stored as 0/1 in every store. */
export function recordValues(q: QueryRecord): Record<RecordColumn, string | number | null> {
  const fineTuned = fineTunedPriceNames(q.model);
  return {
    ts: q.timestamp,
    user_name: q.user,
    endpoint: q.endpoint,
    requested_model: q.requestedModel,
    model: q.model,
    base_model: fineTuned ? fineTuned.fineTunedRates : baseModelName(q.model),
    status: q.status,
    outcome: q.outcome,
    duration_ms: q.durationMs,
    prompt_tokens: q.promptTokens,
    completion_tokens: q.completionTokens,
    cached_tokens: q.cachedTokens,
    reasoning_tokens: q.reasoningTokens,
    streamed: q.streamed ? 1 : 0,
    estimated: q.estimated ? 1 : 0,
    service_tier: q.serviceTier ?? null,
    batch_id: q.batchId ?? null,
    ft_base_model: fineTuned ? fineTuned.baseRates : '',
    cache_write_tokens: q.cacheWriteTokens ?? 0,
    audio_prompt_tokens: q.audioPromptTokens ?? 0,
    audio_completion_tokens: q.audioCompletionTokens ?? 0,
    image_prompt_tokens: q.imagePromptTokens ?? 0,
    image_completion_tokens: q.imageCompletionTokens ?? 0,
    accepted_prediction_tokens: q.acceptedPredictionTokens ?? 0,
    rejected_prediction_tokens: q.rejectedPredictionTokens ?? 0,
    audio_seconds: q.audioSeconds ?? 0,
    input_characters: q.inputCharacters ?? 0,
    web_search_calls: q.webSearchCalls ?? 0,
    file_search_calls: q.fileSearchCalls ?? 0,
    code_interpreter_containers: q.codeInterpreterContainers ?? 0,
    key_id: q.keyId ?? null,
  };
}
