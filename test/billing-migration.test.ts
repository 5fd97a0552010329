import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import { SQLITE_MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { QueryRow, Store } from '../src/store/types.js';
import { describePostgres } from './support/each-store.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/**
 * A ledger written by the version before issue 14 (its last schema step), then
 * opened by this one: the rows keep their facts and costs, read the new
 * details as 0, fine-tuned rows get their base names, and an older binary's
 * INSERT (without the new columns) still works beside the new one.
 */
const TS = Date.UTC(2025, 0, 10);
const OLD_COLUMNS = `ts, user_name, endpoint, requested_model, model, base_model, status, outcome, duration_ms, prompt_tokens,
  completion_tokens, cached_tokens, reasoning_tokens, streamed, estimated, priced, cost`;
const oldRow = (model: string, cost: number) =>
  `(${TS}, 'ada', '/v1/chat/completions', '${model}', '${model}', '${model}', 200, 'ok', 5, 1000, 200, 0, 0, 0, 0, ${cost > 0 ? 1 : 0}, ${cost})`;
const OLD_ROWS = `INSERT INTO queries (${OLD_COLUMNS}) VALUES ${oldRow('gpt-4o', 0.0045)}, ${oldRow('ft:gpt-4o-2024-08-06:acme::x1', 0)}`;
const OLD_PRICE =
  "INSERT INTO prices (model, source, valid_from, per1k_query, per1k_answer, per1k_cached_query) VALUES ('gpt-4o', 'admin', 0, 0.0025, 0.01, NULL)";

async function expectCarriedOver(store: Store, insertAsOldBinary: () => Promise<void>) {
  const rows: QueryRow[] = [];
  for await (const batch of store.queries({ status: 'all' }, {})) rows.push(...batch);
  expect(rows.map((r) => [r.model, r.cost, r.serviceTier, r.tierFallback, r.audioPromptTokens, r.webSearchCalls])).toEqual([
    ['gpt-4o', 0.0045, null, false, 0, 0],
    ['ft:gpt-4o-2024-08-06:acme::x1', 0, null, false, 0, 0],
  ]);
  // A price of the base model now reaches the fine-tuned rows recorded before: (1000 × 0.003 + 200 × 0.012) / 1000.
  await store.putPrice('gpt-4o', { validFrom: 0, per1KQueryTokens: 0.003, per1KAnswerTokens: 0.012, per1KCachedQueryTokens: null }, 'admin');
  const after: QueryRow[] = [];
  for await (const batch of store.queries({ status: 'all' }, {})) after.push(...batch);
  expect(after.map((r) => [r.cost, r.pricedAtBaseModel])).toEqual([
    [expect.closeTo(0.0054, 12), null],
    [expect.closeTo(0.0054, 12), 'gpt-4o'],
  ]);
  await insertAsOldBinary();
  const last: QueryRow[] = [];
  for await (const batch of store.queries({ status: 'all' }, {})) last.push(...batch);
  expect(last.map((r) => [r.model, r.serviceTier, r.cacheWriteTokens])).toEqual([
    ['gpt-4o', null, 0],
    ['ft:gpt-4o-2024-08-06:acme::x1', null, 0],
    ['gpt-4o', null, 0],
  ]);
}

describe('the billing columns on an SQLite ledger of the previous version', () => {
  let dir: string;
  let store: Store | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'oap-billing-migration-'));
  });
  afterEach(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('are added without changing a row, and an older binary can still insert', async () => {
    const path = join(dir, 'queries.db');
    const before = new Database(path);
    // The billing schema is the last two steps: its DDL, then naming the fine-tuned rows.
    const previous = SQLITE_MIGRATIONS.length - 2;
    for (const step of SQLITE_MIGRATIONS.slice(0, previous)) {
      if (typeof step === 'string') before.exec(step);
      else if (typeof step === 'function') step(before);
      else before.exec(step.ddl);
    }
    before.exec(`CREATE TABLE proxy_schema (version INTEGER NOT NULL); INSERT INTO proxy_schema VALUES (${previous}); ${OLD_ROWS}; ${OLD_PRICE}`);
    before.close();
    store = await openSqliteStore({ path });
    await expectCarriedOver(store, async () => {
      const old = new Database(path);
      old.exec(`INSERT INTO queries (${OLD_COLUMNS}) VALUES ${oldRow('gpt-4o', 0.0045)}`);
      old.close();
    });
  });
});

describePostgres('the billing columns on a PostgreSQL ledger of the previous version', () => {
  let db: TestDatabase;
  let store: Store | undefined;
  const sql = async (text: string) => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await store?.close();
    await db.drop();
  });

  it('are added without changing a row, and an older binary can still insert', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // The version before issue 14 stops before the billing step, the last step but one (the usage rollup comes after it).
    await migratePostgres(client, POSTGRES_MIGRATIONS.slice(0, -2));
    await client.end();
    await sql(`${OLD_ROWS}; ${OLD_PRICE}`);
    store = await openPostgresStore({ url: db.url });
    await expectCarriedOver(store, () => sql(`INSERT INTO queries (${OLD_COLUMNS}) VALUES ${oldRow('gpt-4o', 0.0045)}`));
  });
});
