import type { FastifyInstance } from 'fastify';
import { badRequest } from '../http/errors.js';
import { isoUtc } from '../http/timestamps.js';
import type { RateLimitWindow, Store, StoredRateLimits } from '../store/types.js';

/**
 * GET /ratelimits: what the latest successful upstream answer said about the
 * organisation's limits; with by=model, the latest per answered model (each
 * model has limits of its own upstream).
 */
export function registerRateLimitsRoute(app: FastifyInstance, { store }: { store: Store }): void {
  app.get<{ Querystring: Record<string, unknown> }>('/ratelimits', async (request) => {
    const { by, ...rest } = request.query ?? {};
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw badRequest('unknown_parameter', `unknown parameter '${unknown}'; known: by`);
    if (by === undefined) return limitsView(await store.rateLimits());
    if (by !== 'model') throw badRequest('invalid_parameter', `parameter 'by' takes only 'model', not '${String(by)}'`);
    const out: Record<string, unknown> = {};
    for (const [model, limits] of await store.modelRateLimits()) out[model] = limitsView(limits);
    return out;
  });
}

function limitsView(limits: StoredRateLimits) {
  const out: Record<string, unknown> = {};
  if (limits.requests) out.requests = windowView(limits.requests);
  if (limits.tokens) out.tokens = windowView(limits.tokens);
  return out;
}

// The widest range a Date can show; a stored reset outside it (written before durations were bounded) shows as null.
const MAX_DATE_MS = 8.64e15;

const windowView = (w: RateLimitWindow) => ({
  maximum: w.maximum,
  remaining: w.remaining,
  reset: w.reset === null || !Number.isFinite(w.reset) || Math.abs(w.reset) > MAX_DATE_MS ? null : isoUtc(w.reset),
});
