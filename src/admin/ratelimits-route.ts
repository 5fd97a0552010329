import type { FastifyInstance } from 'fastify';
import type { RateLimitWindow } from '../store/types.js';
import type { Store } from '../store/types.js';
import { rejectQueryParams } from './query-params.js';
import { isoUtc } from '../http/timestamps.js';

export function registerRateLimitsRoute(app: FastifyInstance, { store }: { store: Store }): void {
  app.get<{ Querystring: Record<string, unknown> }>('/ratelimits', async (request) => {
    rejectQueryParams(request.query);
    const limits = await store.rateLimits();
    const out: Record<string, unknown> = {};
    if (limits.requests) out.requests = windowView(limits.requests);
    if (limits.tokens) out.tokens = windowView(limits.tokens);
    return out;
  });
}

// The widest range a Date can show; a stored reset outside it (written before durations were bounded) shows as null.
const MAX_DATE_MS = 8.64e15;

const windowView = (w: RateLimitWindow) => ({
  maximum: w.maximum,
  remaining: w.remaining,
  reset: w.reset === null || !Number.isFinite(w.reset) || Math.abs(w.reset) > MAX_DATE_MS ? null : isoUtc(w.reset),
});
