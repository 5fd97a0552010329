import Database from 'better-sqlite3';
import type { RateLimitSnapshot } from '../types.js';
import { changedCatalogModels } from '../sql/catalog-changes.js';
import { recordValues } from '../sql/insert-query-sql.js';
import { BATCHES_SQL, toDueBatch } from '../sql/batches-sql.js';
import { TIER_FALLBACK } from '../sql/pricing-sql.js';
import { SQLITE_REPRICE_MODEL, sqliteInsertQuerySql } from './sqlite-pricing.js';
import { ADD_TO_ALL_USERS_ROLLUP, ADD_TO_USER_ROLLUP, RollupAdds, usageSql } from '../sql/usage-rollup-sql.js';
import { pagedQueries } from '../sql/paged-queries.js';
import { groupPrices, modelsWithPrices, toModelRateLimits, toUsage } from '../sql/rows.js';
import {
  ALL_PRICES,
  CATALOG_PRICES,
  DELETE_CATALOG_PRICES,
  INSERT_MODEL,
  MODEL_NAMES,
  PRICES_OF_MODEL,
  MODEL_RATE_LIMITS,
  UPSERT_MODEL_RATE_LIMIT,
  UPSERT_RATE_LIMIT,
  priceParams,
  priceStatements,
} from '../sql/shared-statements.js';
import type { ModelPrices, Price, PriceSource } from '../../accounting/price.js';
import type {
  BatchJob,
  DueBatch,
  JournaledRecord,
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
import { SqliteRepricer } from './sqlite-repricer.js';
import { SqliteAccessStore } from './sqlite-access-store.js';
import type { AccessStore } from '../access-types.js';

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
  // The pricing subquery sorts candidate prices; with temporary tables in a file each sort opened one, ~80 µs a statement.
  db.pragma('temp_store = MEMORY');
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
  return Object.assign(new SqliteStore(db, log), { importReport });
}

// Read back by rowid rather than with RETURNING, which buffered each row through a temporary table (~1.5 µs a call).
const INSERTED_ROW = 'SELECT cost, priced, price_fallback FROM queries WHERE rowid = ?';

class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly access: AccessStore;
  private readonly knownModels = new Set<string>();
  private readonly insertQuery;
  /** Journal replays: an entry already in the table is skipped, not inserted twice. */
  private readonly insertJournaledQuery;
  private readonly insertedRow;
  private readonly insertModel;
  private readonly upsertRateLimit;
  private readonly upsertModelRateLimit;
  private readonly addToAllUsers;
  private readonly addToUser;
  private readonly recordTx;
  private readonly repricer: SqliteRepricer;
  private pending: PendingRecord[] = [];

  constructor(
    private readonly db: Database.Database,
    private readonly log?: SqliteStoreOptions['log'],
  ) {
    this.access = new SqliteAccessStore(db);
    this.insertQuery = db.prepare(sqliteInsertQuerySql(false));
    this.insertJournaledQuery = db.prepare(sqliteInsertQuerySql(true));
    this.insertedRow = db.prepare(INSERTED_ROW);
    this.insertModel = db.prepare(INSERT_MODEL);
    this.upsertRateLimit = db.prepare(UPSERT_RATE_LIMIT);
    this.upsertModelRateLimit = db.prepare(UPSERT_MODEL_RATE_LIMIT);
    this.repricer = new SqliteRepricer(db);
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
    const newestByModel = new Map<string, RateLimitSnapshot>();
    const recorded = batch.map(({ query, rateLimits }): RecordedQuery => {
      if (rateLimits && (!newestLimits || rateLimits.observedAt >= newestLimits.observedAt)) newestLimits = rateLimits;
      const modelNewest = newestByModel.get(query.model);
      if (rateLimits && (!modelNewest || rateLimits.observedAt >= modelNewest.observedAt)) newestByModel.set(query.model, rateLimits);
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
    for (const [model, limits] of newestByModel) {
      for (const kind of ['requests', 'tokens'] as const) {
        const w = limits[kind];
        if (w) this.upsertModelRateLimit.run({ model, kind, maximum: w.maximum, remaining: w.remaining, reset: w.reset, observed_at: limits.observedAt });
      }
    }
    return recorded;
  }

  private insertOne(q: QueryRecord, values: ReturnType<typeof recordValues>): InsertedRow | undefined {
    if (q.model !== '' && !this.knownModels.has(q.model)) {
      this.insertModel.run({ name: q.model, first_seen: q.timestamp });
      this.knownModels.add(q.model);
    }
    const inserted =
      q.journalId === undefined ? this.insertQuery.run(values) : this.insertJournaledQuery.run(Object.assign(values, { journal_id: q.journalId }));
    // Nothing inserted: a journal entry replayed before. Inside the write transaction, the row read is the one just written.
    if (inserted.changes === 0) return undefined;
    return this.insertedRow.get(inserted.lastInsertRowid) as InsertedRow;
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
      // IMMEDIATE: with several workers on one file, the write lock is taken (waiting busy_timeout) at BEGIN, never
      // by upgrading a read snapshot another process has moved past, which fails at once with SQLITE_BUSY.
      results = this.recordTx.immediate(batch);
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
          p.resolve(this.recordTx.immediate([p])[0]);
        } catch (oneErr) {
          this.knownModels.clear();
          p.reject(oneErr);
        }
      }
      return;
    }
    for (const [i, p] of batch.entries()) p.resolve(results[i]);
  }

  /** Journal replay: the entries join the group commit of this turn, one transaction for all of them. */
  async recordJournaled(entries: JournaledRecord[]): Promise<void> {
    await Promise.all(entries.map((e) => this.recordQuery({ ...e.query, journalId: e.journalId }, e.rateLimits)));
  }

  async catchUp(): Promise<void> {
    const resumed = await this.repricer.resumeAll();
    if (resumed > 0) this.log?.info(`finished ${resumed} re-price(s) an earlier run left unfinished`);
  }

  /** The price and the re-pricing of the rows it covers, recorded in one transaction, then done day range by day range. */
  async putPrice(model: string, price: Price, source: PriceSource): Promise<void> {
    const statements = priceStatements(price);
    const params = priceParams(model, source, price);
    const intent = this.db.transaction(() => {
      this.db.prepare(statements.upsert).run(params);
      this.insertModel.run({ name: model, first_seen: Date.now() });
      const next = this.db.prepare(statements.nextFrom).get(params) as { v: number | null };
      return this.repricer.recordIntent(model, price.validFrom, next.v);
    })();
    this.knownModels.add(model);
    await this.repricer.finish(intent);
  }

  async replaceCatalogPrices(prices: Map<string, Price[]>): Promise<void> {
    const stored = this.db.prepare(CATALOG_PRICES).all() as Record<string, unknown>[];
    const changed = changedCatalogModels(stored, prices);
    if (changed.length === 0) return;
    const removals = DELETE_CATALOG_PRICES.map((sql) => this.db.prepare(sql));
    const repriceModel = this.db.prepare(SQLITE_REPRICE_MODEL);
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
        this.repricer.recomputeRollupOfModel(model);
      }
    })();
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
    const { sql, params } = usageSql(filter);
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

  async modelRateLimits(): Promise<Map<string, StoredRateLimits>> {
    return toModelRateLimits(this.db.prepare(MODEL_RATE_LIMITS).all() as Record<string, unknown>[]);
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.commitPending();
    this.db.close();
  }
}
