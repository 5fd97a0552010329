import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createPool } from '../src/store/postgres/pg-pool.js';
import { runAndCommit } from '../src/store/postgres/pipelined-commit.js';
import { openPostgresStore } from '../src/store/postgres/pg-store.js';
import { describePostgres } from './support/each-store.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

class InDoubt extends Error {
  constructor(readonly txid: string) {
    super(`in doubt: ${txid}`);
  }
}
const inDoubt = (txid: string) => new InDoubt(txid);

describePostgres('one statement and its COMMIT on a pipelining connection', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let reader: pg.Pool;
  const values = async () => (await reader.query<{ v: number }>('SELECT v FROM t ORDER BY v')).rows.map((r) => r.v);

  beforeEach(async () => {
    db = await createTestDatabase();
    pool = createPool({ url: db.url, max: 1, pipeline: true });
    reader = new pg.Pool({ connectionString: db.url, max: 2 });
    reader.on('error', () => undefined);
    await reader.query('CREATE TABLE t (v INTEGER NOT NULL CHECK (v > 0))');
  });
  afterEach(async () => {
    await pool.end();
    await reader.end();
    await db.drop();
  });

  it('has the rows committed, for every other session to see, once it resolves', async () => {
    const rows = await runAndCommit<{ v: number }>(pool, { text: 'INSERT INTO t SELECT unnest($1::int[]) RETURNING v', values: [[1, 2]] }, inDoubt);
    expect(rows.map((r) => r.v)).toEqual([1, 2]);
    expect(await values()).toEqual([1, 2]);
  });

  it('throws the refusal of a statement the server refused, not in doubt, commits nothing, and the connection serves the next one', async () => {
    const refused = await runAndCommit(pool, { text: 'INSERT INTO t SELECT unnest($1::int[])', values: [[3, -1]] }, inDoubt).catch((e) => e);
    expect(refused).toBeInstanceOf(pg.DatabaseError);
    expect((refused as pg.DatabaseError).code).toBe('23514');
    // One connection: the next statement gets the same one, outside any transaction.
    await runAndCommit(pool, { text: 'INSERT INTO t VALUES ($1)', values: [4] }, inDoubt);
    expect(await values()).toEqual([4]);
    expect(pool.totalCount).toBe(1);
  });

  it('is not in doubt when its session is ended while the statement runs: the transaction was rolled back', async () => {
    const running = runAndCommit(pool, { text: 'INSERT INTO t SELECT 5 FROM pg_sleep(30)' }, inDoubt).catch((e) => e);
    // Wait until the statement runs (the COMMIT already waits behind it), then end its session.
    for (let i = 0; i < 200; i++) {
      const { rowCount } = await reader.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'INSERT INTO t SELECT 5%' AND state = 'active'");
      if (rowCount) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await reader.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO t SELECT 5%'");
    const err = await running;
    expect(err).not.toBeInstanceOf(InDoubt);
    expect((err as pg.DatabaseError).code).toBe('57P01');
    expect(await values()).toEqual([]);
    // The broken connection was not handed out again.
    await runAndCommit(pool, { text: 'INSERT INTO t VALUES (6)' }, inDoubt);
    expect(await values()).toEqual([6]);
  });
});

describePostgres('the record function', () => {
  it('plans its statements generically, whatever the batch size', async () => {
    const db = await createTestDatabase();
    try {
      const store = await openPostgresStore({ url: db.url });
      await store.close();
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ proconfig: string[] | null }>("SELECT proconfig FROM pg_proc WHERE proname LIKE 'oap_record_queries_%'");
        expect(rows.map((r) => r.proconfig)).toEqual([['plan_cache_mode=force_generic_plan']]);
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
  });
});
