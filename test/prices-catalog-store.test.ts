import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openStore } from '../src/server/open-store.js';
import type { QueryRecord, QueryRow, Store } from '../src/store/types.js';
import type { Price } from '../src/accounting/price.js';
import { describeEachStore } from './support/each-store.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const price = (per1KQueryTokens: number, validFrom = 0): Price => ({ validFrom, per1KQueryTokens, per1KAnswerTokens: 0, per1KCachedQueryTokens: null });
const query = (model: string): QueryRecord => ({
  user: 'ada',
  timestamp: Date.parse('2025-01-01T00:00:00Z'),
  durationMs: 5,
  endpoint: '/v1/embeddings',
  requestedModel: model,
  model,
  status: 200,
  outcome: 'ok',
  promptTokens: 1000,
  completionTokens: 0,
  cachedTokens: 0,
  reasoningTokens: 0,
  streamed: false,
  estimated: false,
});

describeEachStore('replaceCatalogPrices', (kind) => {
  let dir: string;
  let database: TestDatabase | undefined;
  let url: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-catalog-store-'));
    database = kind === 'postgres' ? await createTestDatabase() : undefined;
    url = database?.url ?? join(dir, 'q.db');
    store = await openStore(url, pino({ level: 'silent' }));
  });
  afterEach(async () => {
    await store.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function rows(): Promise<QueryRow[]> {
    const out: QueryRow[] = [];
    for await (const batch of store.queries({ status: 'all' }, {})) out.push(...batch);
    return out;
  }
  /** Sets a stored cost behind the store's back, to see whether a later call re-prices the row. */
  async function tamperCost(cost: number) {
    if (kind === 'sqlite') {
      const db = new Database(url);
      db.prepare('UPDATE queries SET cost = ?').run(cost);
      db.close();
      return;
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('UPDATE queries SET cost = $1', [cost]);
    await client.end();
  }

  it('re-prices only the models whose catalog prices changed', async () => {
    await store.replaceCatalogPrices(
      new Map([
        ['emb-a', [price(0.1)]],
        ['emb-b', [price(0.2)]],
      ]),
    );
    await store.recordQuery(query('emb-a'));
    await store.recordQuery(query('emb-b'));
    expect((await rows()).map((r) => r.cost)).toEqual([expect.closeTo(0.1, 12), expect.closeTo(0.2, 12)]);

    await tamperCost(9);
    // The same catalog again (a restart): no row is touched.
    await store.replaceCatalogPrices(
      new Map([
        ['emb-b', [price(0.2)]],
        ['emb-a', [price(0.1)]],
      ]),
    );
    expect((await rows()).map((r) => r.cost)).toEqual([9, 9]);

    // emb-b's price changes: only its rows are re-priced.
    await store.replaceCatalogPrices(
      new Map([
        ['emb-a', [price(0.1)]],
        ['emb-b', [price(0.3)]],
      ]),
    );
    expect((await rows()).map((r) => r.cost)).toEqual([9, expect.closeTo(0.3, 12)]);
  });

  it('a model dropped from the catalog loses its catalog price and its queries become unpriced', async () => {
    await store.replaceCatalogPrices(new Map([['emb-a', [price(0.1)]]]));
    await store.recordQuery(query('emb-a'));
    await store.replaceCatalogPrices(new Map());
    expect(await rows()).toMatchObject([{ cost: 0, priced: false }]);
    expect((await store.getModel('emb-a'))?.catalog).toEqual([]);
  });

  it('leaves admin prices alone', async () => {
    await store.putPrice('emb-a', price(0.5, Date.parse('2020-01-01T00:00:00Z')), 'admin');
    await store.replaceCatalogPrices(new Map([['emb-a', [price(0.1)]]]));
    await store.recordQuery(query('emb-a'));
    await store.replaceCatalogPrices(new Map());
    expect((await store.getModel('emb-a'))?.admin).toHaveLength(1);
    expect((await rows())[0].cost).toBeCloseTo(0.5, 12);
  });
});
