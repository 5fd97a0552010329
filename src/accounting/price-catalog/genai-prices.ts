import { findProvider, type MatchLogic, type ModelInfo, type ModelPrice } from '@pydantic/genai-prices';
import { baseModelName } from '../model-names.js';
import type { Price } from '../price.js';
import type { PriceTable } from './price-table.js';

/** Pinned exactly in package.json; its prices are bundled in the package, never fetched at run time. */
export const GENAI_PRICES_VERSION = '0.1.8';

/**
 * OpenAI's prices from @pydantic/genai-prices, per 1,000 tokens. A price
 * without a start date covers all history (validFrom 0); a price with one
 * (o3's cut on 2025-06-10) is valid from that day, 00:00 UTC.
 *
 * What the package knows that a price here cannot hold is left out, and the
 * README says so: long-context tiers (the base tier is used), audio- and
 * image-specific token rates, per-call and per-hour prices, and models
 * matched only by a prefix or pattern (`ft:gpt-4o-2024-...`).
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
  return table;
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
  const input = perThousand(p.input_mtok);
  const output = perThousand(p.output_mtok);
  if (input === undefined && output === undefined) return undefined;
  return { validFrom, per1KQueryTokens: input ?? 0, per1KAnswerTokens: output ?? 0, per1KCachedQueryTokens: perThousand(p.cache_read_mtok) ?? null };
}

/** Dollars per million tokens to dollars per thousand; a tiered price gives its base tier. */
function perThousand(v: ModelPrice[string]): number | undefined {
  const perMillion = typeof v === 'number' ? v : v && typeof v.base === 'number' ? v.base : undefined;
  return perMillion === undefined ? undefined : perMillion / 1000;
}

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
  return [...names];
}

function exactNames(m: MatchLogic): string[] {
  if ('equals' in m) return [m.equals];
  if ('or' in m) return m.or.flatMap(exactNames);
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
