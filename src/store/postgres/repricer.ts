import type pg from 'pg';
import { baseModelName } from '../../accounting/model-names.js';
import { MODEL_ROWS, REPRICE_ASSIGNMENT } from '../sql/pricing-sql.js';
import { INTENT_LOCK_CLASS, LOCK_MODELS_EXCLUSIVE, LOCK_REPRICE } from './advisory-locks.js';
import { recomputeModelRollup } from './pg-rollup.js';
import { runNamed } from './statements.js';

/**
 * Re-pricing as a durable intent. Storing a price and recording which rows it
 * re-prices happen in one transaction (`recordIntent`); the re-pricing itself
 * then runs window by window, each window's transaction also moving the
 * intent's progress on, and the intent is deleted with the last window. A
 * process killed half way leaves the intent behind, and whichever instance
 * looks next (at start-up, or on its periodic sweep) finishes it: a price is
 * never stored without the rows it covers being re-priced.
 *
 * While an instance works an intent it holds a session advisory lock on it, so
 * two instances never work the same one, and the server releases the lock the
 * moment that instance's connection goes (kill -9 included).
 *
 * The windows do not hold the model's pricing lock: once the price is
 * committed, every insert prices itself correctly, so only rows that existed
 * before need re-pricing, and no call waits for them. Re-pricing statements
 * serialise among themselves per base model (LOCK_REPRICE), so two re-prices
 * touching the same rows cannot interleave and leave the older price behind.
 * Each window recomputes the usage rollup rows its rows count in, in the same
 * transaction (pg-rollup.ts), so /usage and the rows always agree; for that
 * step only, after its rows are re-priced, it takes the model's pricing lock,
 * so no insert of the model adds to the rollup rows being recomputed.
 */
export interface RepriceOptions {
  /** Ids per window: one transaction each. */
  window: number;
}

interface IntentRow {
  id: number;
  model: string;
  from_ts: number;
  until_ts: number | null;
  next_id: number;
  last_id: number;
}

const rangeWhere = (until: number | null) => `${MODEL_ROWS} AND ts > @from${until === null ? '' : ' AND ts <= @until'}`;

export class PostgresRepricer {
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: RepriceOptions,
  ) {}

  /**
   * Inside the transaction that stores a price of `model` valid over (from, until]:
   * records the re-price of every row that exists now (later rows are priced
   * by the new price as they are inserted). Returns the intent's id. Cheap
   * (one index lookup), since this transaction holds the model's pricing lock.
   */
  async recordIntent(client: pg.ClientBase, model: string, from: number, until: number | null): Promise<number> {
    const { rows } = await runNamed<{ id: number }>(
      client,
      `INSERT INTO reprice_intents (model, from_ts, until_ts, next_id, last_id, created_at)
       SELECT @model, @from, @until, 0, COALESCE(MAX(id), 0), @now FROM queries RETURNING id`,
      { model, from, until, now: Date.now() },
    );
    return rows[0].id;
  }

  /** Works the intent to its end; if another instance is on it, waits for that one to finish it. */
  async finish(id: number): Promise<void> {
    await this.withIntentLock(id, 'wait', (client) => this.work(client, id));
  }

  /** Stops work after the current window (closing): what is left stays recorded for the next instance. */
  stop(): void {
    this.stopped = true;
  }

  /** Finishes every intent nobody is working on (left by a crash or a lost connection). */
  async resumeAbandoned(): Promise<number> {
    const { rows } = await this.pool.query<{ id: number }>('SELECT id FROM reprice_intents ORDER BY id');
    let resumed = 0;
    for (const { id } of rows) {
      if (await this.withIntentLock(id, 'skip', (client) => this.work(client, id))) resumed++;
    }
    return resumed;
  }

  private async withIntentLock(id: number, busy: 'wait' | 'skip', work: (client: pg.PoolClient) => Promise<void>): Promise<boolean> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      if (busy === 'wait') {
        await client.query('SELECT pg_advisory_lock($1, $2::int)', [INTENT_LOCK_CLASS, id]);
      } else {
        const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2::int) AS got', [INTENT_LOCK_CLASS, id]);
        if (!rows[0].got) return false;
      }
      try {
        await work(client);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, $2::int)', [INTENT_LOCK_CLASS, id]);
      }
      return true;
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** Re-prices the intent's rows window by window, from where it was left. */
  private async work(client: pg.PoolClient, id: number): Promise<void> {
    while (!this.stopped) {
      const { rows } = await client.query<IntentRow>('SELECT * FROM reprice_intents WHERE id = $1', [id]);
      const intent = rows[0];
      if (!intent) return;
      const params = { model: intent.model, from: intent.from_ts, until: intent.until_ts };
      const where = rangeWhere(intent.until_ts);
      if (intent.next_id === 0) {
        // First step: skip to the intent's first row, found now rather than under the model's lock.
        const { rows: span } = await runNamed<{ lo: number | null }>(client, `SELECT MIN(id) AS lo FROM queries WHERE ${where} AND id <= @last`, {
          ...params,
          last: intent.last_id,
        });
        const lo = span[0].lo ?? intent.last_id + 1;
        await client.query('UPDATE reprice_intents SET next_id = $2 WHERE id = $1', [id, Math.max(lo, 1)]);
        continue;
      }
      const hi = Math.min(intent.next_id + this.opts.window - 1, intent.last_id);
      const done = hi >= intent.last_id;
      await inTransactionOn(client, async () => {
        await runNamed(client, LOCK_REPRICE, { models: [baseModelName(intent.model)] });
        if (intent.next_id <= hi) {
          const { rows: span } = await runNamed<{ first: number | null; last: number | null }>(
            client,
            `WITH repriced AS (UPDATE queries SET ${REPRICE_ASSIGNMENT} WHERE ${where} AND id >= @lo AND id <= @hi RETURNING ts)
             SELECT MIN(ts) AS first, MAX(ts) AS last FROM repriced`,
            { ...params, lo: intent.next_id, hi },
          );
          const { first, last } = span[0];
          if (first !== null && last !== null) {
            await runNamed(client, LOCK_MODELS_EXCLUSIVE, { models: [intent.model] });
            await recomputeModelRollup(client, intent.model, first, last);
          }
        }
        if (done) await client.query('DELETE FROM reprice_intents WHERE id = $1', [id]);
        else await client.query('UPDATE reprice_intents SET next_id = $2 WHERE id = $1', [id, hi + 1]);
      });
      if (done) return;
    }
  }
}

/** BEGIN/COMMIT on a client the caller holds (the intent's lock lives on it). */
async function inTransactionOn(client: pg.PoolClient, work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await work();
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
