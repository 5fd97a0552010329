import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { baseModelName } from '../src/accounting/model-names.js';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { QueryRow, Store } from '../src/store/types.js';
import { runMigrateData } from '../src/tools/migrate-data-cli.js';
import { describePostgres } from './support/each-store.js';
import { originalCost, writeOriginalDatabase, type OriginalContents } from './support/original-database.js';
import { aQuery } from './support/query-records.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const DAY = 86_400_000;
const T = Date.UTC(2024, 0, 10);

async function migrate(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runMigrateData(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function allQueries(store: Store): Promise<Omit<QueryRow, 'id'>[]> {
  const rows: Omit<QueryRow, 'id'>[] = [];
  for await (const batch of store.queries({ status: 'all' }, {})) for (const { id: _id, ...row } of batch) rows.push(row);
  return rows;
}

/** Everything the admin API can show of a ledger. */
async function ledgerOf(store: Store) {
  return {
    queries: await allQueries(store),
    models: await store.listModels(),
    usage: await store.usage({ status: 'all' }),
    rateLimits: await store.rateLimits(),
  };
}

describePostgres('npm run migrate-data', () => {
  let dir: string;
  let pgA: TestDatabase;
  let pgB: TestDatabase;
  const stores: Store[] = [];
  const keep = <S extends Store>(s: S) => (stores.push(s), s);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oap-migrate-test-'));
    [pgA, pgB] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all([pgA.drop(), pgB.drop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** An SQLite ledger with what real use leaves: several models and users, snapshots, errors, estimates, price history, rate limits. */
  async function sqliteLedger(path: string): Promise<void> {
    const store = await openSqliteStore({ path });
    const price = (per1KQueryTokens: number, per1KAnswerTokens: number, validFrom: number, per1KCachedQueryTokens: number | null = null) => ({
      validFrom,
      per1KQueryTokens,
      per1KAnswerTokens,
      per1KCachedQueryTokens,
    });
    await store.putPrice('gpt-4o', price(0.005, 0.015, T - 30 * DAY), 'admin');
    await store.putPrice('gpt-4o', price(0.0025, 0.01, T + 5 * DAY, 0.00125), 'admin');
    await store.putPrice('gpt-4o-mini', price(0.00015, 0.0006, T - 30 * DAY), 'catalog');
    await store.putPrice(
      'gpt-4o',
      { ...price(0.00125, 0.005, T - 30 * DAY), serviceTier: 'flex', per1KAudioQueryTokens: 0.04, per1KWebSearchCalls: 10 },
      'admin',
    );
    for (let i = 0; i < 24; i++) {
      await store.recordQuery(
        aQuery({
          user: ['adam', 'eve', 'zoë'][i % 3],
          timestamp: T + (i * DAY) / 2,
          model: i === 9 ? 'ft:gpt-4o-2024-08-06:acme::m1' : ['gpt-4o-2024-08-06', 'gpt-4o-mini', 'o1-preview', ''][i % 4],
          serviceTier: [null, 'flex', 'priority'][i % 3],
          audioPromptTokens: i % 2 ? 10 : 0,
          webSearchCalls: i % 5,
          batchId: i === 3 ? 'batch_x' : null,
          requestedModel: i % 4 === 3 ? null : 'gpt-4o',
          endpoint: i % 5 === 0 ? '/v1/embeddings' : '/v1/chat/completions',
          status: i % 7 === 6 ? 429 : 200,
          outcome: i % 7 === 6 ? 'upstream_error' : 'ok',
          promptTokens: 100 + i * 37,
          completionTokens: 20 + i * 11,
          cachedTokens: i % 2 ? 64 : 0,
          reasoningTokens: i % 3 ? 0 : 5,
          streamed: i % 2 === 0,
          estimated: i % 6 === 1,
          durationMs: 50 + i,
        }),
        { observedAt: T + i, requests: { maximum: 500, remaining: 400 - i, reset: T + i + 1_000 } },
      );
    }
    await store.close();
  }

  it('copies an SQLite ledger to PostgreSQL and back, keeping every row, price and cost', async () => {
    const first = join(dir, 'first.db');
    const back = join(dir, 'back.db');
    await sqliteLedger(first);
    const original = await ledgerOf(keep(await openSqliteStore({ path: first })));
    expect(original.queries).toHaveLength(24);
    expect(original.usage.cost).toBeGreaterThan(0);

    const there = await migrate('--from', first, '--to', pgA.url);
    expect(there.err).not.toMatch(/migrate-data:/);
    expect(there.code).toBe(0);
    expect(there.out).toContain('copied 24 queries, 4 prices');
    expect(await ledgerOf(keep(await openPostgresStore({ url: pgA.url })))).toEqual(original);

    const again = await migrate(`--from=${pgA.url}`, `--to=sqlite:${back}`);
    expect(again.code).toBe(0);
    expect(await ledgerOf(keep(await openSqliteStore({ path: back })))).toEqual(original);
  });

  it("imports the original Java proxy's database into PostgreSQL, leaving the file as it was", async () => {
    const path = join(dir, 'queries.db');
    const contents: OriginalContents = {
      prices: [
        { model: 'gpt-4-1106-preview', validFrom: T - DAY, per1KQuery: 0.01, per1KAnswer: 0.03 },
        { model: 'gpt-4-1106-preview', validFrom: T + 3 * DAY, per1KQuery: 0.02, per1KAnswer: 0.04 },
        // A duplicate valid_from, as the original could leave: the newer entry wins.
        { model: 'gpt-4-1106-preview', validFrom: T + 3 * DAY, per1KQuery: 0.025, per1KAnswer: 0.05 },
        { model: 'gpt-3.5-turbo', validFrom: T - DAY, per1KQuery: 0.001, per1KAnswer: 0.002 },
      ],
      queries: [
        { user: 'adam', model: 'gpt-4-1106-preview', timestamp: T + 1_000, queryTokens: 3243, answerTokens: 1399 },
        { user: 'adam', model: 'gpt-4-1106-preview', timestamp: T + 4 * DAY, queryTokens: 1218, answerTokens: 477 },
        { user: 'eve', model: 'gpt-3.5-turbo-0125', timestamp: T + 2 * DAY, queryTokens: 500, answerTokens: 100 },
        { user: 'eve', model: 'gpt-4-1106-preview', timestamp: T - 2 * DAY, queryTokens: 10, answerTokens: 10 },
      ],
      rateLimits: [
        { type: 'requests', maximum: 500, remaining: 499, reset: Date.parse('2024-01-25T13:27:03.440Z') },
        { type: 'tokens', maximum: 500000, remaining: 486895, reset: Date.parse('2024-01-25T14:04:47.719Z') },
      ],
    };
    writeOriginalDatabase(path, contents);
    const digest = () => createHash('sha256').update(readFileSync(path)).digest('hex');
    const before = digest();

    const run = await migrate('--from', `jdbc:sqlite:${path}`, '--to', pgA.url);
    expect(run.code).toBe(0);
    expect(run.out).toContain("read the original Java proxy's database: 4 queries, 3 prices, 3 models");
    expect(run.out).toMatch(/2 prices of gpt-4-1106-preview share valid_from/);
    expect(digest()).toBe(before);

    const store = keep(await openPostgresStore({ url: pgA.url }));
    const rows = await allQueries(store);
    const expected = [...contents.queries].sort((a, b) => a.timestamp - b.timestamp);
    expect(rows.map((r) => [r.user, r.model, r.timestamp, r.promptTokens, r.completionTokens])).toEqual(
      expected.map((q) => [q.user, q.model, q.timestamp, q.queryTokens, q.answerTokens]),
    );
    for (const [i, r] of rows.entries())
      expect(r.cost, `${r.model} at ${r.timestamp}`).toBeCloseTo(originalCost(expected[i], contents.prices, baseModelName), 12);
    expect(rows.find((r) => r.model === 'gpt-3.5-turbo-0125')?.cost).toBeGreaterThan(0);
    expect((await store.getModel('gpt-4-1106-preview'))?.admin.map((p) => [p.validFrom, p.per1KQueryTokens])).toEqual([
      [T - DAY, 0.01],
      [T + 3 * DAY, 0.025],
    ]);
    expect(await store.rateLimits()).toEqual({
      requests: { maximum: 500, remaining: 499, reset: contents.rateLimits![0].reset },
      tokens: { maximum: 500000, remaining: 486895, reset: contents.rateLimits![1].reset },
    });
  });

  it('refuses to copy into a ledger that has data, and adds to it with --append', async () => {
    const path = join(dir, 'ledger.db');
    await sqliteLedger(path);
    expect((await migrate('--from', path, '--to', pgA.url)).code).toBe(0);
    const target = keep(await openPostgresStore({ url: pgA.url }));
    await target.putPrice('gpt-4o', { validFrom: T - 30 * DAY, per1KQueryTokens: 1, per1KAnswerTokens: 1, per1KCachedQueryTokens: null }, 'admin');
    const before = await ledgerOf(target);

    const refused = await migrate('--from', path, '--to', pgA.url);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('already holds a ledger (24 queries, 3 admin prices)');
    expect(refused.err).toContain('--append');
    expect(await ledgerOf(target)).toEqual(before);

    const appended = await migrate('--from', path, '--to', pgA.url, '--append');
    expect(appended.code).toBe(0);
    expect(appended.out).toContain("kept the target's own price where both had one (4)");
    const after = await ledgerOf(target);
    expect(after.queries).toHaveLength(48);
    // The copies are priced by the target's prices, so each costs what its twin already there costs.
    const costs = (qs: { cost: number }[]) => qs.map((q) => q.cost).sort((x, y) => x - y);
    expect(costs(after.queries)).toEqual(costs([...before.queries, ...before.queries]));
    expect(after.usage.cost).toBeCloseTo(2 * before.usage.cost, 10);

    // A price the target lacked arrives with an append: the target's own queries it covers are re-priced too.
    const more = join(dir, 'more.db');
    const extra = await openSqliteStore({ path: more });
    await extra.putPrice('o1-preview', { validFrom: T - DAY, per1KQueryTokens: 0.015, per1KAnswerTokens: 0.06, per1KCachedQueryTokens: null }, 'admin');
    await extra.recordQuery(aQuery({ model: 'o1-preview', timestamp: T }));
    await extra.close();
    expect((await migrate('--from', more, '--to', pgA.url, '--append')).code).toBe(0);
    const o1 = (await allQueries(target)).filter((q) => q.model === 'o1-preview');
    expect(o1).toHaveLength(13);
    for (const q of o1) expect(q.cost).toBeCloseTo((q.promptTokens * 0.015 + q.completionTokens * 0.06) / 1000, 12);
  });

  it('says what is wrong with its arguments and sources, without touching the target', async () => {
    expect((await migrate('--from', join(dir, 'x.db'))).code).toBe(2);
    expect((await migrate('--from', 'a.db', '--to', 'b.db', '--force')).err).toContain("unknown argument '--force'");
    const missing = await migrate('--from', join(dir, 'missing.db'), '--to', pgB.url);
    expect(missing).toMatchObject({ code: 1, err: expect.stringContaining('no such file') });
    const emptyPg = await migrate('--from', pgB.url, '--to', join(dir, 'out.db'));
    expect(emptyPg).toMatchObject({ code: 1, err: expect.stringContaining('holds no ledger (no proxy_schema table)') });
    const same = await migrate('--from', pgA.url, '--to', pgA.url);
    expect(same).toMatchObject({ code: 1, err: expect.stringContaining('the same database') });
    const unreachable = await migrate('--from', 'postgres://u:topsecret@127.0.0.1:1/x', '--to', join(dir, 'out.db'));
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toContain('could not connect to PostgreSQL at postgres://u:***@127.0.0.1:1/x');
    expect(unreachable.err).not.toContain('topsecret');
    expect((await migrate('--help')).out).toContain('usage: npm run migrate-data');
  });
});
