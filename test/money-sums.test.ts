import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SQLITE_BILLING_DDL } from '../src/store/sqlite/billing-migration.js';
import { SQLITE_MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { describeEachStore, describePostgres } from './support/each-store.js';
import { DatabaseSession } from './support/postgres-sessions.js';
import { startHarness, type Harness } from './support/proxy-harness.js';
import { aQuery } from './support/query-records.js';

const ROWS = 200_000;

/**
 * Money adds up the same way every time: /usage over a history large enough
 * for PostgreSQL to sum it with parallel workers gives one answer, to the
 * nano-dollar the sum of the rows' own costs, however often it is asked.
 */
describePostgres('sums of money on PostgreSQL', () => {
  let h: Harness;
  let session: DatabaseSession;
  beforeEach(async () => {
    h = await startHarness(['--prices.catalog=false'], { store: 'postgres' });
    session = await DatabaseSession.open(h.databaseUrl);
  });
  afterEach(async () => {
    await session.close();
    await h.close();
  });

  it('gives the same /usage cost on every read, equal to the sum of the rows at nano-dollar precision', async () => {
    await session.query(
      `INSERT INTO queries (ts, user_name, endpoint, requested_model, model, base_model, status, outcome, duration_ms,
         prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost)
       SELECT $1::bigint + i, 'user-' || (i % 50), '/v1/chat/completions', 'gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o-mini', 200, 'ok', 10,
         100 + i % 997, 7 + i % 13, 0, 0, 0, 0, 0, 0
       FROM generate_series(1, $2::int) AS i`,
      [Date.UTC(2024, 0, 1), ROWS],
    );
    await session.query('ANALYZE queries');
    // Prices with no exact binary form: every row's cost is a decimal a double only approximates.
    const posted = await fetch(`${h.url}/model/gpt-4o-mini`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ validFrom: '2020-01-01T00:00:00Z', per1KQueryTokens: 0.00015, per1KAnswerTokens: 0.0006 }),
    });
    expect(posted.status).toBe(200);

    const reads: number[] = [];
    for (let i = 0; i < 8; i++) reads.push((await (await fetch(`${h.url}/usage`)).json()).cost);
    expect(new Set(reads).size, `eight reads gave ${[...new Set(reads)].join(', ')}`).toBe(1);

    // Each row's cost as the exact decimal of its stored value, rounded to nano-dollars, summed exactly.
    const [{ exact }] = await session.query<{ exact: string }>('SELECT SUM(ROUND(cost::text::numeric, 9))::text AS exact FROM queries');
    expect(reads[0]).toBe(Number(exact));
  }, 120_000);

  it('shows catalog prices per 1,000 tokens as the decimals they are', async () => {
    const catalogOn = await startHarness([], { store: 'postgres' });
    try {
      const models = (await (await fetch(`${catalogOn.url}/models`)).json()) as { catalogCosts: Record<string, number | null>[] }[];
      const values = models.flatMap((m) => m.catalogCosts.flatMap((c) => [c.per1KQueryTokens, c.per1KAnswerTokens, c.per1KCachedQueryTokens]));
      const noisy = values.filter((v): v is number => typeof v === 'number' && Number(v.toPrecision(12)) !== v);
      expect(noisy).toEqual([]);
    } finally {
      await catalogOn.close();
    }
  });
});

/**
 * The same on both stores, through the store itself: totals read from
 * SQLite's rollups, from the raw rows at the edges of a range, or from
 * PostgreSQL's table are the exact sum of the rows' own costs.
 */
describeEachStore('sums of money', (store) => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(['--prices.catalog=false'], { store });
  });
  afterEach(() => h.close());

  it('adds the rows up exactly, whichever way the range is read', async () => {
    const s = h.proxy.store;
    await s.putPrice('gpt-4o-mini', { validFrom: 0, per1KQueryTokens: 0.00015, per1KAnswerTokens: 0.0006, per1KCachedQueryTokens: 0.000075 }, 'admin');
    const start = Date.UTC(2024, 0, 1);
    const DAY = 86_400_000;
    for (let batch = 0; batch < 3_000; batch += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, i) => {
          const n = batch + i;
          return s.recordQuery(
            aQuery({
              user: `u${n % 7}`,
              model: 'gpt-4o-mini',
              promptTokens: 100 + (n % 997),
              completionTokens: 7 + (n % 13),
              cachedTokens: n % 5,
              timestamp: start + Math.floor((n * DAY) / 37),
            }),
          );
        }),
      );
    }
    let exact = 0n;
    let count = 0;
    for await (const rows of s.queries({ status: 'ok' }, {})) {
      for (const r of rows) exact += BigInt(Math.round(r.cost * 1e9));
      count += rows.length;
    }
    expect(count).toBe(3_000);
    const dollars = (nanos: bigint) => Number(`${nanos / 1_000_000_000n}.${(nanos % 1_000_000_000n).toString().padStart(9, '0')}`);

    expect((await s.usage({ status: 'ok' })).cost).toBe(dollars(exact));
    // Partial days at both ends: on SQLite part rollup, part rows.
    expect((await s.usage({ status: 'ok', after: start - 1, before: start + 100 * DAY })).cost).toBe(dollars(exact));
    const byUser = await Promise.all(Array.from({ length: 7 }, (_, u) => s.usage({ status: 'ok', user: `u${u}` })));
    let perUser = 0n;
    for (const u of byUser) perUser += BigInt(Math.round(u.cost * 1e9));
    expect(perUser).toBe(exact);
  });
});

describe('an SQLite file written before costs were summed in nano-dollars', () => {
  it('is migrated by adding the column and rebuilding the rollup from the rows, and its totals are exact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oap-money-migrate-'));
    const path = join(dir, 'queries.db');
    try {
      const current = await openSqliteStore({ path });
      await current.putPrice('gpt-4o-mini', { validFrom: 0, per1KQueryTokens: 0.00015, per1KAnswerTokens: 0.0006, per1KCachedQueryTokens: null }, 'admin');
      await Promise.all(
        Array.from({ length: 500 }, (_, n) =>
          current.recordQuery(aQuery({ user: `u${n % 3}`, model: 'gpt-4o-mini', promptTokens: 100 + n, completionTokens: 7 + (n % 13) })),
        ),
      );
      await current.close();
      // Back to the schema of the version before: no cost_nanos column, no re-price intents (and none of the billing
      // schema that came after them).
      const raw = new Database(path);
      raw.exec(undoBillingSchema());
      raw.exec('ALTER TABLE usage_rollup DROP COLUMN cost_nanos; DROP TABLE reprice_intents');
      // The steps from the re-price intents on run again (later steps, such as the access tables, may rerun).
      const repriceIntents = SQLITE_MIGRATIONS.findIndex((step) => typeof step === 'string' && step.includes('CREATE TABLE reprice_intents'));
      raw.prepare('UPDATE proxy_schema SET version = ?').run(repriceIntents);
      const exact = raw.prepare('SELECT SUM(CAST(FLOOR(cost * 1000000000.0 + 0.5) AS INTEGER)) FROM queries').pluck().get() as number;
      raw.close();

      const reopened = await openSqliteStore({ path });
      try {
        expect((await reopened.usage({ status: 'ok' })).cost).toBe(exact / 1e9);
        expect((await reopened.usage({ status: 'ok', user: 'u1' })).numQueries).toBe(167);
      } finally {
        await reopened.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The statements that take the billing schema step back out of a file, last change first. */
function undoBillingSchema(): string {
  return SQLITE_BILLING_DDL.split(';\n')
    .map((ddl) => {
      const column = /^ALTER TABLE (\w+) ADD COLUMN (\w+)/.exec(ddl);
      if (column) return `ALTER TABLE ${column[1]} DROP COLUMN ${column[2]}`;
      const index = /^CREATE INDEX (\w+)/.exec(ddl);
      if (index) return `DROP INDEX ${index[1]}`;
      return `DROP TABLE ${/^\s*CREATE TABLE (\w+)/.exec(ddl)?.[1]}`;
    })
    .reverse()
    .join(';\n');
}
