import OpenAI from 'openai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { startProxy, type RunningProxy } from '../src/server/start-proxy.js';
import { adminClient } from './support/admin-client.js';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { STAND_IN_USAGE, UpstreamStandIn } from './support/upstream-stand-in.js';

// The bundled catalog's gpt-4o price, per 1,000 tokens.
const CATALOG_GPT_4O = { query: 0.0025, cached: 0.00125, answer: 0.01 };
const chatCost = (p: { query: number; answer: number }) => (STAND_IN_USAGE.prompt_tokens * p.query + STAND_IN_USAGE.completion_tokens * p.answer) / 1000;

let h: Harness;
const admin = adminClient(() => h.url);
afterEach(async () => {
  await h?.close();
});

const client = (user = 'ada') => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'sk-caller-own-key', defaultHeaders: { 'x-user': user }, maxRetries: 0 });
const chat = (model = 'gpt-4o') => client().chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('catalog prices out of the box', () => {
  it('prices a snapshot the answer names by its undated catalog price', async () => {
    h = await startHarness();
    await chat('gpt-4o');
    const [row] = await admin.queries();
    expect(row).toMatchObject({ model: 'gpt-4o-2024-08-06', priced: true });
    expect(row.cost).toBeCloseTo(chatCost(CATALOG_GPT_4O), 12);
  });

  it('charges cached prompt tokens at the catalog cached price', async () => {
    h = await startHarness();
    await client().responses.create({ model: 'gpt-4o', input: 'hi' });
    const [row] = await admin.queries();
    expect(row).toMatchObject({ queryTokens: 40, cachedQueryTokens: 16, answerTokens: 20, reasoningTokens: 8 });
    expect(row.cost).toBeCloseTo((24 * CATALOG_GPT_4O.query + 16 * CATALOG_GPT_4O.cached + 20 * CATALOG_GPT_4O.answer) / 1000, 12);
  });

  it('GET /models shows where each price came from and flags what nobody priced', async () => {
    h = await startHarness();
    await chat('gpt-4o');
    await chat('our-local-model');
    const models = (await admin.getJson('/models')) as Record<string, any>[];
    const byName = new Map(models.map((m) => [m.name, m]));
    expect(byName.get('gpt-4o')).toMatchObject({
      costs: [],
      catalogCosts: [
        {
          validFrom: '1970-01-01T00:00:00.000Z',
          per1KQueryTokens: 0.0025,
          per1KAnswerTokens: 0.01,
          per1KCachedQueryTokens: 0.00125,
          per1KWebSearchCalls: 10,
          per1KFileSearchCalls: 2.5,
          source: 'catalog',
        },
        // OpenAI's published batch and priority rates, bundled beside the catalog's.
        { validFrom: '1970-01-01T00:00:00.000Z', serviceTier: 'batch', per1KQueryTokens: 0.00125, per1KAnswerTokens: 0.005, source: 'catalog' },
        { validFrom: '1970-01-01T00:00:00.000Z', serviceTier: 'priority', per1KQueryTokens: 0.00425, per1KAnswerTokens: 0.017, source: 'catalog' },
      ],
      priced: true,
    });
    expect(byName.get('gpt-4o-2024-08-06')).toEqual({ name: 'gpt-4o-2024-08-06', costs: [], catalogCosts: [], priced: true, pricedAs: 'gpt-4o' });
    expect(byName.get('our-local-model')).toEqual({ name: 'our-local-model', costs: [], catalogCosts: [], priced: false });
    expect(await admin.getJson('/model/our-local-model')).toMatchObject({ priced: false });
    expect(await admin.usage()).toMatchObject({ numQueries: 2, unpricedQueries: 1 });
  });
});

describe('admin prices win where they are valid', () => {
  it('an admin price covering a query re-prices it away from the catalog', async () => {
    h = await startHarness();
    await chat();
    const admin20 = { query: 0.02, answer: 0.04 };
    const model = await admin.postPrice('gpt-4o', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: admin20.query, per1KAnswerTokens: admin20.answer });
    expect(model.costs).toEqual([{ validFrom: '2020-01-01T00:00:00.000Z', per1KQueryTokens: 0.02, per1KAnswerTokens: 0.04 }]);
    // The catalog's default, batch and priority prices stay beside it.
    expect(model.catalogCosts.map((c: Record<string, unknown>) => c.serviceTier ?? 'default')).toEqual(['default', 'batch', 'priority']);
    await chat();
    const rows = await admin.queries();
    expect(rows.map((r) => r.cost)).toEqual([chatCost(admin20), chatCost(admin20)].map((c) => expect.closeTo(c, 12)));
  });

  it('a first admin price does not turn older, catalog-priced queries into $0', async () => {
    h = await startHarness();
    await chat();
    await pause(5);
    const from = new Date().toISOString();
    await pause(5);
    const adminPrice = { query: 0.02, answer: 0.04 };
    await admin.postPrice('gpt-4o', { validFrom: from, per1KQueryTokens: adminPrice.query, per1KAnswerTokens: adminPrice.answer });
    await chat();
    const [older, newer] = await admin.queries();
    expect(older.cost).toBeCloseTo(chatCost(CATALOG_GPT_4O), 12);
    expect(newer.cost).toBeCloseTo(chatCost(adminPrice), 12);
    expect(await admin.usage()).toMatchObject({ numQueries: 2, unpricedQueries: 0 });
  });

  it("an admin price on a snapshot beats its undated name's prices", async () => {
    h = await startHarness();
    const own = { query: 0.005, answer: 0.015 };
    await admin.postPrice('gpt-4o-2024-08-06', { validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: own.query, per1KAnswerTokens: own.answer });
    await chat();
    const [row] = await admin.queries();
    expect(row.cost).toBeCloseTo(chatCost(own), 12);
  });

  it('without the catalog a model nobody priced costs nothing and is counted as unpriced', async () => {
    h = await startHarness(['--prices.catalog=false']);
    await chat();
    const [row] = await admin.queries();
    expect(row).toMatchObject({ cost: 0, priced: false });
    expect(await admin.usage()).toMatchObject({ unpricedQueries: 1 });
    expect((await admin.getJson('/models')).find((m: any) => m.name === 'gpt-4o')).toBeUndefined();
  });
});

describe('prices across restarts and from a price file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oap-restart-'));
  const dbPath = join(dir, 'queries.db');
  let proxy: RunningProxy | undefined;
  const upstream = new UpstreamStandIn();

  async function start(extra: string[]) {
    const upstreamUrl = await upstream.start();
    const { config } = loadConfig({ cwd: dir, env: {}, argv: [`--forward.url=${upstreamUrl}`, `--database.url=${dbPath}`, '--server.port=0', ...extra] });
    proxy = await startProxy(config, pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() })));
    h = { url: proxy.url, close: async () => undefined } as unknown as Harness;
  }
  async function stop() {
    await proxy?.stop();
    await upstream.stop();
  }
  afterEach(async () => {
    await stop();
  });

  it('a price file replaces the catalog for its models, is shown as such, and a restart without it re-prices', async () => {
    writeFileSync(join(dir, 'prices.yaml'), 'gpt-4o:\n  per1KQueryTokens: 0.1\n  per1KAnswerTokens: 0.2\nour-local-model:\n  per1KQueryTokens: 0.001\n');
    await start(['--prices.file=prices.yaml']);
    await chat('gpt-4o');
    await chat('our-local-model');
    let [gpt, local] = await admin.queries();
    expect(gpt.cost).toBeCloseTo(chatCost({ query: 0.1, answer: 0.2 }), 12);
    expect(local.cost).toBeCloseTo((STAND_IN_USAGE.prompt_tokens * 0.001) / 1000, 12);
    const model = await admin.getJson('/model/gpt-4o');
    expect(model.catalogCosts).toEqual([{ validFrom: '1970-01-01T00:00:00.000Z', per1KQueryTokens: 0.1, per1KAnswerTokens: 0.2, source: 'file' }]);
    expect((await admin.getJson('/model/gpt-4.1')).catalogCosts[0].source).toBe('catalog');
    await stop();

    // Without the file, the bundled catalog prices gpt-4o again and our-local-model has no price.
    await start([]);
    [gpt, local] = await admin.queries();
    expect(gpt.cost).toBeCloseTo(chatCost(CATALOG_GPT_4O), 12);
    expect(local).toMatchObject({ cost: 0, priced: false });
    await stop();

    // With the catalog turned off, no catalog price is left.
    await start(['--prices.catalog=false']);
    [gpt] = await admin.queries();
    expect(gpt).toMatchObject({ cost: 0, priced: false });
    expect((await admin.getJson('/models')).filter((m: any) => m.catalogCosts.length > 0)).toEqual([]);
  });

  it('a bad price file stops start-up with a message naming the key', async () => {
    writeFileSync(join(dir, 'broken.yaml'), 'gpt-4o:\n  per1KQueryTokens: -0.1\n');
    await expect(start(['--prices.file=broken.yaml'])).rejects.toThrow(/prices\.file .*broken\.yaml: gpt-4o: per1KQueryTokens must be a number from 0 to 1000/);
    proxy = undefined;
  });
});
