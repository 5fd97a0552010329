import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QUERY_COLUMNS, USAGE_COLUMNS, filterWhere } from '../src/store/sql/query-filter-sql.js';
import { toUsage } from '../src/store/sql/rows.js';
import { ALL_USERS_SPANS, DAY_MS, MONTH_MS, PER_USER_SPANS, planUsageParts } from '../src/store/sql/usage-rollup-sql.js';
import { SQLITE_MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { QueryFilter, Store, UsageSummary } from '../src/store/types.js';
import { aQuery, ENDPOINTS, MODELS, randomFilter, SPAN, START, STATUSES, USERS } from './support/random-usage-history.js';
import { seededRandom, type SeededRandom } from './support/seeded-random.js';

let dir: string;
let path: string;
let store: Store;
let raw: Database.Database;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oap-rollup-'));
  path = join(dir, 'queries.db');
});
afterEach(async () => {
  await store?.close();
  raw?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(): Promise<void> {
  store = await openSqliteStore({ path });
  raw = new Database(path, { readonly: true });
}

/** The plain SUM over every matching row: what the rollup must always agree with. */
function bruteForceUsage(filter: QueryFilter): UsageSummary {
  const { where, params } = filterWhere(filter);
  return toUsage(raw.prepare(`SELECT ${USAGE_COLUMNS} FROM queries ${where}`).get(params) as Record<string, unknown>);
}

/** One after another, or all at once (then the store commits them in batches). */
async function recordRandomQueries(r: SeededRandom, n: number, together = false): Promise<void> {
  const recordings: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const status = r.pick(STATUSES);
    const recording = store.recordQuery(
      aQuery({
        at: new Date(START + r.int(SPAN)).toISOString(),
        user: r.pick(USERS),
        model: r.pick(MODELS),
        endpoint: r.pick(ENDPOINTS),
        status,
        outcome: status < 400 ? 'ok' : 'upstream_error',
        promptTokens: r.int(5000),
        completionTokens: r.int(2000),
        cachedTokens: r.int(100),
        reasoningTokens: r.int(300),
        estimated: r.int(7) === 0,
      }),
    );
    if (together) recordings.push(recording);
    else await recording;
  }
  await Promise.all(recordings);
}

async function expectUsageToMatchBruteForce(r: SeededRandom, filters: number): Promise<void> {
  const checked: QueryFilter[] = [{ status: 'ok' }, { status: 'all' }, ...Array.from({ length: filters }, () => randomFilter(r))];
  for (const filter of checked) {
    const fromRollup = await store.usage(filter);
    const expected = bruteForceUsage(filter);
    const { cost, ...counts } = fromRollup;
    const { cost: expectedCost, ...expectedCounts } = expected;
    expect(counts, JSON.stringify(filter)).toEqual(expectedCounts);
    expect(Math.abs(cost - expectedCost), JSON.stringify(filter)).toBeLessThanOrEqual(1e-9 * Math.max(1, expectedCost));
  }
}

const price = (validFrom: string, q: number, a: number, cached: number | null = null) => ({
  validFrom: Date.parse(validFrom),
  per1KQueryTokens: q,
  per1KAnswerTokens: a,
  per1KCachedQueryTokens: cached,
});

describe('usage rollups', () => {
  it('answer /usage exactly as a SUM over every row would, across random filters', async () => {
    await open();
    const r = seededRandom(1);
    await store.putPrice('gpt-4o', price('2023-06-01T00:00:00Z', 0.005, 0.015), 'admin');
    await store.putPrice('gpt-4o-mini', price('2024-03-10T12:00:00Z', 0.00015, 0.0006), 'admin');
    await recordRandomQueries(r, 3000);
    const all = bruteForceUsage({ status: 'all' });
    expect(all.numQueries).toBe(3000);
    expect(all.cost).toBeGreaterThan(0);
    expect(all.unpricedQueries).toBeGreaterThan(0);
    await expectUsageToMatchBruteForce(r, 300);
  });

  it('stay exact when many queries are committed in one transaction', async () => {
    await open();
    const r = seededRandom(8);
    await store.putPrice('gpt-4o', price('2024-02-01T00:00:00Z', 0.005, 0.015), 'admin');
    await recordRandomQueries(r, 2000, true);
    await recordRandomQueries(r, 500, true);
    expect(bruteForceUsage({ status: 'all' }).numQueries).toBe(2500);
    await expectUsageToMatchBruteForce(r, 200);
  });

  it('stay exact when prices are added, replaced, put before older queries, and come from a catalog', async () => {
    await open();
    const r = seededRandom(2);
    await recordRandomQueries(r, 2000);
    await store.putPrice('gpt-4o', price('2024-02-15T08:30:00Z', 0.005, 0.015), 'admin');
    await expectUsageToMatchBruteForce(r, 60);
    await store.putPrice('gpt-4o', price('2024-01-10T00:00:00.001Z', 0.01, 0.03, 0.002), 'admin');
    await store.putPrice('gpt-4o-2024-08-06', price('2024-04-01T00:00:00Z', 0.02, 0.06), 'admin');
    await expectUsageToMatchBruteForce(r, 60);
    await store.putPrice('gpt-4o', price('2024-02-15T08:30:00Z', 1, 2), 'admin');
    await store.replaceCatalogPrices(new Map([['o3-mini', [price('2023-01-01T00:00:00Z', 0.0011, 0.0044)]]]));
    await expectUsageToMatchBruteForce(r, 60);
    await store.replaceCatalogPrices(new Map());
    await expectUsageToMatchBruteForce(r, 60);
  });

  it('stay exact through a re-price large enough to run in several transactions', async () => {
    await open();
    const r = seededRandom(3);
    for (let i = 0; i < 26_000; i++) {
      await store.recordQuery(aQuery({ at: new Date(START + r.int(SPAN)).toISOString(), model: 'gpt-4o-mini', user: r.pick(USERS), promptTokens: r.int(900) }));
    }
    await store.putPrice('gpt-4o-mini', price('2023-01-01T00:00:00Z', 0.00015, 0.0006), 'admin');
    const usage = await store.usage({ status: 'ok' });
    expect(usage.unpricedQueries).toBe(0);
    expect(usage.cost).toBeGreaterThan(0);
    await expectUsageToMatchBruteForce(r, 40);
  });

  it('are built for rows a file already holds when it is migrated', async () => {
    const r = seededRandom(4);
    const before = new Database(path);
    before.exec(SQLITE_MIGRATIONS[0] as string);
    before.exec(`CREATE TABLE proxy_schema (version INTEGER NOT NULL); INSERT INTO proxy_schema VALUES (1);`);
    const insert = before.prepare(`INSERT INTO queries (ts, user_name, endpoint, requested_model, model, base_model, status, outcome,
      duration_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost)
      VALUES (?, ?, '/v1/chat/completions', 'gpt-4o', 'gpt-4o', 'gpt-4o', ?, 'ok', 1, ?, ?, 0, 0, 0, 0, 1, ?)`);
    before.transaction(() => {
      for (let i = 0; i < 500; i++) insert.run(START + r.int(SPAN), r.pick(USERS), r.pick(STATUSES), r.int(1000), r.int(1000), r.next());
    })();
    before.close();
    await open();
    expect(bruteForceUsage({ status: 'all' }).numQueries).toBe(500);
    await expectUsageToMatchBruteForce(r, 80);
  });

  it("are built for the original proxy's history when it is imported", async () => {
    const original = new Database(path);
    original.exec(`CREATE TABLE user (name TEXT PRIMARY KEY);
      CREATE TABLE model (name TEXT PRIMARY KEY);
      CREATE TABLE query (id INTEGER PRIMARY KEY, user_name TEXT, model_name TEXT, query_tokens INTEGER, answer_tokens INTEGER, timestamp INTEGER NOT NULL);
      CREATE TABLE cost (id INTEGER PRIMARY KEY, model_name TEXT NOT NULL, valid_from INTEGER NOT NULL, per1kquery_tokens REAL, per1kanswer_tokens REAL);
      INSERT INTO model VALUES ('gpt-4');
      INSERT INTO cost VALUES (1, 'gpt-4', ${START}, 0.03, 0.06);`);
    const insert = original.prepare('INSERT INTO query (user_name, model_name, query_tokens, answer_tokens, timestamp) VALUES (?, ?, ?, ?, ?)');
    const r = seededRandom(5);
    for (let i = 0; i < 300; i++) insert.run(r.pick(USERS), 'gpt-4', r.int(1000), r.int(1000), START - 20 * DAY_MS + r.int(SPAN));
    original.close();
    await open();
    const all = await store.usage({ status: 'all' });
    expect(all.numQueries).toBe(300);
    expect(all.unpricedQueries).toBeGreaterThan(0);
    await expectUsageToMatchBruteForce(r, 80);
  });
});

describe('planUsageParts', () => {
  it.each([
    ['all users', ALL_USERS_SPANS, 2 * DAY_MS],
    ['one user', PER_USER_SPANS, 2 * MONTH_MS],
  ])('covers a range exactly once with whole buckets, leaving only the edges to the queries table (%s)', (_, spans, edges) => {
    const r = seededRandom(6);
    for (let i = 0; i < 2000; i++) {
      const a = r.next() < 0.1 ? undefined : r.int(400 * DAY_MS);
      const b = r.next() < 0.1 ? undefined : r.int(400 * DAY_MS);
      const [from, to] = a !== undefined && b !== undefined && a > b ? [b, a] : [a, b];
      const parts = planUsageParts(from, to, spans);
      let cursor = from;
      let scanned = 0;
      for (const part of parts) {
        expect(part.from).toBe(cursor);
        if (part.source === 'rollup') {
          if (part.from !== undefined) expect(part.from % part.span).toBe(0);
          if (part.to !== undefined) expect(part.to % part.span).toBe(0);
        } else {
          scanned += part.to! - part.from!;
        }
        cursor = part.to;
      }
      expect(scanned).toBeLessThan(edges);
      if (parts.length) expect(cursor).toBe(to);
      else expect(from! >= to!).toBe(true);
    }
  });
});

describe('/queries after re-pricing', () => {
  it('lists each row with the cost /usage adds up', async () => {
    await open();
    const r = seededRandom(7);
    await recordRandomQueries(r, 200);
    await store.putPrice('gpt-4o', price('2024-03-01T00:00:00Z', 0.005, 0.015), 'admin');
    let sum = 0;
    for await (const batch of store.queries({ status: 'all' }, {})) for (const row of batch) sum += row.cost;
    const rows = raw.prepare(`SELECT ${QUERY_COLUMNS} FROM queries`).all();
    expect(rows).toHaveLength(200);
    expect(sum).toBeCloseTo((await store.usage({ status: 'all' })).cost, 9);
  });
});
