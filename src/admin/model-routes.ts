import type { FastifyInstance } from 'fastify';
import { fineTunedPriceNames } from '../accounting/fine-tuned-names.js';
import { baseModelName, requireModelName } from '../accounting/model-names.js';
import { OPTIONAL_RATES } from '../accounting/price-rates.js';
import { parsePriceBody } from '../accounting/price-body.js';
import type { ModelPrices, Price } from '../accounting/price.js';
import type { CatalogOrigin } from '../accounting/price-catalog/price-table.js';
import { notFound } from '../http/errors.js';
import type { Store } from '../store/types.js';
import { rejectQueryParams } from './query-params.js';
import { isoUtc } from '../http/timestamps.js';

type Origins = ReadonlyMap<string, CatalogOrigin>;

export function registerModelRoutes(app: FastifyInstance, { store, catalogOrigins = new Map() }: { store: Store; catalogOrigins?: Origins }): void {
  const view = async (model: ModelPrices) => {
    const fallbacks = await Promise.all(fallbackNames(model.name).map((n) => store.getModel(n)));
    return modelView(model, fallbacks, catalogOrigins);
  };

  app.post<{ Params: { name: string }; Querystring: Record<string, unknown> }>('/model/:name', async (request) => {
    rejectQueryParams(request.query);
    const name = requireModelName(request.params.name);
    const price = parsePriceBody(request.body);
    await store.putPrice(name, price, 'admin');
    const stored = await store.getModel(name);
    if (!stored) throw new Error(`the price of '${name}' was stored but cannot be read back`);
    return view(stored);
  });

  app.get<{ Params: { name: string }; Querystring: Record<string, unknown> }>('/model/:name', async (request) => {
    rejectQueryParams(request.query);
    const name = requireModelName(request.params.name);
    const model = await store.getModel(name);
    if (!model) throw notFound('unknown_model', `no model named '${name}' is known (no prices, no queries)`);
    return view(model);
  });

  app.get<{ Querystring: Record<string, unknown> }>('/models', async (request) => {
    rejectQueryParams(request.query);
    const models = await store.listModels();
    const byName = new Map(models.map((m) => [m.name, m]));
    return models.map((m) =>
      modelView(
        m,
        fallbackNames(m.name).map((n) => byName.get(n)),
        catalogOrigins,
      ),
    );
  });
}

/** The names a model without prices of its own is priced by, in the store's order: its undated name, or a fine-tuned model's base names. */
function fallbackNames(name: string): string[] {
  const fineTuned = fineTunedPriceNames(name);
  if (fineTuned) return [fineTuned.fineTunedRates, fineTuned.baseRates];
  const base = baseModelName(name);
  return base === name ? [] : [base];
}

const hasPrices = (m: ModelPrices | undefined) => m !== undefined && m.admin.length + m.catalog.length > 0;

/**
 * `costs` are the admin-entered prices (the original's field); `catalogCosts`
 * the catalog's, each saying whether it came from the bundled catalog or
 * from prices.file. `priced: false` flags a model nobody has priced, not even
 * through its undated name (`pricedAs`), so that an admin sees what to price.
 */
function modelView(model: ModelPrices, fallbacks: (ModelPrices | undefined)[], origins: Origins) {
  const source = origins.get(model.name) ?? 'catalog';
  const pricedAs = hasPrices(model) ? undefined : fallbacks.find((f) => f !== undefined && f.name !== model.name && hasPrices(f));
  return {
    name: model.name,
    costs: model.admin.map(priceView),
    catalogCosts: model.catalog.map((p) => ({ ...priceView(p), source })),
    priced: hasPrices(model) || pricedAs !== undefined,
    ...(pricedAs ? { pricedAs: pricedAs.name } : {}),
  };
}

/** A price as POST /model takes it: the tier only when not the default, optional rates only when set. */
function priceView(p: Price) {
  const view: Record<string, unknown> = { validFrom: isoUtc(p.validFrom) };
  if (p.serviceTier !== undefined) view.serviceTier = p.serviceTier;
  view.per1KQueryTokens = p.per1KQueryTokens;
  view.per1KAnswerTokens = p.per1KAnswerTokens;
  if (p.per1KCachedQueryTokens !== null) view.per1KCachedQueryTokens = p.per1KCachedQueryTokens;
  for (const rate of OPTIONAL_RATES) if (p[rate.field] !== undefined) view[rate.field] = p[rate.field];
  return view;
}
