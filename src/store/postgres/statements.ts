import type pg from 'pg';
import { bindPositional, toPositional, type PositionalSql } from '../sql/named-params.js';

/** A statement written with @name parameters, converted once and run as a named (prepared) statement. */
export class Statement {
  private readonly sql: PositionalSql;

  constructor(
    private readonly name: string,
    text: string,
  ) {
    this.sql = toPositional(text);
  }

  run<R extends pg.QueryResultRow = Record<string, unknown>>(db: pg.ClientBase | pg.Pool, params: Record<string, unknown> = {}) {
    return db.query<R>({ name: this.name, text: this.sql.text, values: bindPositional(this.sql, params) });
  }
}

/** Unprepared @name SQL, for statements whose text varies (filters). */
export function runNamed<R extends pg.QueryResultRow = Record<string, unknown>>(
  db: pg.ClientBase | pg.Pool,
  text: string,
  params: Record<string, unknown> = {},
) {
  const sql = toPositional(text);
  return db.query<R>(sql.text, bindPositional(sql, params));
}

/**
 * Runs `work` in one transaction on one pooled connection; a broken connection is not returned to the pool. When
 * `inDoubt` is given and COMMIT itself fails, the error it makes is thrown instead: the transaction may have committed.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, inDoubt?: (result: T, err: unknown) => Error): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    try {
      await client.query('COMMIT');
    } catch (err) {
      broken = err as Error;
      throw inDoubt ? inDoubt(result, err) : err;
    }
    return result;
  } catch (err) {
    if (!broken) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
