import type { Price } from '../price.js';

/** Prices by exact model name, oldest first. */
export type PriceTable = Map<string, Price[]>;

/** Where the catalog's price of a model came from. */
export type CatalogOrigin = 'catalog' | 'file';
