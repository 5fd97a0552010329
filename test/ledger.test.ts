import { afterEach, beforeEach, expect, it } from 'vitest';
import { chatThrough } from './support/chat-call.js';
import { describeEachStore } from './support/each-store.js';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { aQuery, costOf, inParallel } from './support/query-records.js';
import { STAND_IN_USAGE } from './support/upstream-stand-in.js';

/** What every store must do with the ledger, seen through the admin API. */
describeEachStore('the ledger', (store) => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
  });
  afterEach(async () => {
    await h.close();
  });

  async function get(path: string) {
    const res = await fetch(`${h.url}${path}`);
    expect(res.status, path).toBe(200);
    return (await res.json()) as any;
  }

  async function postPrice(model: string, body: Record<string, unknown>) {
    const res = await fetch(`${h.url}/model/${model}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
  }

  const chat = (user = 'adam') => chatThrough(h.url, user);

  const standInCost = (perQuery: number, perAnswer: number) =>
    costOf({ promptTokens: STAND_IN_USAGE.prompt_tokens, completionTokens: STAND_IN_USAGE.completion_tokens }, perQuery, perAnswer);

  it('re-prices the queries a later price covers, and only those', async () => {
    const t = Date.UTC(2024, 0, 25, 12, 0, 0);
    const q1 = aQuery({ timestamp: t });
    const q2 = aQuery({ timestamp: t + 10_000 });
    expect((await h.proxy.store.recordQuery(q1)).cost).toBe(0);
    await h.proxy.store.recordQuery(q2);
    const iso = (ms: number) => new Date(ms).toISOString();
    const costs = async () => (await get('/queries')).map((r: any) => r.cost);

    await postPrice('gpt-4o', { validFrom: iso(t - 1), per1KQueryTokens: 1, per1KAnswerTokens: 2 });
    expect(await costs()).toEqual([costOf(q1, 1, 2), costOf(q2, 1, 2)]);
    // Strictly before: a price valid from the second query's own timestamp does not cover it.
    await postPrice('gpt-4o', { validFrom: iso(t + 10_000), per1KQueryTokens: 9, per1KAnswerTokens: 9 });
    expect(await costs()).toEqual([costOf(q1, 1, 2), costOf(q2, 1, 2)]);
    // (t, t + 10 s]: the second query only.
    await postPrice('gpt-4o', { validFrom: iso(t), per1KQueryTokens: 10, per1KAnswerTokens: 20 });
    expect(await costs()).toEqual([costOf(q1, 1, 2), costOf(q2, 10, 20)]);
    // Replacing the first price changes the first query only: its interval ends where the next price starts.
    await postPrice('gpt-4o', { validFrom: iso(t - 1), per1KQueryTokens: 3, per1KAnswerTokens: 3 });
    expect(await costs()).toEqual([costOf(q1, 3, 3), costOf(q2, 10, 20)]);
    expect((await get('/usage')).cost).toBeCloseTo(costOf(q1, 3, 3) + costOf(q2, 10, 20), 12);
  });

  it('prices a dated snapshot by its undated name, and by its own price once it has one', async () => {
    await postPrice('gpt-4o', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 1, per1KAnswerTokens: 1 });
    await chat();
    expect((await get('/queries'))[0]).toMatchObject({ model: 'gpt-4o-2024-08-06', cost: standInCost(1, 1), priced: true });
    await postPrice('gpt-4o-2024-08-06', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 3, per1KAnswerTokens: 3 });
    expect((await get('/queries'))[0].cost).toBe(standInCost(3, 3));
    expect((await get('/models')).map((m: any) => m.name)).toEqual(['gpt-4o', 'gpt-4o-2024-08-06']);
  });

  it('answers /usage with JSON numbers, never strings', async () => {
    await postPrice('gpt-4o', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.01, per1KAnswerTokens: 0.03 });
    await chat('adam');
    await chat('eve');
    const usage = await get('/usage');
    expect(usage).toMatchObject({ numQueries: 2, queryTokens: 24, answerTokens: 12, cost: 2 * standInCost(0.01, 0.03) });
    for (const [field, value] of Object.entries(usage)) expect(typeof value, field).toBe('number');
    const [row] = await get('/queries?user=eve');
    for (const field of ['queryTokens', 'answerTokens', 'cost', 'status', 'durationMs']) expect(typeof row[field], field).toBe('number');
  });

  it('keeps the newest rate-limit observation when an older one is recorded later', async () => {
    const window = (remaining: number, reset: number) => ({ maximum: 500, remaining, reset });
    await h.proxy.store.recordQuery(aQuery(), { observedAt: 2_000, requests: window(10, 3_000), tokens: window(20, 4_000) });
    await h.proxy.store.recordQuery(aQuery(), { observedAt: 1_000, requests: window(99, 9_000) });
    expect(await get('/ratelimits')).toEqual({
      requests: { maximum: 500, remaining: 10, reset: new Date(3_000).toISOString() },
      tokens: { maximum: 500, remaining: 20, reset: new Date(4_000).toISOString() },
    });
    await h.proxy.store.recordQuery(aQuery(), { observedAt: 5_000, tokens: window(7, 6_000) });
    expect((await get('/ratelimits')).tokens.remaining).toBe(7);
  });

  it('streams every matching query oldest first and pages with limit and offset past one read batch', async () => {
    const total = 1_250;
    const start = Date.UTC(2024, 0, 1);
    // Pairs share a timestamp, so paging must order by arrival within one millisecond too; pairs go in side by side.
    await inParallel(total / 2, 8, async (pair) => {
      for (const i of [2 * pair, 2 * pair + 1]) await h.proxy.store.recordQuery(aQuery({ timestamp: start + pair, promptTokens: i }));
    });
    const all = await get('/queries');
    expect(all).toHaveLength(total);
    expect(all.map((r: any) => r.queryTokens)).toEqual([...Array(total).keys()]);
    const page = await get('/queries?limit=1100&offset=100');
    expect(page.map((r: any) => r.queryTokens)).toEqual([...Array(1_100).keys()].map((i) => i + 100));
    expect(await get(`/queries?after=${new Date(start + 620).toISOString()}&limit=3`)).toHaveLength(3);
  });
});
