import { badRequest } from '../http/errors.js';
import { requireZonedTimestamp } from '../http/timestamps.js';
import type { Price } from './price.js';
import { OPTIONAL_RATES, SERVICE_TIERS, isServiceTier } from './price-rates.js';

const TEXT_RATES = ['per1KQueryTokens', 'per1KAnswerTokens', 'per1KCachedQueryTokens'] as const;
const BODY_FIELDS = new Set(['validFrom', 'serviceTier', ...TEXT_RATES, ...OPTIONAL_RATES.map((r) => r.field)]);
/**
 * Dollars per 1,000 tokens (or calls, or characters, or per minute); the dearest model sold today costs well under one.
 * The bound keeps every cost (at most 2^53 tokens times this) and every sum of costs a finite number.
 */
const MAX_PRICE_PER_1K = 1000;
/** A prompt-size threshold, in tokens: no call comes near a billion. */
const MAX_THRESHOLD_TOKENS = 1_000_000_000;

/**
 * One price as the admin API (`POST /model/{name}`) and `prices.file` spell it.
 * Throws a 400 naming the field; the price file reports the same message
 * against its entry.
 */
export function parsePriceBody(body: unknown): Price {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest(
      'invalid_body',
      'the body must be a JSON object such as {"validFrom":"2023-11-06T00:00:00Z","per1KQueryTokens":0.01,"per1KAnswerTokens":0.03}',
    );
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!BODY_FIELDS.has(key)) throw badRequest('unknown_field', `unknown field '${key}'; known: ${[...BODY_FIELDS].join(', ')}`);
  }
  const validFrom = requireZonedTimestamp('validFrom', b.validFrom);
  const amount = (key: string, unit: string): number | undefined => {
    const v = b[key];
    if (v === undefined || v === null) return undefined;
    const max = key === 'longContextAbovePromptTokens' ? MAX_THRESHOLD_TOKENS : MAX_PRICE_PER_1K;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
      throw badRequest('invalid_price', `${key} must be a number from 0 to ${max} (${unit})`);
    }
    return v;
  };
  const price: Price = {
    validFrom,
    per1KQueryTokens: amount('per1KQueryTokens', 'dollars per 1,000 tokens') ?? 0,
    per1KAnswerTokens: amount('per1KAnswerTokens', 'dollars per 1,000 tokens') ?? 0,
    per1KCachedQueryTokens: amount('per1KCachedQueryTokens', 'dollars per 1,000 tokens') ?? null,
  };
  const tier = b.serviceTier;
  if (tier !== undefined && tier !== null && tier !== 'default') {
    if (!isServiceTier(tier)) throw badRequest('invalid_service_tier', `serviceTier must be one of default, ${SERVICE_TIERS.join(', ')}`);
    price.serviceTier = tier;
  }
  for (const rate of OPTIONAL_RATES) {
    const v = amount(rate.field, rate.unit);
    if (v !== undefined) price[rate.field] = v;
  }
  if (price.longContextAbovePromptTokens !== undefined && !Number.isInteger(price.longContextAbovePromptTokens)) {
    throw badRequest('invalid_price', 'longContextAbovePromptTokens must be a whole number of prompt tokens');
  }
  return price;
}
