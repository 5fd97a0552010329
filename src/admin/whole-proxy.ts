import type { WholeProxyHealth } from './health-route.js';

/**
 * With server.workers > 1, what /health and /metrics answer for the whole
 * proxy rather than the one worker a request reached: collected from every
 * worker by the primary.
 */
export interface WholeProxy {
  health(): Promise<WholeProxyHealth>;
  /** Prometheus text of every worker's metrics combined (counters summed). */
  metrics(): Promise<string>;
}
