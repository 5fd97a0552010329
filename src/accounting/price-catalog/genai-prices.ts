import { findProvider, type MatchLogic, type ModelInfo, type ModelPrice } from '@pydantic/genai-prices';
import { fineTunedRatesName } from '../fine-tuned-names.js';
import { perThousandFromPerMillion } from '../money.js';
import { baseModelName } from '../model-names.js';
import type { OptionalRateField } from '../price-rates.js';
import type { Price } from '../price.js';
import type { PriceTable } from './price-table.js';
import { withPublishedTierPrices } from './published-tier-prices.js';

/** Pinned exactly in package.json; its prices are bundled in the package, never fetched at run time. */
export const GENAI_PRICES_VERSION = '0.1.8';

/**
 * OpenAI's prices from @pydantic/genai-prices, per 1,000 tokens, with
 * OpenAI's published batch, flex and priority rates beside them (the package
 * has none). A price without a start date covers all history (validFrom 0); a
 * price with one (o3's cut on 2025-06-10) is valid from that day, 00:00 UTC.
 *
 * Read from the package: text, cached, cache-write, audio and image token
 * rates, long-context tiers (its one threshold per model), per-minute audio
 * (from its per-hour price), web and file search calls, and the fine-tuned
 * rates it matches by prefix (kept as `ft:<base>`, see fine-tuned-names.ts).
 * Left out, and said so in docs/prices.md: cached audio and cached image
 * rates (cached tokens are not split by kind), and time-of-day prices.
 */
export function genaiPricesCatalog(): PriceTable {
  const provider = findProvider({ providerId: 'openai' });
  if (!provider) throw new Error(`@pydantic/genai-prices ${GENAI_PRICES_VERSION} has no 'openai' provider`);
  const table: PriceTable = new Map();
  for (const model of provider.models) {
    const prices = pricesOf(model);
    if (prices.length === 0) continue;
    for (const name of namesOf(model)) if (!table.has(name)) table.set(name, prices);
  }
  return withPublishedTierPrices(table);
}

function pricesOf(model: ModelInfo): Price[] {
  const periods = Array.isArray(model.prices) ? model.prices : [{ prices: model.prices }];
  const out: Price[] = [];
  for (const period of periods) {
    const c = period.constraint;
    // Time-of-day prices (off-peak discounts) have no place in a history of validFrom dates.
    if (c && c.type !== 'start_date') continue;
    const validFrom = c ? Date.parse(`${c.start_date}T00:00:00Z`) : 0;
    const price = tokenPrice(period.prices, validFrom);
    if (price && !Number.isNaN(validFrom)) out.push(price);
  }
  return out.sort((a, b) => a.validFrom - b.validFrom);
}

function tokenPrice(p: ModelPrice, validFrom: number): Price | undefined {
  const perMinute = p.audio_hours ?? p.input_audio_hours;
  if (p.input_mtok === undefined && p.output_mtok === undefined && typeof perMinute !== 'number') return undefined;
  const price: Price = {
    validFrom,
    per1KQueryTokens: perThousand(p.input_mtok) ?? 0,
    per1KAnswerTokens: perThousand(p.output_mtok) ?? 0,
    per1KCachedQueryTokens: perThousand(p.cache_read_mtok) ?? null,
  };
  const set = (field: OptionalRateField, v: number | undefined) => {
    if (v !== undefined) price[field] = v;
  };
  set('per1KCacheWriteTokens', perThousand(p.cache_write_mtok));
  set('per1KAudioQueryTokens', perThousand(p.input_audio_mtok));
  set('per1KAudioAnswerTokens', perThousand(p.output_audio_mtok));
  set('per1KImageQueryTokens', perThousand(p.input_image_mtok));
  set('per1KImageAnswerTokens', perThousand(p.output_image_mtok));
  set('perMinuteAudio', typeof perMinute === 'number' ? perMinute / 60 : undefined);
  set('per1KWebSearchCalls', typeof p.web_searches_kcount === 'number' ? p.web_searches_kcount : undefined);
  set('per1KFileSearchCalls', typeof p.storage_searches_kcount === 'number' ? p.storage_searches_kcount : undefined);
  const threshold = [p.input_mtok, p.output_mtok, p.cache_read_mtok, p.cache_write_mtok].map(firstTierStart).find((s) => s !== undefined);
  if (threshold !== undefined) {
    price.longContextAbovePromptTokens = threshold;
    set('longContextPer1KQueryTokens', longContextPerThousand(p.input_mtok));
    set('longContextPer1KAnswerTokens', longContextPerThousand(p.output_mtok));
    set('longContextPer1KCachedQueryTokens', longContextPerThousand(p.cache_read_mtok));
    set('longContextPer1KCacheWriteTokens', longContextPerThousand(p.cache_write_mtok));
  }
  return price;
}

/** Dollars per million tokens to dollars per thousand; a tiered price gives its base tier. */
function perThousand(v: ModelPrice[string]): number | undefined {
  const perMillion = typeof v === 'number' ? v : v && typeof v.base === 'number' ? v.base : undefined;
  return perMillion === undefined ? undefined : perThousandFromPerMillion(perMillion);
}

/** OpenAI's tiered prices have one tier above the base: the whole call is priced by it once the prompt is above its start. */
const firstTierStart = (v: ModelPrice[string]): number | undefined => (v && typeof v === 'object' ? v.tiers[0]?.start : undefined);
const longContextPerThousand = (v: ModelPrice[string]): number | undefined =>
  v && typeof v === 'object' && v.tiers[0] ? perThousandFromPerMillion(v.tiers[0].price) : undefined;

/**
 * The exact names a catalog model is priced under: its id when its own match
 * accepts it and it is a whole name (not a prefix such as `ft:gpt-3.5-turbo-`),
 * and each name it matches exactly, except dated snapshots of the id, which
 * the store already prices by their undated name.
 */
function namesOf(model: ModelInfo): string[] {
  const names = new Set<string>();
  const ownId = matches(model.match, model.id) && !model.id.startsWith('ft:') && !/[-.:]$/.test(model.id);
  if (ownId) names.add(model.id);
  for (const name of exactNames(model.match)) {
    if (!(ownId && baseModelName(name) === model.id)) names.add(name);
  }
  for (const prefix of prefixes(model.match)) {
    const fineTuned = fineTunedRatesName(prefix);
    if (fineTuned) names.add(fineTuned);
  }
  return [...names];
}

function exactNames(m: MatchLogic): string[] {
  if ('equals' in m) return [m.equals];
  if ('or' in m) return m.or.flatMap(exactNames);
  return [];
}

function prefixes(m: MatchLogic): string[] {
  if ('starts_with' in m) return [m.starts_with];
  if ('or' in m) return m.or.flatMap(prefixes);
  return [];
}

function matches(m: MatchLogic, name: string): boolean {
  if ('equals' in m) return name === m.equals;
  if ('starts_with' in m) return name.startsWith(m.starts_with);
  if ('ends_with' in m) return name.endsWith(m.ends_with);
  if ('contains' in m) return name.includes(m.contains);
  if ('regex' in m) return new RegExp(m.regex).test(name);
  if ('or' in m) return m.or.some((x) => matches(x, name));
  return m.and.every((x) => matches(x, name));
}
