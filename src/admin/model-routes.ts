import type { FastifyInstance } from 'fastify';
import { baseModelName } from '../accounting/model-names.js';
import type { CatalogOrigin } from '../accounting/price-catalog/price-table.js';
import { badRequest, notFound } from '../server/errors.js';
import type { ModelPrices, Price, Store } from '../store/types.js';
import { rejectQueryParams } from './query-params.js';
import { isoUtc, requireZonedTimestamp } from './timestamps.js';

const PRICE_FIELDS = ['per1KQueryTokens', 'per1KAnswerTokens', 'per1KCachedQueryTokens'] as const;
const BODY_FIELDS = new Set(['validFrom', ...PRICE_FIELDS]);

type Origins = ReadonlyMap<string, CatalogOrigin>;

export function registerModelRoutes(app: FastifyInstance, { store, catalogOrigins = new Map() }: { store: Store; catalogOrigins?: Origins }): void {
  const view = async (model: ModelPrices) => {
    const base = baseModelName(model.name);
    return modelView(model, base === model.name ? undefined : await store.getModel(base), catalogOrigins);
  };

  app.post<{ Params: { name: string }; Querystring: Record<string, unknown> }>('/model/:name', async (request) => {
    rejectQueryParams(request.query);
    const name = requireModelName(request.params.name);
    const price = parsePriceBody(request.body);
    await store.putPrice(name, price, 'admin');
    return view((await store.getModel(name))!);
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
    return models.map((m) => modelView(m, byName.get(baseModelName(m.name)), catalogOrigins));
  });
}

const hasPrices = (m: ModelPrices | undefined) => m !== undefined && m.admin.length + m.catalog.length > 0;

/**
 * `costs` are the admin-entered prices (the original's field); `catalogCosts`
 * the catalog's, each saying whether it came from the bundled catalog or
 * from prices.file. `priced: false` flags a model nobody has priced, not even
 * through its undated name (`pricedAs`), so that an admin sees what to price.
 */
export function modelView(model: ModelPrices, base: ModelPrices | undefined, origins: Origins) {
  const source = origins.get(model.name) ?? 'catalog';
  const viaBase = !hasPrices(model) && base !== undefined && base.name !== model.name && hasPrices(base);
  return {
    name: model.name,
    costs: model.admin.map(priceView),
    catalogCosts: model.catalog.map((p) => ({ ...priceView(p), source })),
    priced: hasPrices(model) || viaBase,
    ...(viaBase ? { pricedAs: base.name } : {}),
  };
}

function priceView(p: Price) {
  const view: Record<string, unknown> = {
    validFrom: isoUtc(p.validFrom),
    per1KQueryTokens: p.per1KQueryTokens,
    per1KAnswerTokens: p.per1KAnswerTokens,
  };
  if (p.per1KCachedQueryTokens !== null) view.per1KCachedQueryTokens = p.per1KCachedQueryTokens;
  return view;
}

function requireModelName(name: string): string {
  if (!name || name.length > 256) throw badRequest('invalid_model_name', 'a model name must have 1 to 256 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw badRequest('invalid_model_name', 'a model name must not contain control characters');
  if (name.trim() !== name) throw badRequest('invalid_model_name', 'a model name must not begin or end with spaces');
  return name;
}

export function parsePriceBody(body: unknown): Price {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('invalid_body', 'the body must be a JSON object such as {"validFrom":"2023-11-06T00:00:00Z","per1KQueryTokens":0.01,"per1KAnswerTokens":0.03}');
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
