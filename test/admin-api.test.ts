import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueryRecord } from '../src/store/types.js';
import { aQuery as aChatQuery } from './support/query-records.js';
import { startHarness, type Harness } from './support/proxy-harness.js';

/** A gpt-4-1106-preview call (the original README's model) arriving at `at`. */
const aQuery = ({ at, ...rest }: Partial<QueryRecord> & { at: string }) =>
  aChatQuery({ timestamp: Date.parse(at), model: 'gpt-4-1106-preview', requestedModel: 'gpt-4-1106-preview', ...rest });

let h: Harness;
// Admin-entered prices alone: the bundled catalog would price these models too (see prices-*.test.ts).
beforeEach(async () => {
  h = await startHarness(['--prices.catalog=false']);
});
afterEach(async () => {
  await h.close();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(h.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const price = (validFrom: string, q: number, a: number) => ({ validFrom, per1KQueryTokens: q, per1KAnswerTokens: a });

describe('POST and GET /model/{name}', () => {
  it('adds prices and lists them oldest first, in UTC', async () => {
    await call('POST', '/model/gpt-4-1106-preview', price('2024-03-01T00:00:00+01:00', 0.02, 0.04));
    const posted = await call('POST', '/model/gpt-4-1106-preview', price('2023-11-06T00:00:00Z', 0.01, 0.03));
    expect(posted.status).toBe(200);
    expect(posted.body.name).toBe('gpt-4-1106-preview');
    expect(posted.body.costs).toEqual([
      { validFrom: '2023-11-06T00:00:00.000Z', per1KQueryTokens: 0.01, per1KAnswerTokens: 0.03 },
      { validFrom: '2024-02-29T23:00:00.000Z', per1KQueryTokens: 0.02, per1KAnswerTokens: 0.04 },
    ]);
    expect((await call('GET', '/model/gpt-4-1106-preview')).body).toEqual(posted.body);
  });

  it('replaces a price posted again for the same validFrom', async () => {
    await call('POST', '/model/m', price('2024-01-01T00:00:00Z', 1, 1));
    const again = await call('POST', '/model/m', price('2024-01-01T00:00:00Z', 2, 3));
    expect(again.body.costs).toEqual([{ validFrom: '2024-01-01T00:00:00.000Z', per1KQueryTokens: 2, per1KAnswerTokens: 3 }]);
  });

  it('counts a missing price field as 0', async () => {
    const res = await call('POST', '/model/m', { validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: 0.5 });
    expect(res.body.costs[0]).toMatchObject({ per1KQueryTokens: 0.5, per1KAnswerTokens: 0 });
  });

  it.each([
    [{ per1KQueryTokens: 1 }, /validFrom/],
    [price('2024-01-01T00:00:00', 1, 1), /validFrom/],
    [price('not a date', 1, 1), /validFrom/],
    [price('2024-01-01T00:00:00Z', -1, 1), /per1KQueryTokens/],
    [{ validFrom: '2024-01-01T00:00:00Z', per1KAnswerTokens: '0.03' }, /per1KAnswerTokens/],
    [{ validFrom: '2024-01-01T00:00:00Z', per1KQueryTokens: 1, per1KQueryTokenz: 1 }, /per1KQueryTokenz/],
    [[1, 2], /object/],
  ])('rejects %j with 400 and a message', async (body, message) => {
    const res = await call('POST', '/model/m', body);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expect((await call('GET', '/model/m')).status).toBe(404);
  });

  it('rejects a body that is not JSON with 400', async () => {
    const res = await call('POST', '/model/m', '{"validFrom":');
    expect(res.status).toBe(400);
    expect(res.body.message).toBeTruthy();
  });

  it('answers 404 for an unknown model, and serves names that need URL encoding', async () => {
    expect((await call('GET', '/model/nope')).status).toBe(404);
    const posted = await call('POST', `/model/${encodeURIComponent('openai/gpt-4o')}`, price('2024-01-01T00:00:00Z', 1, 1));
    expect(posted.status).toBe(200);
    expect(posted.body.name).toBe('openai/gpt-4o');
    expect((await call('GET', `/model/${encodeURIComponent('openai/gpt-4o')}`)).body.name).toBe('openai/gpt-4o');
  });

  it('lists every model in /models, including models seen without prices', async () => {
    await call('POST', '/model/priced', price('2024-01-01T00:00:00Z', 1, 1));
    await h.proxy.store.recordQuery(aQuery({ at: '2024-02-01T00:00:00Z', model: 'unpriced-model' }));
    const models = (await call('GET', '/models')).body as { name: string; costs: unknown[] }[];
    expect(models.map((m) => m.name).sort()).toEqual(['priced', 'unpriced-model']);
    expect(models.find((m) => m.name === 'unpriced-model')!.costs).toEqual([]);
  });
});

describe('cost over time', () => {
  it('uses the price with the latest validFrom strictly before the query', async () => {
    await call('POST', '/model/gpt-4-1106-preview', price('2024-01-01T00:00:00Z', 0.01, 0.03));
    await call('POST', '/model/gpt-4-1106-preview', price('2024-02-01T00:00:00Z', 0.1, 0.3));
    const store = h.proxy.store;
    await store.recordQuery(aQuery({ at: '2023-12-31T23:59:59Z' }));
    await store.recordQuery(aQuery({ at: '2024-01-15T00:00:00Z' }));
    await store.recordQuery(aQuery({ at: '2024-02-01T00:00:00Z' }));
    await store.recordQuery(aQuery({ at: '2024-02-01T00:00:00.001Z' }));
    const costs = (await call('GET', '/queries')).body.map((q: { cost: number }) => q.cost);
    expect(costs[0]).toBe(0);
    expect(costs[1]).toBeCloseTo((1000 * 0.01 + 500 * 0.03) / 1000, 12);
    expect(costs[2]).toBeCloseTo((1000 * 0.01 + 500 * 0.03) / 1000, 12);
    expect(costs[3]).toBeCloseTo((1000 * 0.1 + 500 * 0.3) / 1000, 12);
  });

  it('re-prices old queries when a price is added before them, and only those it covers', async () => {
    const store = h.proxy.store;
    await store.recordQuery(aQuery({ at: '2024-01-10T00:00:00Z' }));
    await store.recordQuery(aQuery({ at: '2024-03-10T00:00:00Z' }));
    expect((await call('GET', '/usage')).body.cost).toBe(0);
    await call('POST', '/model/gpt-4-1106-preview', price('2024-03-01T00:00:00Z', 1, 1));
    await call('POST', '/model/gpt-4-1106-preview', price('2024-01-01T00:00:00Z', 0.01, 0.03));
    const costs = (await call('GET', '/queries')).body.map((q: { cost: number }) => q.cost);
    expect(costs[0]).toBeCloseTo(0.025, 12);
    expect(costs[1]).toBeCloseTo(1.5, 12);
    await call('POST', '/model/gpt-4-1106-preview', price('2024-01-01T00:00:00Z', 0.02, 0.06));
    const after = (await call('GET', '/queries')).body.map((q: { cost: number }) => q.cost);
    expect(after[0]).toBeCloseTo(0.05, 12);
    expect(after[1]).toBeCloseTo(1.5, 12);
  });

  it('prices a dated snapshot by its undated name until it has a price of its own, and a fine-tuned model by its base', async () => {
    await call('POST', '/model/gpt-4o', price('2024-01-01T00:00:00Z', 0.0025, 0.01));
    await h.proxy.store.recordQuery(aQuery({ at: '2024-09-01T00:00:00Z', model: 'gpt-4o-2024-08-06' }));
    await h.proxy.store.recordQuery(aQuery({ at: '2024-09-01T00:00:00Z', model: 'ft:gpt-4o-2024-08-06:acme::x1' }));
    let rows = (await call('GET', '/queries')).body;
    expect(rows[0].cost).toBeCloseTo((1000 * 0.0025 + 500 * 0.01) / 1000, 12);
    // A fine-tuned model is never shortened to a snapshot's name; without fine-tuned rates it falls back to its base, marked.
    expect(rows[1]).toMatchObject({ pricedAtBaseModel: 'gpt-4o', cost: expect.closeTo((1000 * 0.0025 + 500 * 0.01) / 1000, 12) });
    expect((await call('GET', '/usage')).body.unpricedQueries).toBe(0);
    await call('POST', '/model/gpt-4o-2024-08-06', price('2024-08-06T00:00:00Z', 1, 1));
    rows = (await call('GET', '/queries')).body;
    expect(rows[0].cost).toBeCloseTo(1.5, 12);
  });

  it('charges cached prompt tokens at their own rate when the price has one', async () => {
    await call('POST', '/model/gpt-4o', { ...price('2024-01-01T00:00:00Z', 0.0025, 0.01), per1KCachedQueryTokens: 0.00125 });
    await h.proxy.store.recordQuery(aQuery({ at: '2024-09-01T00:00:00Z', model: 'gpt-4o', cachedTokens: 400 }));
    const [row] = (await call('GET', '/queries')).body;
    expect(row.cost).toBeCloseTo((600 * 0.0025 + 400 * 0.00125 + 500 * 0.01) / 1000, 12);
  });
});

describe('GET /usage and /queries', () => {
  beforeEach(async () => {
    await call('POST', '/model/gpt-4-1106-preview', price('2020-01-01T00:00:00Z', 0.01, 0.03));
    const store = h.proxy.store;
    await store.recordQuery(aQuery({ at: '2024-01-24T13:00:00Z', user: 'adam' }));
    await store.recordQuery(aQuery({ at: '2024-01-24T13:50:00Z', user: 'adam', promptTokens: 10, completionTokens: 20 }));
    await store.recordQuery(aQuery({ at: '2024-01-24T14:00:00Z', user: 'eve', promptTokens: 1, completionTokens: 2 }));
    await store.recordQuery(aQuery({ at: '2024-01-24T15:00:00Z', user: 'eve', status: 429, outcome: 'upstream_error', promptTokens: 0, completionTokens: 0 }));
  });

  it('sums successful calls only, with the average cost per query', async () => {
    const { body } = await call('GET', '/usage');
    expect(body).toMatchObject({ numQueries: 3, queryTokens: 1011, answerTokens: 522 });
    expect(body.cost).toBeCloseTo((1011 * 0.01 + 522 * 0.03) / 1000, 12);
    expect(body.averageCostPerQuery).toBeCloseTo(body.cost / 3, 12);
    expect((await call('GET', '/usage?status=all')).body.numQueries).toBe(4);
    expect((await call('GET', '/usage?status=error')).body.numQueries).toBe(1);
  });

  it('filters by user and exclusive time bounds in every zone form', async () => {
    expect((await call('GET', '/usage?user=adam')).body.numQueries).toBe(2);
    // 14:50+01 is 13:50Z: exclusive, so the 13:50 query is not "after".
    expect((await call('GET', '/usage?user=adam&after=2024-01-24T14:50%2B01')).body.numQueries).toBe(0);
    expect((await call('GET', '/usage?after=2024-01-24T13:49:59.999Z')).body.numQueries).toBe(2);
    expect((await call('GET', '/usage?before=2024-01-24T14:00:00%2B00:00')).body.numQueries).toBe(2);
    expect((await call('GET', '/usage?after=2024-01-24T14:00%2B0100&before=2024-01-24T15:00%2B0100')).body.numQueries).toBe(1);
    const rows = (await call('GET', '/queries?user=eve&status=all')).body;
    expect(rows.map((r: { status: number }) => r.status)).toEqual([200, 429]);
  });

  it('answers 0, not NaN, as the average when nothing matches', async () => {
    const { body } = await call('GET', '/usage?after=2030-01-01T00:00:00Z');
    expect(body).toEqual({
      numQueries: 0,
      queryTokens: 0,
      answerTokens: 0,
      cost: 0,
      averageCostPerQuery: 0,
      cachedQueryTokens: 0,
      reasoningTokens: 0,
      unpricedQueries: 0,
      estimatedQueries: 0,
      tierFallbackQueries: 0,
    });
  });

  it("lists queries oldest first with the original's fields first", async () => {
    const rows = (await call('GET', '/queries')).body;
    expect(rows).toHaveLength(3);
    expect(Object.keys(rows[0]).slice(0, 6)).toEqual(['user', 'model', 'timestamp', 'queryTokens', 'answerTokens', 'cost']);
    expect(rows.map((r: { timestamp: string }) => r.timestamp)).toEqual(['2024-01-24T13:00:00.000Z', '2024-01-24T13:50:00.000Z', '2024-01-24T14:00:00.000Z']);
  });

  it('pages with limit and offset', async () => {
    const page = (await call('GET', '/queries?limit=1&offset=1')).body;
    expect(page).toHaveLength(1);
    expect(page[0].timestamp).toBe('2024-01-24T13:50:00.000Z');
    expect((await call('GET', '/queries?offset=2')).body).toHaveLength(1);
  });

  it.each([
    ['/usage?after=2024-01-24T14:50', 'after'],
    ['/usage?before=tomorrow', 'before'],
    ['/queries?after=2024-01-24', 'after'],
    ['/queries?limit=-1', 'limit'],
    ['/usage?usr=adam', 'usr'],
    ['/usage?user=adam&user=eve', 'user'],
  ])('rejects %s with 400 naming %s', async (path, name) => {
    const res = await call('GET', path);
    expect(res.status).toBe(400);
    expect(res.body.message).toContain(name);
  });

  it('answers 404 for an unknown user', async () => {
    for (const path of ['/usage?user=nobody', '/queries?user=nobody']) {
      const res = await call('GET', path);
      expect(res.status).toBe(404);
      expect(res.body.message).toContain('nobody');
    }
  });

  it('streams large result sets across batches in order', async () => {
    const store = h.proxy.store;
    const base = Date.parse('2025-01-01T00:00:00Z');
    for (let i = 0; i < 2500; i++) await store.recordQuery(aQuery({ at: new Date(base + i * 1000).toISOString(), user: 'bulk', promptTokens: i }));
    const rows = (await call('GET', '/queries?user=bulk')).body as { queryTokens: number }[];
    expect(rows).toHaveLength(2500);
    expect(rows.every((r, i) => r.queryTokens === i)).toBe(true);
  });
});

describe('unknown routes', () => {
  it('answer 404 with JSON', async () => {
    const res = await call('GET', '/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.message).toContain('/nothing-here');
  });
});
