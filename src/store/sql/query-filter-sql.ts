import type { QueryFilter } from '../types.js';
import { SUCCESS_CONDITION } from './pricing-sql.js';

/** A WHERE clause with named parameters (@name) for a query filter. */
export function filterWhere(filter: QueryFilter): { where: string; params: Record<string, unknown> } {
  const parts: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.user !== undefined) {
    parts.push('user_name = @user');
    params.user = filter.user;
  }
  if (filter.after !== undefined) {
    parts.push('ts > @after');
    params.after = filter.after;
  }
  if (filter.before !== undefined) {
    parts.push('ts < @before');
    params.before = filter.before;
  }
  if (filter.endpoint !== undefined) {
    parts.push('endpoint = @endpoint');
    params.endpoint = filter.endpoint;
  }
  if (filter.model !== undefined) {
    parts.push('model = @model');
    params.model = filter.model;
  }
  if (filter.status === 'ok') parts.push(SUCCESS_CONDITION);
  else if (filter.status === 'error') parts.push(`NOT (${SUCCESS_CONDITION})`);
  return { where: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

export const USAGE_COLUMNS = `COUNT(*) AS num_queries,
  COALESCE(SUM(prompt_tokens), 0) AS query_tokens,
  COALESCE(SUM(completion_tokens), 0) AS answer_tokens,
  COALESCE(SUM(cached_tokens), 0) AS cached_tokens,
  COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
  COALESCE(SUM(cost), 0) AS cost,
  COALESCE(SUM(CASE WHEN priced = 0 THEN 1 ELSE 0 END), 0) AS unpriced`;

export const QUERY_COLUMNS = `id, ts, user_name, endpoint, requested_model, model, status, outcome, duration_ms,
  prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost`;
