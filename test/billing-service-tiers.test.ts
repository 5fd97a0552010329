import OpenAI from 'openai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { adminClient } from './support/admin-client.js';
import { billedAnswers } from './support/billed-answers.js';
import { describeEachStore } from './support/each-store.js';
import { startHarness, type Harness } from './support/proxy-harness.js';

let h: Harness;
const admin = adminClient(() => h.url);
afterEach(async () => {
  await h?.close();
});

const client = () => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller', defaultHeaders: { 'x-user': 'ada' }, maxRetries: 0 });
const chatUsage = (prompt: number, completion: number, cached = 0) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
  prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
});

describeEachStore('service tiers', (store) => {
  it('records a flex answer as flex and prices it at the bundled flex rates (half of gpt-5’s)', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({ serviceTier: 'flex', usage: chatUsage(1000, 500, 200) });
    await client().chat.completions.create({ model: 'gpt-5', service_tier: 'flex', messages: [{ role: 'user', content: 'hi' }] });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ serviceTier: 'flex', tierFallback: false, queryTokens: 1000, cachedQueryTokens: 200, answerTokens: 500, priced: true });
    // gpt-5 flex per 1K: 0.000625 prompt, 0.0000625 cached, 0.005 answer.
    expect(row.cost).toBeCloseTo((800 * 0.000625 + 200 * 0.0000625 + 500 * 0.005) / 1000, 12);
  });

  it('prices a streamed priority answer of a snapshot at its undated model’s priority rates', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({ model: 'gpt-4o-2024-08-06', serviceTier: 'priority', usage: chatUsage(1000, 100) });
    const stream = await client().chat.completions.create({
      model: 'gpt-4o',
      service_tier: 'priority',
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    for await (const _ of stream) void _;
    const [row] = await admin.queries();
    expect(row).toMatchObject({ model: 'gpt-4o-2024-08-06', serviceTier: 'priority', tierFallback: false, streamed: true });
    // gpt-4o priority: $4.25 and $17 per million.
    expect(row.cost).toBeCloseTo((1000 * 0.00425 + 100 * 0.017) / 1000, 12);
  });

  it('reads the tier of a streamed Responses answer from response.completed', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({
      serviceTier: 'priority',
      usage: {
        input_tokens: 2000,
        input_tokens_details: { cached_tokens: 1000 },
        output_tokens: 300,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 2300,
      },
    });
    const stream = await client().responses.create({ model: 'gpt-4.1', input: 'hi', service_tier: 'priority', stream: true });
    for await (const _ of stream) void _;
    const [row] = await admin.queries();
    expect(row).toMatchObject({ endpoint: '/v1/responses', serviceTier: 'priority', tierFallback: false });
    // gpt-4.1 priority: $3.50 prompt, $0.875 cached, $14 answer per million.
    expect(row.cost).toBeCloseTo((1000 * 0.0035 + 1000 * 0.000875 + 300 * 0.014) / 1000, 12);
  });

  it('prices a tier without its own price at the default rates and marks the query and /usage', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({ serviceTier: 'scale', usage: chatUsage(1000, 100) });
    await client().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ serviceTier: 'scale', tierFallback: true, priced: true });
    expect(row.cost).toBeCloseTo((1000 * 0.0025 + 100 * 0.01) / 1000, 12);
    expect(await admin.usage()).toMatchObject({ numQueries: 1, tierFallbackQueries: 1 });
  });

  it('records an answer without service_tier as the default tier, unmarked', async () => {
    h = await startHarness([], { store });
    h.upstream.behaviour = billedAnswers({ usage: chatUsage(1000, 100) });
    await client().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ serviceTier: null, tierFallback: false });
    expect(row.cost).toBeCloseTo((1000 * 0.0025 + 100 * 0.01) / 1000, 12);
  });

  it('re-prices calls made at a tier when that tier’s price is added later', async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    await admin.postPrice('house-model', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.01, per1KAnswerTokens: 0.02 });
    h.upstream.behaviour = billedAnswers({ serviceTier: 'flex', usage: chatUsage(100, 100) });
    await client().chat.completions.create({ model: 'house-model', messages: [{ role: 'user', content: 'hi' }] });
    expect(await admin.queries()).toMatchObject([{ tierFallback: true, cost: expect.closeTo((100 * 0.01 + 100 * 0.02) / 1000, 12) }]);

    const model = await admin.postPrice('house-model', {
      serviceTier: 'flex',
      validFrom: '2020-01-01T00:00:00Z',
      per1KQueryTokens: 0.005,
      per1KAnswerTokens: 0.01,
    });
    expect(model.costs).toEqual([
      { validFrom: '2020-01-01T00:00:00.000Z', per1KQueryTokens: 0.01, per1KAnswerTokens: 0.02 },
      { validFrom: '2020-01-01T00:00:00.000Z', serviceTier: 'flex', per1KQueryTokens: 0.005, per1KAnswerTokens: 0.01 },
    ]);
    expect(await admin.queries()).toMatchObject([{ tierFallback: false, cost: expect.closeTo((100 * 0.005 + 100 * 0.01) / 1000, 12) }]);
    expect(await admin.usage()).toMatchObject({ tierFallbackQueries: 0, cost: expect.closeTo(0.0015, 12) });
  });

  it('shows the bundled batch, flex and priority rates beside the default ones', async () => {
    h = await startHarness([], { store });
    const model = await admin.getJson('/model/gpt-5');
    const byTier = new Map(model.catalogCosts.map((c: Record<string, unknown>) => [c.serviceTier ?? 'default', c]));
    expect(byTier.get('default')).toMatchObject({ per1KQueryTokens: 0.00125, per1KAnswerTokens: 0.01 });
    expect(byTier.get('batch')).toMatchObject({ per1KQueryTokens: 0.000625, per1KAnswerTokens: 0.005 });
    expect(byTier.get('flex')).toMatchObject({ per1KQueryTokens: 0.000625, per1KAnswerTokens: 0.005 });
    expect(byTier.get('priority')).toMatchObject({ per1KQueryTokens: 0.0025, per1KAnswerTokens: 0.02 });
  });

  it('takes tier prices and the other rates from the price file too', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'oap-tier-file-')), 'prices.yaml');
    writeFileSync(
      file,
      [
        'house-model:',
        '  - { per1KQueryTokens: 0.01, per1KAnswerTokens: 0.02 }',
        '  - { serviceTier: priority, per1KQueryTokens: 0.02, per1KAnswerTokens: 0.04, per1KAudioQueryTokens: 0.1 }',
      ].join('\n'),
    );
    h = await startHarness(['--prices.catalog=false', `--prices.file=${file}`], { store });
    h.upstream.behaviour = billedAnswers({
      serviceTier: 'priority',
      usage: { ...chatUsage(100, 100), prompt_tokens_details: { cached_tokens: 0, audio_tokens: 40 } },
    });
    await client().chat.completions.create({ model: 'house-model', messages: [{ role: 'user', content: 'hi' }] });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ serviceTier: 'priority', tierFallback: false, audioQueryTokens: 40 });
    expect(row.cost).toBeCloseTo((60 * 0.02 + 40 * 0.1 + 100 * 0.04) / 1000, 12);
  });

  it('refuses a price for a tier OpenAI does not have', async () => {
    h = await startHarness([], { store });
    const res = await fetch(`${h.url}/model/gpt-4o`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serviceTier: 'turbo', validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 1 }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toMatch(/serviceTier.*flex.*priority/);
  });
});
