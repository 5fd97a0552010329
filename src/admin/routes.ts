import type { FastifyInstance } from 'fastify';
import type { CatalogOrigin } from '../accounting/price-catalog/price-table.js';
import type { Durability } from '../store/types.js';
import type { PrometheusMetrics } from '../proxy/call-metrics.js';
import type { Store } from '../store/types.js';
import type { AccessRouteDeps } from './access-deps.js';
import { adminTokenCheck, requireAdminToken } from './admin-auth.js';
import { registerBudgetRoutes } from './budget-routes.js';
import { registerDashboardRoute } from './dashboard-route.js';
import { registerHealthRoute } from './health-route.js';
import { registerKeyRoutes } from './key-routes.js';
import { registerMetricsRoute } from './metrics-route.js';
import { registerModelRoutes } from './model-routes.js';
import { registerRateLimitsRoute } from './ratelimits-route.js';
import { registerUsageRoutes } from './usage-routes.js';
import type { WholeProxy } from './whole-proxy.js';

export interface AdminDeps {
  store: Store;
  durability?: Durability;
  catalogOrigins?: ReadonlyMap<string, CatalogOrigin>;
  /** With several workers: /health and /metrics for all of them. */
  wholeProxy?: WholeProxy;
  /** Serves GET /metrics when given (metrics.enabled). */
  metrics?: PrometheusMetrics;
  warn: (msg: string) => void;
  access: AccessRouteDeps;
  /** admin.token: every admin route but /health needs it. */
  adminToken?: string;
}

export async function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  // Before any route: a hook guards the routes registered after it, whatever their plugin.
  const showsDetails = deps.adminToken === undefined ? () => true : adminTokenCheck(deps.adminToken);
  if (deps.adminToken !== undefined) requireAdminToken(app, deps.adminToken);
  registerModelRoutes(app, deps);
  registerUsageRoutes(app, deps);
  registerRateLimitsRoute(app, deps);
  registerHealthRoute(app, { ...deps, showsDetails });
  if (deps.metrics) registerMetricsRoute(app, { metrics: deps.metrics, wholeProxy: deps.wholeProxy });
  registerDashboardRoute(app, deps);
  registerKeyRoutes(app, deps.access);
  registerBudgetRoutes(app, deps.access);
}
