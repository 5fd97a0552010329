/**
 * SQL shared by every store for pricing a query where it is stored. A query is
 * priced by the first price valid strictly before its timestamp in this order:
 * admin price of its model, admin price of its undated base name, then the
 * catalog's, same order. Written once so that inserting a row and
 * re-pricing rows can never disagree.
 */
export interface CostInputs {
  model: string;
  baseModel: string;
  timestamp: string;
  promptTokens: string;
  cachedTokens: string;
  completionTokens: string;
}

export function unitCostSql(q: CostInputs): string {
  return `(SELECT ((${q.promptTokens} - ${q.cachedTokens}) * p.per1k_query
                  + ${q.cachedTokens} * COALESCE(p.per1k_cached_query, p.per1k_query)
                  + ${q.completionTokens} * p.per1k_answer) / 1000.0
           FROM prices p
           WHERE p.model IN (${q.model}, ${q.baseModel}) AND p.valid_from < ${q.timestamp}
           ORDER BY CASE p.source WHEN 'admin' THEN 0 ELSE 1 END,
                    CASE WHEN p.model = ${q.model} THEN 0 ELSE 1 END,
                    p.valid_from DESC
           LIMIT 1)`;
}

/** Columns of the queries table as cost inputs, for re-pricing stored rows. */
const STORED_ROW: CostInputs = {
  model: 'queries.model',
  baseModel: 'queries.base_model',
  timestamp: 'queries.ts',
  promptTokens: 'queries.prompt_tokens',
  cachedTokens: 'queries.cached_tokens',
  completionTokens: 'queries.completion_tokens',
};

/** `SET (cost, priced) = ...` for an UPDATE of stored rows. */
export const REPRICE_ASSIGNMENT = `(cost, priced) = (SELECT COALESCE(c.v, 0), CASE WHEN c.v IS NULL THEN 0 ELSE 1 END
  FROM (SELECT ${unitCostSql(STORED_ROW)} AS v) c)`;

export const SUCCESS_CONDITION = 'status >= 200 AND status < 400';
