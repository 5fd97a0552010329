import type { FastifyInstance } from 'fastify';
import type { CatalogOrigin } from '../accounting/price-catalog/price-table.js';
import type { Durability } from '../store/types.js';
import type { PrometheusMetrics } from '../proxy/call-metrics.js';
import type { Store } from '../store/types.js';
import { registerDashboardRoute } from './dashboard-route.js';
import { registerHealthRoute } from './health-route.js';
import { registerMetricsRoute } from './metrics-route.js';
import { registerModelRoutes } from './model-routes.js';
import { registerRateLimitsRoute } from './ratelimits-route.js';
import { registerUsageRoutes } from './usage-routes.js';

export async function registerAdminRoutes(
  app: FastifyInstance,
  deps: {
    store: Store;
    durability?: Durability;
    catalogOrigins?: ReadonlyMap<string, CatalogOrigin>;
    /** Serves GET /metrics when given (metrics.enabled). */
    metrics?: PrometheusMetrics;
    warn: (msg: string) => void;
  },
): Promise<void> {
  registerModelRoutes(app, deps);
  registerUsageRoutes(app, deps);
  registerRateLimitsRoute(app, deps);
  registerHealthRoute(app, deps);
  if (deps.metrics) registerMetricsRoute(app, { metrics: deps.metrics });
  registerDashboardRoute(app, deps);
}
