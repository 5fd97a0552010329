import { perThousandFromPerMillion } from '../money.js';
import type { Price } from '../price.js';
import type { PriceTable } from './price-table.js';

/**
 * OpenAI's published rates for the tiers the bundled catalog has no prices
 * for, added beside each model's default prices:
 *  - batch: half of every token rate, for every model (the Batch API's 50% discount);
 *  - flex: half of every token rate, for the models OpenAI offers flex processing on;
 *  - priority: OpenAI's priority table below, dollars per million tokens, valid
 *    from the model's newest default price on.
 * A model the catalog does not price gets none of these.
 */
const FLEX_MODELS = ['gpt-5', 'gpt-5-mini', 'gpt-5-nano', 'gpt-5.1', 'o3', 'o4-mini'];

const PRIORITY_PER_MILLION: Record<string, { input: number; cached: number; output: number }> = {
  'gpt-5': { input: 2.5, cached: 0.25, output: 20 },
  'gpt-5.1': { input: 2.5, cached: 0.25, output: 20 },
  'gpt-5-mini': { input: 0.45, cached: 0.045, output: 3.6 },
  'gpt-4.1': { input: 3.5, cached: 0.875, output: 14 },
  'gpt-4.1-mini': { input: 0.7, cached: 0.175, output: 2.8 },
  'gpt-4.1-nano': { input: 0.2, cached: 0.05, output: 0.8 },
  'gpt-4o': { input: 4.25, cached: 2.125, output: 17 },
  o3: { input: 3.5, cached: 0.875, output: 14 },
  'o4-mini': { input: 2, cached: 0.5, output: 8 },
};

/** Rates charged per token, which the batch and flex discounts halve; per-call, per-minute and per-character fees are not. */
const TOKEN_RATES = [
  'per1KQueryTokens',
  'per1KAnswerTokens',
  'per1KCachedQueryTokens',
  'per1KCacheWriteTokens',
  'per1KAudioQueryTokens',
  'per1KAudioAnswerTokens',
  'per1KImageQueryTokens',
  'per1KImageAnswerTokens',
  'longContextPer1KQueryTokens',
  'longContextPer1KAnswerTokens',
  'longContextPer1KCachedQueryTokens',
  'longContextPer1KCacheWriteTokens',
] as const;

export function withPublishedTierPrices(catalog: PriceTable): PriceTable {
  const out: PriceTable = new Map();
  for (const [model, prices] of catalog) {
    const defaults = prices.filter((p) => p.serviceTier === undefined);
    const tiers: Price[] = defaults.map((p) => halved(p, 'batch'));
    if (FLEX_MODELS.includes(model)) tiers.push(...defaults.map((p) => halved(p, 'flex')));
    const priority = PRIORITY_PER_MILLION[model];
    if (priority && defaults.length > 0) {
      tiers.push({
        validFrom: defaults[defaults.length - 1].validFrom,
        serviceTier: 'priority',
        per1KQueryTokens: perThousandFromPerMillion(priority.input),
        per1KCachedQueryTokens: perThousandFromPerMillion(priority.cached),
        per1KAnswerTokens: perThousandFromPerMillion(priority.output),
      });
    }
    out.set(model, [...prices, ...tiers]);
  }
  return out;
}

function halved(p: Price, serviceTier: 'batch' | 'flex'): Price {
  const price: Price = { ...p, serviceTier };
  for (const rate of TOKEN_RATES) {
    const v = p[rate];
    if (typeof v === 'number') price[rate] = v / 2;
  }
  return price;
}
