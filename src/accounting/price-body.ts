import { badRequest } from '../http/errors.js';
import { requireZonedTimestamp } from '../http/timestamps.js';
import type { Price } from './price.js';

const PRICE_FIELDS = ['per1KQueryTokens', 'per1KAnswerTokens', 'per1KCachedQueryTokens'] as const;
const BODY_FIELDS = new Set(['validFrom', ...PRICE_FIELDS]);

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
  const price = (key: (typeof PRICE_FIELDS)[number]): number | undefined => {
    const v = b[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw badRequest('invalid_price', `${key} must be a number of at least 0 (dollars per 1,000 tokens)`);
    }
    return v;
  };
  return {
    validFrom,
    per1KQueryTokens: price('per1KQueryTokens') ?? 0,
    per1KAnswerTokens: price('per1KAnswerTokens') ?? 0,
    per1KCachedQueryTokens: price('per1KCachedQueryTokens') ?? null,
  };
}
