import type { FastifyInstance } from 'fastify';
import type { PrometheusMetrics } from '../proxy/call-metrics.js';
import { rejectQueryParams } from './query-params.js';

/** GET /metrics: Prometheus text format, for a scraper. */
export function registerMetricsRoute(app: FastifyInstance, { metrics }: { metrics: PrometheusMetrics }): void {
  app.get<{ Querystring: Record<string, unknown> }>('/metrics', async (request, reply) => {
    rejectQueryParams(request.query);
    const text = await metrics.scrape();
    return reply.type(metrics.contentType).send(text);
  });
}
