import { nanosSql } from '../../accounting/money.js';
import type { QueryFilter } from '../types.js';
import { SUCCESS_CONDITION, TIER_FALLBACK_COUNT } from './pricing-sql.js';

/** The filter fields that name one value, and their column: the same in the queries table and in the rollup (but for key_id, which the rollup has not). */
const COLUMN_OF = { user: 'user_name', key: 'key_id', endpoint: 'endpoint', model: 'model' } as const;

/** `column = @field` for each of `fields` the filter sets, adding its value to `params`. */
export function equalityConditions(filter: QueryFilter, fields: (keyof typeof COLUMN_OF)[], params: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const field of fields) {
    if (filter[field] === undefined) continue;
    out.push(`${COLUMN_OF[field]} = @${field}`);
    params[field] = filter[field];
  }
  return out;
}

/** The status filter as a condition, given how a successful row is told apart. */
export function statusConditions(filter: QueryFilter, success: { ok: string; error: string }): string[] {
  if (filter.status === 'ok') return [success.ok];
  if (filter.status === 'error') return [success.error];
  return [];
}

/** A WHERE clause with named parameters (@name) for a query filter. */
export function filterWhere(filter: QueryFilter): { where: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = {};
  // The key first: its (key_id, ts) index serves a key's calls.
  const parts = equalityConditions(filter, ['key', 'user'], params);
  if (filter.after !== undefined) {
    parts.push('ts > @after');
    params.after = filter.after;
  }
  if (filter.before !== undefined) {
    parts.push('ts < @before');
    params.before = filter.before;
  }
  parts.push(...equalityConditions(filter, ['endpoint', 'model'], params));
  parts.push(...statusConditions(filter, { ok: SUCCESS_CONDITION, error: `NOT (${SUCCESS_CONDITION})` }));
  return { where: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

export const USAGE_COLUMNS = `COUNT(*) AS num_queries,
  COALESCE(SUM(prompt_tokens), 0) AS query_tokens,
  COALESCE(SUM(completion_tokens), 0) AS answer_tokens,
  COALESCE(SUM(cached_tokens), 0) AS cached_tokens,
  COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
  COALESCE(SUM(${nanosSql('cost')}), 0) AS cost,
  COALESCE(SUM(CASE WHEN priced = 0 THEN 1 ELSE 0 END), 0) AS unpriced,
  COALESCE(SUM(CASE WHEN estimated = 1 THEN 1 ELSE 0 END), 0) AS estimated,
  COALESCE(SUM(${TIER_FALLBACK_COUNT}), 0) AS tier_fallback`;

export const QUERY_COLUMNS = `id, ts, user_name, endpoint, requested_model, model, status, outcome, duration_ms,
  prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost,
  service_tier, batch_id, price_fallback, cache_write_tokens, audio_prompt_tokens, audio_completion_tokens, image_prompt_tokens,
  image_completion_tokens, accepted_prediction_tokens, rejected_prediction_tokens, audio_seconds, input_characters, web_search_calls,
  file_search_calls, code_interpreter_containers, key_id`;
