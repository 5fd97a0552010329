import Database from 'better-sqlite3';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RateLimitSnapshot } from '../types.js';
import { changedCatalogModels } from '../sql/catalog-changes.js';
import { namedParameter, pricedInsertSql, recordValues } from '../sql/insert-query-sql.js';
import { BATCHES_SQL, toDueBatch } from '../sql/batches-sql.js';
import { MODEL_ROWS, REPRICE_ASSIGNMENT, TIER_FALLBACK } from '../sql/pricing-sql.js';
import {
  ADD_TO_ALL_USERS_ROLLUP,
  ADD_TO_USER_ROLLUP,
  DAY_MS,
  MODEL_DAYS,
  MONTH_MS,
  RollupAdds,
  bucketOf,
  recomputeFromQueriesSql,
  recomputeMonthsFromDaysSql,
  usageFromRollupSql,
} from '../sql/usage-rollup-sql.js';
import { pagedQueries } from '../sql/paged-queries.js';
import { groupPrices, modelsWithPrices, toUsage } from '../sql/rows.js';
import {
  ALL_PRICES,
  CATALOG_PRICES,
  DELETE_CATALOG_PRICES,
  INSERT_MODEL,
  MODEL_NAMES,
  PRICES_OF_MODEL,
  UPSERT_RATE_LIMIT,
  priceParams,
  priceStatements,
} from '../sql/shared-statements.js';
import type { ModelPrices, Price, PriceSource } from '../../accounting/price.js';
import type {
  BatchJob,
  DueBatch,
  Page,
  QueryFilter,
  QueryRecord,
  QueryRow,
  RecordedQuery,
  Store,
  StoredRateLimits,
  UsageGroup,
  UsageGrouping,
  UsageSummary,
} from '../types.js';
import { readUsageGroups } from '../sql/grouped-usage-read.js';
import { importOriginalIfPresent, type ImportReport } from './import-original.js';
import { migrateSqlite } from './migrations.js';

/** Re-pricing more rows than this is split into transactions of whole days, yielding between them. */
const REPRICE_IN_ONE_GO = 20_000;
const REPRICE_WINDOW = 50_000;

/** What the priced insert returns. */
interface InsertedRow {
  cost: number;
  priced: number;
  price_fallback: number;
}

interface PendingRecord {
  query: QueryRecord;
  rateLimits?: RateLimitSnapshot;
  resolve: (recorded: RecordedQuery) => void;
  reject: (err: unknown) => void;
}

export interface SqliteStoreOptions {
  path: string;
  log?: { warn: (msg: string) => void; info: (msg: string) => void };
}

/**
 * SQLite behind the async Store interface. better-sqlite3 is synchronous, so
 * each method runs its statements without awaiting in between: no other
 * request's statements can interleave with a transaction.
 */
export async function openSqliteStore({ path, log }: SqliteStoreOptions): Promise<Store & { importReport?: ImportReport }> {
  const db = new Database(path);
  // WAL with synchronous=NORMAL: a commit survives a killed process (not a power cut) and costs tens of µs.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  let importReport: ImportReport | undefined;
  try {
    importReport = importOriginalIfPresent(db, path, () => migrateSqlite(db));
    if (importReport && log) log.info(importReport.summary);
    for (const w of importReport?.warnings ?? []) log?.warn(w);
    migrateSqlite(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return Object.assign(new SqliteStore(db), { importReport });
}

const INSERT_QUERY = `${pricedInsertSql(namedParameter)} RETURNING cost, priced, price_fallback`;
const INSERT_JOURNALED_QUERY = `${pricedInsertSql(namedParameter, '', '@journal_id')} RETURNING cost, priced, price_fallback`;

class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly knownModels = new Set<string>();
  private readonly insertQuery;
  /** Journal replays: an entry already in the table is skipped, not inserted twice. */
  private readonly insertJournaledQuery;
  private readonly insertModel;
  private readonly upsertRateLimit;
  private readonly addToAllUsers;
  private readonly addToUser;
  private readonly recordTx;
  private readonly recomputes;
  private readonly repriceDaysTx;
  private pending: PendingRecord[] = [];

  constructor(private readonly db: Database.Database) {
    this.insertQuery = db.prepare(INSERT_QUERY);
    this.insertJournaledQuery = db.prepare(INSERT_JOURNALED_QUERY);
    this.insertModel = db.prepare(INSERT_MODEL);
    this.upsertRateLimit = db.prepare(UPSERT_RATE_LIMIT);
    this.recomputes = this.prepareRecomputes();
    this.repriceDaysTx = this.repriceDaysTransaction();
    this.addToAllUsers = db.prepare(ADD_TO_ALL_USERS_ROLLUP);
    this.addToUser = db.prepare(ADD_TO_USER_ROLLUP);
    this.recordTx = db.transaction((batch: PendingRecord[]) => this.recordBatch(batch));
  }

  /**
   * The statements that record a batch of queries, inside one transaction:
   * each row priced as it is inserted, the rollups summed per row they touch,
   * and only the newest rate-limit reading (older ones would be ignored anyway).
   */
  private recordBatch(batch: PendingRecord[]): RecordedQuery[] {
    const adds = new RollupAdds();
    let newestLimits: RateLimitSnapshot | undefined;
    const recorded = batch.map(({ query, rateLimits }): RecordedQuery => {
      if (rateLimits && (!newestLimits || rateLimits.observedAt >= newestLimits.observedAt)) newestLimits = rateLimits;
      const values = recordValues(query);
      const row = this.insertOne(query, values);
      // No row: this journal entry was replayed before, and is already counted.
      if (!row) return { cost: 0, priced: false };
      adds.add(query, {
        baseModel: values.base_model as string,
        ftBaseModel: values.ft_base_model as string,
        cost: row.cost,
        priced: row.priced === 1,
        tierFallback: (row.price_fallback & TIER_FALLBACK) !== 0,
      });
      return { cost: row.cost, priced: row.priced === 1 };
    });
    for (const row of adds.allUsersRows()) this.addToAllUsers.run(row);
    for (const row of adds.userRows()) this.addToUser.run(row);
    if (newestLimits) {
      for (const kind of ['requests', 'tokens'] as const) {
        const w = newestLimits[kind];
        if (w) this.upsertRateLimit.run({ kind, maximum: w.maximum, remaining: w.remaining, reset: w.reset, observed_at: newestLimits.observedAt });
      }
    }
    return recorded;
  }

  private insertOne(q: QueryRecord, values: ReturnType<typeof recordValues>): InsertedRow | undefined {
    if (q.model !== '' && !this.knownModels.has(q.model)) {
      this.insertModel.run({ name: q.model, first_seen: q.timestamp });
      this.knownModels.add(q.model);
    }
    const row = (
      q.journalId === undefined ? this.insertQuery.get(values) : this.insertJournaledQuery.get(Object.assign(values, { journal_id: q.journalId }))
    ) as InsertedRow | undefined;
    return row;
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

  /** All of one model's rollup rows (and its snapshots'), recomputed from its rows; inside a transaction. */
  private recomputeRollupOfModel(model: string): void {
    const whole = { model, lo: Number.MIN_SAFE_INTEGER, hi: Number.MAX_SAFE_INTEGER };
    this.recomputes.recomputeDays({ span: DAY_MS, ...whole });
    this.recomputes.recomputeMonths({ span: MONTH_MS, day: DAY_MS, ...whole });
    this.recomputes.recomputeUserMonths({ span: MONTH_MS, ...whole });
  }

  /**
   * Re-prices `model`'s rows in (from, until] ∩ [lo, hi), a range of whole
   * days inside one 30-day bucket, and recomputes the rollup rows they count
   * in. The per-user 30-day rows are recomputed once the month's last chunk is
   * done: until then, only a re-price large enough to be split shows them
   * behind.
   */
  private repriceDaysTransaction() {
    const update = (bounded: boolean) =>
      this.db.prepare(`UPDATE queries SET ${REPRICE_ASSIGNMENT}
      WHERE ${MODEL_ROWS} AND ts > @from${bounded ? ' AND ts <= @until' : ''} AND ts >= @lo AND ts < @hi`);
    const updateBounded = update(true);
    const updateOpen = update(false);
    const { recomputeDays, recomputeMonths, recomputeUserMonths } = this.recomputes;
    return this.db.transaction((model: string, from: number, until: number | null, days: { lo: number; hi: number }, lastOfItsMonth: boolean) => {
      (until === null ? updateOpen : updateBounded).run({ model, from, until, ...days });
      recomputeDays({ span: DAY_MS, model, ...days });
      const month = { lo: bucketOf(days.lo, MONTH_MS), hi: bucketOf(days.lo, MONTH_MS) + MONTH_MS };
      recomputeMonths({ span: MONTH_MS, day: DAY_MS, model, ...month });
      if (lastOfItsMonth) recomputeUserMonths({ span: MONTH_MS, model, ...month });
    });
  }

  /**
   * Group commit: the queries recorded during one turn of the event loop are
   * committed together, in one transaction, at the next setImmediate. Each
   * call still resolves only once its row is committed, and none of those
   * answers has been released yet, so nothing is acknowledged early. On a busy
   * proxy this saves most of the per-call commit cost (writing the WAL).
   */
  recordQuery(query: QueryRecord, rateLimits?: RateLimitSnapshot): Promise<RecordedQuery> {
    return new Promise((resolve, reject) => {
      if (this.pending.push({ query, rateLimits, resolve, reject }) === 1) setImmediate(() => this.commitPending());
    });
  }

  private commitPending(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let results: RecordedQuery[];
    try {
      results = this.recordTx(batch);
    } catch (err) {
      // Rolled back; the model cache may name models whose insert went with it.
      this.knownModels.clear();
      if (batch.length === 1) {
        batch[0].reject(err);
        return;
      }
      // One bad row must not fail the others: each gets its own transaction and its own answer.
      for (const p of batch) {
        try {
          p.resolve(this.recordTx([p])[0]);
        } catch (oneErr) {
          this.knownModels.clear();
          p.reject(oneErr);
        }
      }
      return;
    }
    for (const [i, p] of batch.entries()) p.resolve(results[i]);
  }

  async putPrice(model: string, price: Price, source: PriceSource): Promise<void> {
    const statements = priceStatements(price);
    const params = priceParams(model, source, price);
    this.db.prepare(statements.upsert).run(params);
    this.insertModel.run({ name: model, first_seen: Date.now() });
    this.knownModels.add(model);
    const next = this.db.prepare(statements.nextFrom).get(params) as { v: number | null };
    await this.reprice(model, price.validFrom, next.v);
  }

  async replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void> {
    const stored = this.db.prepare(CATALOG_PRICES).all() as Record<string, unknown>[];
    const changed = changedCatalogModels(stored, prices);
    if (changed.length === 0) return;
    const removals = DELETE_CATALOG_PRICES.map((sql) => this.db.prepare(sql));
    const repriceModel = this.db.prepare(`UPDATE queries SET ${REPRICE_ASSIGNMENT} WHERE ${MODEL_ROWS}`);
    // One transaction with the re-pricing and the rollups: a crash cannot leave new catalog prices beside rows
    // priced by the old ones, which a restart (seeing no change) would never mend. It runs at start-up, before
    // the proxy listens, so holding the event loop is harmless.
    this.db.transaction(() => {
      for (const model of changed) {
        for (const remove of removals) remove.run({ model });
        for (const p of prices.get(model) ?? []) this.db.prepare(priceStatements(p).insert).run(priceParams(model, 'catalog', p));
      }
      for (const model of changed) {
        repriceModel.run({ model });
        this.recomputeRollupOfModel(model);
      }
    })();
  }

  /**
   * Re-prices the rows a price change of `model` covers, (from, until], the
   * model and its snapshots, and recomputes their rollup buckets in the same
   * transaction, so /usage never sees the two disagree.
   */
  private async reprice(model: string, from: number, until: number | null): Promise<void> {
    const days = this.db.prepare(MODEL_DAYS).all({
      day: DAY_MS,
      model,
      lo: bucketOf(from + 1, DAY_MS),
      hi: until === null ? Number.MAX_SAFE_INTEGER : bucketOf(until, DAY_MS) + DAY_MS,
    }) as { bucket: number; n: number }[];
    const chunks = dayChunks(days, days.reduce((sum, d) => sum + d.n, 0) <= REPRICE_IN_ONE_GO ? Infinity : REPRICE_WINDOW);
    for (const [i, chunk] of chunks.entries()) {
      // Large histories: bounded transactions with a turn of the event loop between them, so streams in flight keep flowing.
      if (i > 0) await yieldToEventLoop();
      const lastOfItsMonth = i === chunks.length - 1 || bucketOf(chunks[i + 1].lo, MONTH_MS) !== bucketOf(chunk.lo, MONTH_MS);
      this.repriceDaysTx(model, from, until, chunk, lastOfItsMonth);
    }
  }

  async getModel(name: string): Promise<ModelPrices | undefined> {
    const known = this.db.prepare('SELECT 1 FROM models WHERE name = ?').get(name);
    const prices = this.db.prepare(PRICES_OF_MODEL).all({ model: name }) as Record<string, unknown>[];
    if (!known && prices.length === 0) return undefined;
    return groupPrices(name, prices);
  }

  async listModels(): Promise<ModelPrices[]> {
    const names = this.db.prepare(`${MODEL_NAMES} ORDER BY 1`).pluck().all() as string[];
    return modelsWithPrices(names, this.db.prepare(ALL_PRICES).all() as Record<string, unknown>[]);
  }

  async rememberBatch(job: BatchJob, firstPollAt: number): Promise<void> {
    this.db.prepare(BATCHES_SQL.remember).run({ ...job, nextPollAt: firstPollAt });
  }

  async leaseDueBatch(now: number, leaseMs: number): Promise<DueBatch | undefined> {
    const row = this.db.prepare(BATCHES_SQL.leaseDue).get({ now, leaseUntil: now + leaseMs }) as Record<string, unknown> | undefined;
    return row && toDueBatch(row);
  }

  async deferBatch(id: string, nextPollAt: number, attempts: number): Promise<void> {
    this.db.prepare(BATCHES_SQL.defer).run({ id, nextPollAt, attempts });
  }

  async finishBatch(id: string, finalStatus: string, finishedAt: number): Promise<void> {
    this.db.prepare(BATCHES_SQL.finish).run({ id, finalStatus, finishedAt });
  }

  async usage(filter: QueryFilter): Promise<UsageSummary> {
    const { sql, params } = usageFromRollupSql(filter);
    return toUsage(this.db.prepare(sql).get(params) as Record<string, unknown>);
  }

  usageGroups(filter: QueryFilter, grouping: UsageGrouping): Promise<UsageGroup[]> {
    return readUsageGroups((sql, params) => this.db.prepare(sql).all(params) as Record<string, unknown>[], filter, grouping, true);
  }

  async *queries(filter: QueryFilter, page: Page): AsyncIterable<QueryRow[]> {
    yield* pagedQueries(filter, page, (sql, params) => this.db.prepare(sql).all(params) as Record<string, unknown>[]);
  }

  async userExists(name: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM queries WHERE user_name = ? LIMIT 1').get(name) !== undefined;
  }

  async rateLimits(): Promise<StoredRateLimits> {
    const rows = this.db.prepare('SELECT * FROM rate_limits').all() as Record<string, number | null | string>[];
    const out: StoredRateLimits = {};
    for (const r of rows) {
      if (r.kind === 'requests' || r.kind === 'tokens') {
        out[r.kind] = { maximum: r.maximum as number | null, remaining: r.remaining as number | null, reset: r.reset as number | null };
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.commitPending();
    this.db.close();
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
