import { describe, expect, it } from 'vitest';
import { PrometheusMetrics, endpointLabel, type EndedCall } from '../src/proxy/call-metrics.js';
import { histogramTotals, metricFamilies, sumOf } from './support/prometheus-text.js';

const aCall = (overrides: Partial<EndedCall> = {}): EndedCall => ({
  endpoint: '/v1/chat/completions',
  model: 'gpt-4o-2024-08-06',
  status: 200,
  outcome: 'ok',
  user: 'adam',
  promptTokens: 12,
  completionTokens: 6,
  cachedTokens: 0,
  reasoningTokens: 0,
  cost: 0.0001,
  totalMs: 10.5,
  upstreamMs: 10,
  ...overrides,
});

describe('Prometheus metrics', () => {
  it("count calls, tokens and cost, and split latency into the proxy's share and the upstream's", async () => {
    const metrics = new PrometheusMetrics({ userLabel: false, inflightCalls: () => 3, journalBacklog: () => 7 });
    metrics.callEnded(aCall());
    metrics.callEnded(aCall({ status: 429, outcome: 'upstream_error', promptTokens: 0, completionTokens: 0, cost: 0 }));
    metrics.callEnded(aCall({ model: 'o3', reasoningTokens: 40, completionTokens: 50 }));
    metrics.storeWrite(0.4);
    const text = await metrics.scrape();
    const families = metricFamilies(text);
    const calls = families.get('openai_proxy_calls_total');
    expect(calls?.type).toBe('COUNTER');
    expect(sumOf(calls)).toBe(3);
    expect(sumOf(calls, { status: '429', outcome: 'upstream_error' })).toBe(1);
    expect(calls?.metrics.every((m) => !('user' in (m.labels ?? {})))).toBe(true);
    expect(sumOf(families.get('openai_proxy_tokens_total'), { model: 'o3', kind: 'reasoning' })).toBe(40);
    expect(sumOf(families.get('openai_proxy_tokens_total'), { kind: 'completion' })).toBe(56);
    expect(sumOf(families.get('openai_proxy_cost_dollars_total'))).toBeCloseTo(0.0002, 12);
    expect(families.get('openai_proxy_added_latency_seconds')?.type).toBe('HISTOGRAM');
    const added = histogramTotals(text, 'openai_proxy_added_latency_seconds');
    expect(added.count).toBe(3);
    expect(added.sum).toBeCloseTo(0.0015, 9);
    expect(histogramTotals(text, 'openai_proxy_upstream_latency_seconds').sum).toBeCloseTo(0.03, 9);
    expect(histogramTotals(text, 'openai_proxy_store_write_seconds')).toEqual({ count: 1, sum: 0.0004 });
    expect(sumOf(families.get('openai_proxy_inflight_calls'))).toBe(3);
    expect(sumOf(families.get('openai_proxy_journal_backlog'))).toBe(7);
    expect(families.has('process_cpu_seconds_total')).toBe(true);
    expect(families.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('label by user only when asked to', async () => {
    const metrics = new PrometheusMetrics({ userLabel: true, inflightCalls: () => 0, journalBacklog: () => 0 });
    metrics.callEnded(aCall({ user: 'adam' }));
    metrics.callEnded(aCall({ user: 'eve' }));
    metrics.callEnded(aCall({ user: 'eve' }));
    const families = metricFamilies(await metrics.scrape());
    expect(sumOf(families.get('openai_proxy_calls_total'), { user: 'eve' })).toBe(2);
    expect(sumOf(families.get('openai_proxy_cost_dollars_total'), { user: 'adam' })).toBeCloseTo(0.0001, 12);
  });

  it('keep labels a caller controls bounded: ids in paths, unknown paths, and endless model names', async () => {
    expect(endpointLabel('/v1/files/file-abc123/content')).toBe('/v1/files/{id}/content');
    expect(endpointLabel('/v1/chat/completions')).toBe('/v1/chat/completions');
    expect(endpointLabel('/v1/made-up-thing')).toBe('/v1/other');
    const metrics = new PrometheusMetrics({ userLabel: false, inflightCalls: () => 0, journalBacklog: () => 0, maxLabelValues: 5 });
    for (let i = 0; i < 50; i++) metrics.callEnded(aCall({ model: `invented-${i}` }));
    const calls = metricFamilies(await metrics.scrape()).get('openai_proxy_calls_total')!;
    expect(calls.metrics).toHaveLength(6);
    expect(sumOf(calls, { model: 'other' })).toBe(45);
  });
});
