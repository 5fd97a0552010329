import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { histogramTotals, metricFamilies, sumOf } from './support/prometheus-text.js';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { STAND_IN_USAGE } from './support/upstream-stand-in.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('GET /metrics', () => {
  it('counts every call by endpoint, model, status and outcome, with tokens, cost and latencies, in Prometheus text format', async () => {
    h = await startHarness();
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', defaultHeaders: { 'x-user': 'adam' }, maxRetries: 0 });
    for (let i = 0; i < 4; i++) await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    for await (const _chunk of stream) {
      /* read to the end */
    }
    h.upstream.behaviour = { kind: 'json', status: 429, body: { error: { message: 'slow down', type: 'rate_limit' } } };
    await expect(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow();

    const text = await scrape(h.url);
    const families = metricFamilies(text);
    const calls = families.get('openai_proxy_calls_total');
    expect(sumOf(calls)).toBe(6);
    expect(sumOf(calls, { endpoint: '/v1/chat/completions', model: 'gpt-4o-2024-08-06', status: '200', outcome: 'ok' })).toBe(5);
    expect(sumOf(calls, { status: '429', outcome: 'upstream_error' })).toBe(1);
    expect(calls!.metrics.some((m) => 'user' in (m.labels ?? {}))).toBe(false);
    expect(sumOf(families.get('openai_proxy_tokens_total'), { kind: 'prompt' })).toBe(5 * STAND_IN_USAGE.prompt_tokens);
    expect(sumOf(families.get('openai_proxy_tokens_total'), { kind: 'completion' })).toBe(5 * STAND_IN_USAGE.completion_tokens);
    const usage = await (await fetch(`${h.url}/usage`)).json();
    expect(sumOf(families.get('openai_proxy_cost_dollars_total'))).toBeCloseTo(usage.cost, 12);
    expect(histogramTotals(text, 'openai_proxy_added_latency_seconds').count).toBe(6);
    expect(histogramTotals(text, 'openai_proxy_upstream_latency_seconds').count).toBe(6);
    expect(histogramTotals(text, 'openai_proxy_store_write_seconds').count).toBe(6);
    expect(sumOf(families.get('openai_proxy_inflight_calls'))).toBe(0);
    expect(sumOf(families.get('openai_proxy_journal_backlog'))).toBe(0);
    expect(families.get('process_resident_memory_bytes')?.type).toBe('GAUGE');
  });

  it('labels calls by user only with metrics.user-label', async () => {
    h = await startHarness(['--metrics.user-label=true']);
    for (const user of ['adam', 'eve', 'eve']) {
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user': user },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.text();
    }
    const families = metricFamilies(await scrape(h.url));
    expect(sumOf(families.get('openai_proxy_calls_total'), { user: 'eve' })).toBe(2);
    expect(sumOf(families.get('openai_proxy_tokens_total'), { user: 'adam', kind: 'prompt' })).toBe(STAND_IN_USAGE.prompt_tokens);
  });

  it('is not served with metrics.enabled=false', async () => {
    h = await startHarness(['--metrics.enabled=false']);
    expect((await fetch(`${h.url}/metrics`)).status).toBe(404);
  });
});
