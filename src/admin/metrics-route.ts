import type { FastifyInstance } from 'fastify';
import type { PrometheusMetrics } from '../proxy/call-metrics.js';
import { rejectQueryParams } from './query-params.js';
import type { WholeProxy } from './whole-proxy.js';

/** GET /metrics: Prometheus text format, for a scraper. */
export function registerMetricsRoute(app: FastifyInstance, { metrics, wholeProxy }: { metrics: PrometheusMetrics; wholeProxy?: WholeProxy }): void {
  app.get<{ Querystring: Record<string, unknown> }>('/metrics', async (request, reply) => {
    rejectQueryParams(request.query);
    // With several workers, every worker's metrics combined, not only those of the one this request reached.
    const text = wholeProxy ? await wholeProxy.metrics() : await metrics.scrape();
    return reply.type(metrics.contentType).send(text);
  });
}
