/** Prices per 1,000 tokens, in dollars, valid from an instant until the next price of the same model and source. */
export interface Price {
  validFrom: number;
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
