import type { OptionalRates, ServiceTier } from './price-rates.js';

/**
 * Prices per 1,000 tokens, in dollars, valid from an instant until the next price of the same model, source and
 * tier. The optional rates (accounting/price-rates.ts) price audio, image, cache-write tokens, long prompts, tool
 * calls, audio minutes and speech characters; left out, they fall back as that table says.
 */
export interface Price extends OptionalRates {
  validFrom: number;
  /** The service tier this price is for; undefined for the default tier. */
  serviceTier?: ServiceTier;
  per1KQueryTokens: number;
  per1KAnswerTokens: number;
  per1KCachedQueryTokens: number | null;
}

export interface ModelPrices {
  name: string;
  admin: Price[];
  catalog: Price[];
}

/** Admin prices win over the catalog's (the bundled catalog or prices.file). */
export type PriceSource = 'admin' | 'catalog';
