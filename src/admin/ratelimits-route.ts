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

const windowView = (w: RateLimitWindow) => ({ maximum: w.maximum, remaining: w.remaining, reset: w.reset === null ? null : isoUtc(w.reset) });
