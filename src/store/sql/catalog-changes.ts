import { toPrice } from './rows.js';
import { priceParams } from './shared-statements.js';
import type { Price } from '../../accounting/price.js';

/**
 * The models whose catalog prices differ between what the store holds and the
 * catalog loaded at start-up. Only these are replaced and re-priced, so a
 * restart with an unchanged catalog costs no UPDATE, however large the history.
 */
export function changedCatalogModels(storedRows: Record<string, unknown>[], next: Map<string, Price[]>): string[] {
  const stored = new Map<string, Price[]>();
  for (const r of storedRows) {
    const list = stored.get(r.model as string) ?? [];
    list.push(toPrice(r));
    stored.set(r.model as string, list);
  }
  return [...new Set([...stored.keys(), ...next.keys()])].filter((model) => priceListKey(stored.get(model)) !== priceListKey(next.get(model)));
}

/** Compares price lists regardless of order. */
function priceListKey(list: Price[] | undefined): string {
  return (list ?? [])
    .map((p) => JSON.stringify(priceParams('', '', p)))
    .sort()
    .join('|');
}
