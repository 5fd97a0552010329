import type { FastifyInstance } from 'fastify';
import type { Durability } from '../store/types.js';
import type { Store } from '../store/types.js';
import { rejectQueryParams } from './query-params.js';

/**
 * GET /health: 200 while calls are accepted (status "ok", or "degraded" when
 * calls are being kept in the journal or replayed from it), 503 while they
 * are refused because neither the database nor the journal can be written.
 */
export function registerHealthRoute(app: FastifyInstance, { store, durability }: { store: Store; durability?: Durability }): void {
  app.get<{ Querystring: Record<string, unknown> }>('/health', async (request, reply) => {
    rejectQueryParams(request.query);
    if (!durability) return { status: 'ok', store: store.kind };
    const health = durability.health();
    reply.code(health.acceptingCalls ? 200 : 503);
    return { ...health, store: store.kind };
  });
}
