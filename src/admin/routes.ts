import type { FastifyInstance } from 'fastify';
import type { CatalogOrigin } from '../accounting/price-catalog/price-table.js';
import type { Durability } from '../store/types.js';
import type { Store } from '../store/types.js';
import { registerHealthRoute } from './health-route.js';
import { registerModelRoutes } from './model-routes.js';
import { registerRateLimitsRoute } from './ratelimits-route.js';
import { registerUsageRoutes } from './usage-routes.js';

export async function registerAdminRoutes(
  app: FastifyInstance,
  deps: { store: Store; durability?: Durability; catalogOrigins?: ReadonlyMap<string, CatalogOrigin> },
): Promise<void> {
  registerModelRoutes(app, deps);
  registerUsageRoutes(app, deps);
  registerRateLimitsRoute(app, deps);
  registerHealthRoute(app, deps);
}
