import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Durability } from '../store/types.js';
import type { Store } from '../store/types.js';
import { rejectQueryParams } from './query-params.js';

/**
 * GET /health: 200 while calls are accepted (status "ok", or "degraded" when
 * calls are being kept in the journal or replayed from it), 503 while they
 * are refused because neither the database nor the journal can be written.
 */
export function registerHealthRoute(
  app: FastifyInstance,
  { store, durability, showsDetails = () => true }: { store: Store; durability?: Durability; showsDetails?: (request: FastifyRequest) => boolean },
): void {
  app.get<{ Querystring: Record<string, unknown> }>('/health', async (request, reply) => {
    rejectQueryParams(request.query);
    if (!durability) return { status: 'ok', store: store.kind };
    const health = durability.health();
    reply.code(health.acceptingCalls ? 200 : 503);
    // With an admin token set, anyone may ask whether the proxy takes calls, but only the administrator sees how it is set up.
    if (!showsDetails(request)) return { status: health.status, acceptingCalls: health.acceptingCalls };
    return { ...health, store: store.kind };
  });
}
