import { PrometheusMetrics, type EndedCall } from '../src/proxy/call-metrics.js';

/**
 * What counting one call for /metrics costs on the hot path, measured in this
 * process: CPU time per callEnded + storeWrite, with a scrape every 10,000
 * calls as a scraper would make. Unlike throughput with metrics on and off,
 * which a busy machine blurs by tens of percent, this holds still.
 */
export function metricsCpuUsPerCall(calls = 200_000): number {
  const metrics = new PrometheusMetrics({ userLabel: false, inflightCalls: () => 3, journalBacklog: () => 0 });
  const models = ['gpt-4o-2024-08-06', 'gpt-4o-mini-2024-07-18', 'o3-2025-04-16'];
  const call: EndedCall = {
    endpoint: '/v1/chat/completions',
    model: models[0],
    status: 200,
    outcome: 'ok',
    user: 'bench-user',
    promptTokens: 12,
    completionTokens: 6,
    cachedTokens: 0,
    reasoningTokens: 0,
    cost: 0.0001,
    totalMs: 1.2,
    upstreamMs: 0.9,
  };
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      call.model = models[i % 3];
      call.totalMs = 1 + (i % 17) / 10;
      metrics.callEnded(call);
      metrics.storeWrite(0.3);
      if (i % 10_000 === 0) void metrics.scrape();
    }
  };
  run(20_000);
  const before = process.cpuUsage();
  run(calls);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}
