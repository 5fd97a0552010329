import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseCsv } from './support/csv-reader.js';
import { describeEachStore } from './support/each-store.js';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { aQuery } from './support/query-records.js';

const DAY = 86_400_000;
/** Names with the characters CSV must quote. */
const USERS = ['adam', 'eve, the first', 'cain "the elder"'];

describeEachStore('grouped /usage and CSV exports', (store) => {
  let h: Harness;
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(h.url + path, { headers });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  const json = async (path: string) => {
    const res = await get(path);
    expect(res.status, res.text).toBe(200);
    return JSON.parse(res.text);
  };

  beforeAll(async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
    await h.proxy.store.putPrice(
      'gpt-4o-2024-08-06',
      { validFrom: 0, per1KQueryTokens: 0.0025, per1KAnswerTokens: 0.01, per1KCachedQueryTokens: null },
      'admin',
    );
    // A history over ten days around a daylight-saving change in Berlin (2024-10-27), through the store...
    const start = Date.parse('2024-10-22T00:00:00Z');
    const writes = [];
    for (let i = 0; i < 240; i++) {
      writes.push(
        h.proxy.store.recordQuery(
          aQuery({
            timestamp: start + i * ((10 * DAY) / 240) + 17,
            user: USERS[i % 3],
            model: i % 4 === 0 ? 'o3' : 'gpt-4o-2024-08-06',
            endpoint: i % 5 === 0 ? '/v1/embeddings' : '/v1/chat/completions',
            status: i % 11 === 0 ? 500 : 200,
            promptTokens: 100 + i,
            completionTokens: 10 + (i % 7),
          }),
        ),
      );
    }
    await Promise.all(writes);
    // ...and a few calls through the proxy with the official client, as a user makes them.
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', defaultHeaders: { 'x-user': 'adam' } });
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  });
  afterAll(() => h?.close());

  it('groups by user, model and endpoint, each group with the fields of /usage, summing to /usage', async () => {
    const total = await json('/usage');
    for (const field of ['user', 'model', 'endpoint']) {
      const body = await json(`/usage?groupBy=${field}`);
      expect(body.groupBy).toEqual([field]);
      expect(body.tz).toBe('UTC');
      for (const g of body.groups) expect(Object.keys(g).sort()).toEqual([field, ...Object.keys(total)].sort());
      expect(body.groups.reduce((n: number, g: { numQueries: number }) => n + g.numQueries, 0)).toBe(total.numQueries);
      expect(body.groups.reduce((n: number, g: { cost: number }) => n + g.cost, 0)).toBeCloseTo(total.cost, 9);
    }
    const byUser = await json('/usage?groupBy=user');
    expect(byUser.groups.map((g: { user: string }) => g.user).sort()).toEqual([...USERS].sort());
    const { user, cost, averageCostPerQuery, ...adam } = byUser.groups.find((g: { user: string }) => g.user === 'adam');
    const alone = await json('/usage?user=adam');
    expect({ user, ...adam }).toEqual({ user: 'adam', ...alone, cost: undefined, averageCostPerQuery: undefined });
    // Sums of floating-point costs in another order may differ in the last bit.
    expect(cost).toBeCloseTo(alone.cost, 12);
    expect(averageCostPerQuery).toBeCloseTo(alone.averageCostPerQuery, 12);
  });

  it('groups by day in a time zone, each group equal to /usage over that local day', async () => {
    const body = await json('/usage?groupBy=day&tz=Europe/Berlin&after=2024-10-22T00:00:00Z&before=2024-11-02T00:00:00Z');
    expect(body.groups.map((g: { day: string }) => g.day)).toContain('2024-10-27T00:00:00+02:00');
    expect(body.groups.map((g: { day: string }) => g.day)).toContain('2024-10-28T00:00:00+01:00');
    for (const g of body.groups) {
      const start = new Date(g.day);
      const next = body.groups[body.groups.indexOf(g) + 1]?.day ?? '2024-11-02T00:00:00+01:00';
      const after = new Date(Math.max(start.getTime() - 1, Date.parse('2024-10-22T00:00:00Z'))).toISOString();
      const before = new Date(Math.min(Date.parse(next), Date.parse('2024-11-02T00:00:00Z'))).toISOString();
      const { day: _day, ...sums } = g;
      const usage = await json(`/usage?after=${after}&before=${before}`);
      expect(sums.numQueries, g.day).toBe(usage.numQueries);
      expect(sums.cost, g.day).toBeCloseTo(usage.cost, 9);
    }
  });

  it('groups by two fields, with the filters of /usage', async () => {
    const body = await json('/usage?groupBy=day,model&user=adam&status=all');
    expect(body.groupBy).toEqual(['day', 'model']);
    const total = await json('/usage?user=adam&status=all');
    expect(body.groups.reduce((n: number, g: { numQueries: number }) => n + g.numQueries, 0)).toBe(total.numQueries);
    for (const g of body.groups) expect(g.day).toMatch(/^\d{4}-\d\d-\d\dT00:00:00Z$/);
  });

  it('answers 400 naming a bad groupBy or tz', async () => {
    for (const [query, named] of [
      ['groupBy=colour', "'colour'"],
      ['groupBy=day,hour', 'one time field'],
      ['groupBy=user,model,endpoint', 'two fields'],
      ['groupBy=user,user', "'user'"],
      ['groupBy=', 'groupBy'],
      ['groupBy=day&tz=Mars/Olympus_Mons', "'Mars/Olympus_Mons'"],
      ['tz=UTC', 'groupBy'],
    ]) {
      const res = await get(`/usage?${query}`);
      expect(res.status, query).toBe(400);
      expect(JSON.parse(res.text).message, query).toContain(named);
    }
  });

  it('exports /queries as RFC 4180 CSV with a header row, the same rows and filters as the JSON', async () => {
    const res = await get('/queries.csv?status=all');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/csv/);
    const [header, ...rows] = parseCsv(res.text);
    const listed = await json('/queries?status=all');
    expect(header).toEqual(Object.keys(listed[0]));
    expect(rows).toHaveLength(listed.length);
    expect(rows.map((r) => r[0])).toEqual(listed.map((q: { user: string }) => q.user));
    expect(rows.map((r) => Number(r[header.indexOf('cost')]))).toEqual(listed.map((q: { cost: number }) => q.cost));
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set(USERS));

    const eve = parseCsv((await get(`/queries.csv?user=${encodeURIComponent(USERS[1])}&limit=5`)).text);
    expect(eve).toHaveLength(6);
    expect(eve.slice(1).every((r) => r[0] === USERS[1])).toBe(true);
  });

  it('answers /queries and grouped /usage in CSV when asked with Accept: text/csv', async () => {
    const viaAccept = await get('/queries?status=all', { accept: 'text/csv' });
    expect(viaAccept.type).toMatch(/^text\/csv/);
    expect(viaAccept.text).toBe((await get('/queries.csv?status=all')).text);
    expect((await get('/queries?status=all', { accept: 'application/json, text/csv' })).type).toMatch(/^application\/json/);
    const grouped = await get('/usage?groupBy=user,model', { accept: 'text/csv' });
    expect(grouped.status).toBe(200);
    const [header, ...rows] = parseCsv(grouped.text);
    expect(header.slice(0, 3)).toEqual(['user', 'model', 'numQueries']);
    const asJson = await json('/usage?groupBy=user,model');
    expect(rows).toHaveLength(asJson.groups.length);
    expect(parseCsv((await get('/usage.csv?groupBy=user,model')).text)).toEqual([header, ...rows]);
  });

  it('lists the newest queries first when asked, for the dashboard', async () => {
    const oldest = await json('/queries?status=all&limit=3');
    const newest = await json('/queries?status=all&limit=3&order=newest');
    const all = await json('/queries?status=all');
    expect(newest).toEqual(all.slice(-3).reverse());
    expect(oldest).toEqual(all.slice(0, 3));
    expect(await json('/queries?status=all&limit=3&offset=3&order=newest')).toEqual(all.slice(-6, -3).reverse());
  });
});
