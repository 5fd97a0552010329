import type { CatalogOrigin, PriceTable } from './price-table.js';
import { readPriceFile } from './price-file.js';

export interface PriceCatalog {
  prices: PriceTable;
  /** For each model in `prices`: the bundled catalog or the price file. */
  origins: Map<string, CatalogOrigin>;
}

/**
 * The catalog prices to load at start-up: the bundled catalog (unless
 * `prices.catalog` is false), with every model the price file names taking
 * the file's prices instead. Admin prices are not part of it: they live in
 * the store and win wherever they are valid.
 */
export async function loadPriceCatalog(settings: { catalog: boolean; file?: string }): Promise<PriceCatalog> {
  // Read the file first: a mistake in it should stop start-up before anything else is done.
  const fromFile = settings.file === undefined ? new Map() : readPriceFile(settings.file);
  const bundled: PriceTable = settings.catalog ? (await import('./genai-prices.js')).genaiPricesCatalog() : new Map();
  const prices: PriceTable = new Map();
  const origins = new Map<string, CatalogOrigin>();
  for (const [model, list] of bundled) {
    prices.set(model, list);
    origins.set(model, 'catalog');
  }
  for (const [model, list] of fromFile) {
    prices.set(model, list);
    origins.set(model, 'file');
  }
  return { prices, origins };
}
