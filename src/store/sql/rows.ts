import { fineTunedPriceNames } from '../../accounting/fine-tuned-names.js';
import { dollarsFromNanos } from '../../accounting/money.js';
import type { ModelPrices, Price } from '../../accounting/price.js';
import { OPTIONAL_RATES, isServiceTier } from '../../accounting/price-rates.js';
import type { CallOutcome, QueryRow, StoredRateLimits, UsageSummary } from '../types.js';
import { BASE_MODEL_FALLBACK, TIER_FALLBACK } from './pricing-sql.js';

// PostgreSQL returns BIGINT and SUM(...) as strings; every store converts here.
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export function toUsage(row: Record<string, unknown>): UsageSummary {
  return {
    numQueries: num(row.num_queries),
    queryTokens: num(row.query_tokens),
    answerTokens: num(row.answer_tokens),
    cachedQueryTokens: num(row.cached_tokens),
    reasoningTokens: num(row.reasoning_tokens),
    // Summed as whole nano-dollars: exact, and the same whatever order the database added the rows in.
    cost: dollarsFromNanos(row.cost as number | string | null),
    unpricedQueries: num(row.unpriced),
    tierFallbackQueries: num(row.tier_fallback),
    estimatedQueries: num(row.estimated),
  };
}

export function toQueryRow(r: Record<string, unknown>): QueryRow {
  return {
    id: num(r.id),
    timestamp: num(r.ts),
    user: r.user_name as string,
    endpoint: r.endpoint as string,
    requestedModel: (r.requested_model as string | null) ?? null,
    model: r.model as string,
    status: num(r.status),
    outcome: r.outcome as CallOutcome,
    durationMs: num(r.duration_ms),
    promptTokens: num(r.prompt_tokens),
    completionTokens: num(r.completion_tokens),
    cachedTokens: num(r.cached_tokens),
    reasoningTokens: num(r.reasoning_tokens),
    streamed: num(r.streamed) === 1,
    estimated: num(r.estimated) === 1,
    priced: num(r.priced) === 1,
    cost: num(r.cost),
    serviceTier: (r.service_tier as string | null) ?? null,
    batchId: (r.batch_id as string | null) ?? null,
    tierFallback: (num(r.price_fallback) & TIER_FALLBACK) !== 0,
    pricedAtBaseModel: (num(r.price_fallback) & BASE_MODEL_FALLBACK) !== 0 ? (fineTunedPriceNames(r.model as string)?.baseRates ?? null) : null,
    cacheWriteTokens: num(r.cache_write_tokens),
    audioPromptTokens: num(r.audio_prompt_tokens),
    audioCompletionTokens: num(r.audio_completion_tokens),
    imagePromptTokens: num(r.image_prompt_tokens),
    imageCompletionTokens: num(r.image_completion_tokens),
    acceptedPredictionTokens: num(r.accepted_prediction_tokens),
    rejectedPredictionTokens: num(r.rejected_prediction_tokens),
    audioSeconds: num(r.audio_seconds),
    inputCharacters: num(r.input_characters),
    webSearchCalls: num(r.web_search_calls),
    fileSearchCalls: num(r.file_search_calls),
    codeInterpreterContainers: num(r.code_interpreter_containers),
    keyId: (r.key_id as string | null | undefined) ?? null,
  };
}

export function toPrice(r: Record<string, unknown>): Price {
  const price: Price = {
    validFrom: num(r.valid_from),
    per1KQueryTokens: num(r.per1k_query),
    per1KAnswerTokens: num(r.per1k_answer),
    per1KCachedQueryTokens: r.per1k_cached_query === null || r.per1k_cached_query === undefined ? null : num(r.per1k_cached_query),
  };
  if (isServiceTier(r.tier)) price.serviceTier = r.tier;
  for (const rate of OPTIONAL_RATES) {
    const v = r[rate.column];
    if (v !== null && v !== undefined) price[rate.field] = num(v);
  }
  return price;
}

/** A model's price rows (any order of sources, oldest first) as admin and catalog lists. */
export function groupPrices(name: string, rows: Record<string, unknown>[]): ModelPrices {
  return {
    name,
    admin: rows.filter((r) => r.source === 'admin').map(toPrice),
    catalog: rows.filter((r) => r.source === 'catalog').map(toPrice),
  };
}

/** Every model named, each with its prices, from one read of all price rows (ordered by model, valid_from). */
export function modelsWithPrices(names: string[], priceRows: Record<string, unknown>[]): ModelPrices[] {
  const byModel = new Map<string, Record<string, unknown>[]>();
  for (const r of priceRows) {
    const list = byModel.get(r.model as string) ?? [];
    list.push(r);
    byModel.set(r.model as string, list);
  }
  return names.map((n) => groupPrices(n, byModel.get(n) ?? []));
}

/** Rows of model_rate_limits (model, kind, maximum, remaining, reset) as each model's latest windows. */
export function toModelRateLimits(rows: Record<string, unknown>[]): Map<string, StoredRateLimits> {
  const out = new Map<string, StoredRateLimits>();
  for (const r of rows) {
    if (r.kind !== 'requests' && r.kind !== 'tokens') continue;
    const model = String(r.model);
    const limits = out.get(model) ?? {};
    limits[r.kind] = { maximum: nullableNum(r.maximum), remaining: nullableNum(r.remaining), reset: nullableNum(r.reset) };
    out.set(model, limits);
  }
  return out;
}

const nullableNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
