import type Database from 'better-sqlite3';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { MODEL_ROWS } from '../sql/pricing-sql.js';
import { SQLITE_REPRICE_ASSIGNMENT } from './sqlite-pricing.js';
import { DAY_MS, MODEL_DAYS, MONTH_MS, bucketOf, recomputeFromQueriesSql, recomputeMonthsFromDaysSql } from '../sql/usage-rollup-sql.js';

/** Re-pricing more rows than this is split into transactions of whole days, yielding between them. */
const REPRICE_IN_ONE_GO = 20_000;
const REPRICE_WINDOW = 50_000;

interface IntentRow {
  id: number;
  model: string;
  from_ts: number;
  until_ts: number | null;
  next_day: number;
}

/**
 * Re-pricing on SQLite, as a durable intent: the price and a row in
 * reprice_intents are written in one transaction (`recordIntent`), then the
 * rows are re-priced a range of whole days at a time, each range's
 * transaction also moving the intent on; the last one deletes it. A process
 * killed half way leaves the intent, and the next one to open the file
 * finishes it. Rollup rows are recomputed in the same transactions, so
 * /usage never sees rows and rollup disagree.
 */
export class SqliteRepricer {
  private readonly recomputes;
  private readonly chunkTx;
  private readonly working = new Map<number, Promise<void>>();

  constructor(private readonly db: Database.Database) {
    this.recomputes = this.prepareRecomputes();
    this.chunkTx = this.repriceChunkTransaction();
  }

  /** Inside the transaction that stores a price of `model` valid over (from, until]: the re-price still to do. */
  recordIntent(model: string, from: number, until: number | null): number {
    const row = this.db
      .prepare('INSERT INTO reprice_intents (model, from_ts, until_ts, next_day, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id')
      .get(model, from, until, bucketOf(from + 1, DAY_MS), Date.now()) as { id: number };
    return row.id;
  }

  /** Works the intent to its end (once per process, however many ask). */
  finish(id: number): Promise<void> {
    let work = this.working.get(id);
    if (!work) {
      work = this.work(id).finally(() => this.working.delete(id));
      this.working.set(id, work);
    }
    return work;
  }

  /** Finishes every intent an earlier run left. */
  async resumeAll(): Promise<number> {
    const ids = this.db.prepare('SELECT id FROM reprice_intents ORDER BY id').pluck().all() as number[];
    for (const id of ids) await this.finish(id);
    return ids.length;
  }

  /** All of one model's rollup rows (and its snapshots'), recomputed from its rows; inside a transaction. */
  recomputeRollupOfModel(model: string): void {
    const whole = { model, lo: Number.MIN_SAFE_INTEGER, hi: Number.MAX_SAFE_INTEGER };
    this.recomputes.recomputeDays({ span: DAY_MS, ...whole });
    this.recomputes.recomputeMonths({ span: MONTH_MS, day: DAY_MS, ...whole });
    this.recomputes.recomputeUserMonths({ span: MONTH_MS, ...whole });
  }

  private async work(id: number): Promise<void> {
    for (let first = true; ; first = false) {
      const intent = this.db.prepare('SELECT * FROM reprice_intents WHERE id = ?').get(id) as IntentRow | undefined;
      if (!intent) return;
      // Large histories: bounded transactions with a turn of the event loop between them, so streams in flight keep flowing.
      if (!first) await yieldToEventLoop();
      const days = this.db.prepare(MODEL_DAYS).all({
        day: DAY_MS,
        model: intent.model,
        lo: intent.next_day,
        hi: intent.until_ts === null ? Number.MAX_SAFE_INTEGER : bucketOf(intent.until_ts, DAY_MS) + DAY_MS,
      }) as { bucket: number; n: number }[];
      const chunks = dayChunks(days, days.reduce((sum, d) => sum + d.n, 0) <= REPRICE_IN_ONE_GO ? Infinity : REPRICE_WINDOW);
      const chunk = chunks[0];
      const next = chunks[1];
      this.chunkTx(intent, chunk, !next || bucketOf(next.lo, MONTH_MS) !== bucketOf(chunk?.lo ?? 0, MONTH_MS), next?.lo);
      if (!next) return;
    }
  }

  /** The rollup recomputes re-pricing needs, scoped to a model and its snapshots. */
  private prepareRecomputes() {
    const prepare = ({ remove, insert }: { remove: string; insert: string }) => {
      const [r, i] = [this.db.prepare(remove), this.db.prepare(insert)];
      return (params: Record<string, unknown>) => {
        r.run(params);
        i.run(params);
      };
    };
    return {
      recomputeDays: prepare(recomputeFromQueriesSql(false, 'model')),
      recomputeMonths: prepare(recomputeMonthsFromDaysSql('model')),
      recomputeUserMonths: prepare(recomputeFromQueriesSql(true, 'model')),
    };
  }

  /**
   * One step of an intent: re-prices its model's rows in (from, until] ∩
   * [lo, hi), a range of whole days inside one 30-day bucket, recomputes the
   * rollup rows they count in, and moves the intent on to `nextDay` (or
   * deletes it after its last range). The per-user 30-day rows are recomputed
   * once the month's last range is done: until then, only a re-price large
   * enough to be split shows them behind.
   */
  private repriceChunkTransaction() {
    const update = (bounded: boolean) =>
      this.db.prepare(`UPDATE queries SET ${SQLITE_REPRICE_ASSIGNMENT}
      WHERE ${MODEL_ROWS} AND ts > @from${bounded ? ' AND ts <= @until' : ''} AND ts >= @lo AND ts < @hi`);
    const updateBounded = update(true);
    const updateOpen = update(false);
    const advance = this.db.prepare('UPDATE reprice_intents SET next_day = ? WHERE id = ?');
    const remove = this.db.prepare('DELETE FROM reprice_intents WHERE id = ?');
    const { recomputeDays, recomputeMonths, recomputeUserMonths } = this.recomputes;
    return this.db.transaction((intent: IntentRow, days: { lo: number; hi: number } | undefined, lastOfItsMonth: boolean, nextDay: number | undefined) => {
      if (days) {
        const { model, from_ts: from, until_ts: until } = intent;
        (until === null ? updateOpen : updateBounded).run({ model, from, until, ...days });
        recomputeDays({ span: DAY_MS, model, ...days });
        const month = { lo: bucketOf(days.lo, MONTH_MS), hi: bucketOf(days.lo, MONTH_MS) + MONTH_MS };
        recomputeMonths({ span: MONTH_MS, day: DAY_MS, model, ...month });
        if (lastOfItsMonth) recomputeUserMonths({ span: MONTH_MS, model, ...month });
      }
      if (nextDay === undefined) remove.run(intent.id);
      else advance.run(nextDay, intent.id);
    });
  }
}

/**
 * Consecutive days grouped into [lo, hi) ranges of at most about `maxRows`
 * rows each, never splitting a day nor crossing a 30-day bucket.
 */
function dayChunks(days: { bucket: number; n: number }[], maxRows: number): { lo: number; hi: number }[] {
  const chunks: { lo: number; hi: number }[] = [];
  let rows = 0;
  for (const d of days) {
    const last = chunks[chunks.length - 1];
    if (last && rows + d.n <= maxRows && bucketOf(last.lo, MONTH_MS) === bucketOf(d.bucket, MONTH_MS)) {
      last.hi = d.bucket + DAY_MS;
      rows += d.n;
    } else {
      chunks.push({ lo: d.bucket, hi: d.bucket + DAY_MS });
      rows = d.n;
    }
  }
  return chunks;
}
