import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Durability, DurabilityHealth } from '../store/types.js';
import type { Store } from '../store/types.js';
import { rejectQueryParams } from './query-params.js';
import type { WholeProxy } from './whole-proxy.js';

/** One worker's health, as its primary collected it (server.workers > 1). */
export interface WorkerHealth extends Partial<DurabilityHealth> {
  worker: number;
  pid?: number;
  /** False for a worker that did not answer (restarting, or stuck). */
  reporting: boolean;
}

/** /health of a proxy of several workers: the whole proxy first, then each worker. */
export interface WholeProxyHealth {
  status: 'ok' | 'degraded';
  acceptingCalls: boolean;
  database: { kind: string; writable: boolean; lastError?: string };
  journal: { pending: number; writable: boolean; lastError?: string };
  unsaved: number;
  workers: WorkerHealth[];
}

/**
 * GET /health: 200 while calls are accepted (status "ok", or "degraded" when
 * calls are being kept in the journal or replayed from it), 503 while they
 * are refused because neither the database nor the journal can be written.
 * With several workers it answers for all of them (`wholeProxy`).
 */
export function registerHealthRoute(
  app: FastifyInstance,
  {
    store,
    durability,
    wholeProxy,
    showsDetails = () => true,
  }: { store: Store; durability?: Durability; wholeProxy?: WholeProxy; showsDetails?: (request: FastifyRequest) => boolean },
): void {
  app.get<{ Querystring: Record<string, unknown> }>('/health', async (request, reply) => {
    rejectQueryParams(request.query);
    const health = wholeProxy ? await wholeProxy.health() : durability?.health();
    if (!health) return { status: 'ok', store: store.kind };
    reply.code(health.acceptingCalls ? 200 : 503);
    // With an admin token set, anyone may ask whether the proxy takes calls, but only the administrator sees how it is set up.
    if (!showsDetails(request)) return { status: health.status, acceptingCalls: health.acceptingCalls };
    return { ...health, store: store.kind };
  });
}
